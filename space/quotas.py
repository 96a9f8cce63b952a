"""Who may send what, per client: a token bucket of jobs and of uploads per address, how many of its jobs
wait in Gradio's queue, and the budget of Gradio's temp folder as a whole (``space.edges`` applies them
before a request is read)."""

from __future__ import annotations

MiB = 1024 * 1024
MAX_WAITING = 8  # $WORKBENCH_MAX_WAITING: jobs one address may have waiting in the queue
TEMP_BUDGET_MB = 2048  # $WORKBENCH_TEMP_BUDGET_MB: uploads and served files together, in Gradio's temp folder


class TempFolder:
    """The size of Gradio's temp folder (uploads, and the files it serves), looked at no more than
    every few seconds; the uploads let in since are added as they are declared."""

    RESCAN_S = 5.0

    def __init__(self):
        import threading

        self._size, self._scanned, self._lock = 0, float("-inf"), threading.Lock()

    def room_for(self, size: int) -> tuple[bool, int, int]:
        """Whether ``size`` more bytes fit the budget; also the bytes used and the budget. Reads the disk:
        called in a worker thread, not on the server's event loop."""
        import os
        import time

        budget = int(float(os.environ.get("WORKBENCH_TEMP_BUDGET_MB", TEMP_BUDGET_MB)) * MiB)
        with self._lock:
            if time.monotonic() - self._scanned > self.RESCAN_S:
                self._size, self._scanned = _folder_size(_upload_folder()), time.monotonic()
            if self._size + size > budget:
                return False, self._size, budget
            self._size += size
            return True, self._size, budget


def _upload_folder() -> str:
    """Gradio's temp folder, as ``gradio.utils.get_upload_folder`` names it (a test checks they agree)."""
    import os
    import tempfile
    from pathlib import Path

    return os.environ.get("GRADIO_TEMP_DIR") or str((Path(tempfile.gettempdir()) / "gradio").resolve())


def _folder_size(path: str) -> int:
    import os

    total, stack = 0, [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass  # removed meanwhile
        except OSError:
            pass
    return total


class Bucket:
    """A token bucket per client: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(self, burst: int, rate: float):
        import threading

        self.burst, self.rate, self._lock = burst, rate, threading.Lock()
        self._state: dict[str, tuple[float, float, int]] = {}  # client -> (tokens, time, sent in a row)

    def take(self, client: str) -> int | None:
        """None when ``client`` may go on; else how many it sent in a row."""
        import time

        now = time.monotonic()
        with self._lock:
            if len(self._state) > 10_000:  # forget idle clients: bounded memory under a crowd
                self._state = {k: v for k, v in self._state.items() if now - v[1] < 60}
            tokens, last, row = self._state.get(client, (self.burst, now, 0))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            row = row + 1 if tokens < self.burst else 1
            if tokens < 1:
                self._state[client] = (tokens, now, row)
                return row
            self._state[client] = (tokens - 1, now, row)
            return None


def client_of(scope) -> str:
    """The visitor's address: the first of ``X-Forwarded-For`` (a Space's proxy sets it), else the peer."""
    forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-for")
    if forwarded:
        return forwarded.split(b",")[0].strip().decode("latin-1")
    return (scope.get("client") or ("?",))[0]


def buckets() -> tuple[Bucket, Bucket]:
    import os

    burst = int(os.environ.get("WORKBENCH_MAX_BURST", "40"))
    # jobs: 40 at once, refilled at 40 per second: a script calling the API one call after another (up
    # to ~30 a second here) is never stopped; the queue's fairness is the waiting limit's job.
    # Uploads: 20 per 10 minutes.
    return Bucket(burst, float(burst)), Bucket(20, 20 / 600)


def max_waiting() -> int:
    import os

    return int(os.environ.get("WORKBENCH_MAX_WAITING", MAX_WAITING))


def waiting_jobs(scope, client: str) -> int:
    """How many of ``client``'s jobs wait in Gradio's queue (not yet running)."""
    app = scope.get("app")
    queue = getattr(app.get_blocks(), "_queue", None) if hasattr(app, "get_blocks") else None
    if queue is None:
        return 0
    count = 0
    for lane in list(queue.event_queue_per_concurrency_id.values()):
        for event in list(lane.queue):
            request = event.request
            if (
                request is not None
                and client_of({"headers": request.headers.raw, "client": request.client}) == client
            ):
                count += 1
    return count
