"""What reaches the server before our code runs: request bodies are bounded before they are read, one
client cannot fill the queue for everyone, and a call to an endpoint that does not exist, or with too few
values, is refused in Spanish.

Gradio reads a request's whole body before any handler sees it, and keeps memory from large ones (a fresh
server went from 997 to 1,527 MB after 100 bodies of 5 MB that the app then refused). ``BodyLimit`` is an
ASGI middleware in front of every route: a body declared larger than its route's limit is answered with
413 and a Spanish message without reading a byte of it; a body without a declared length is counted as
it arrives and cut at the limit. A ``POST /gradio_api/call/NAME`` for an unknown NAME is answered 404,
and one whose JSON holds no ``data`` list, or fewer values than the endpoint requires, 422, each with a
Spanish message that says what to send (Gradio answered them with a 500, ``{"error": null}`` and a
66-line traceback in the log). Each client (its address) may send ``$WORKBENCH_MAX_BURST`` (40) jobs at
once, refilled at that many per second, may have ``$WORKBENCH_MAX_WAITING`` (8) jobs waiting in the
queue, and may send 20 uploads per 10 minutes; past that it gets 429 and "espera a que terminen tus
consultas", alone: the queue (64 places) stays open to everyone else. Uploads stop, with 507 and a
Spanish message, while Gradio's temp folder (uploads and served files, removed an hour after they came)
holds more than ``$WORKBENCH_TEMP_BUDGET_MB`` (2,048 MB). The quotas themselves live in
``space.quotas``. Each refusal is one ``refused:`` line in the log.
"""

from __future__ import annotations

import json
import logging

from core import messages
from space.quotas import (
    MiB,
    TempFolder,
    buckets,
    client_of,
    max_waiting,
    waiting_jobs,
)

logger = logging.getLogger(__name__)

# The largest legitimate bodies: an upload (the 10 MB file cap plus the form's envelope), and any call of
# the API (texts are capped at 4,000 characters; 20 of them for the matrix, a list of candidates for
# the ranking): 1 MB is several times what a visitor can send usefully.
UPLOAD_LIMIT = 10 * MiB + 64 * 1024
CALL_LIMIT = 1 * MiB
UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
CALL_PREFIX = "/gradio_api/call/"
# API name -> (names of its parameters, how many values a call must hold: one per input of the event,
# hidden state included, defaults too; gradio_client fills them, a raw call must); ``register_endpoints``.
ENDPOINTS: dict[str, tuple[list[str], int]] = {}


class _TooLarge(Exception):
    pass


QUEUE_PATHS = ("/gradio_api/queue/join", CALL_PREFIX)


def register_endpoints(demo) -> None:
    """Learn the app's named endpoints and their parameters (after the Blocks are built)."""
    inputs = {
        fn.api_name: len(fn.inputs)
        for fn in (demo.fns.values() if isinstance(demo.fns, dict) else demo.fns)
        if fn.api_name
    }
    for name, endpoint in demo.get_api_info()["named_endpoints"].items():
        names = [p["parameter_name"] for p in endpoint["parameters"]]
        ENDPOINTS[name.lstrip("/")] = (names, inputs.get(name.lstrip("/"), len(names)))


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may hold."""
    return UPLOAD_LIMIT if path.rstrip("/").endswith(UPLOAD_PATHS) else CALL_LIMIT


def _megabytes(size: int) -> str:
    return f"{size / MiB:.1f} MB".replace(".", ",")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``body_limit`` with 413 before reading them."""

    def __init__(self, app):
        self.app = app
        self.jobs, self.uploads = buckets()
        self.temp = TempFolder()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path, limit = scope["path"], body_limit(scope["path"])
        bucket = (
            self.uploads if limit == UPLOAD_LIMIT else self.jobs if path.startswith(QUEUE_PATHS) else None
        )
        client = client_of(scope)
        if bucket is not None and (row := bucket.take(client)) is not None:
            logger.warning("refused: %s from %s, %d in a row", path, client, row)
            text = (
                messages.UPLOADS_BUSY.format(count=row)
                if bucket is self.uploads
                else messages.BUSY.format(count=row, burst=bucket.burst)
            )
            await _answer(send, 429, text)
            return
        if bucket is self.jobs and (waiting := waiting_jobs(scope, client)) >= (most := max_waiting()):
            logger.warning("refused: %s from %s, %d waiting in the queue", path, client, waiting)
            await _answer(send, 429, messages.WAITING.format(count=waiting, limit=most))
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, path, int(declared), limit)
            return
        if limit == UPLOAD_LIMIT:  # the temp folder as a whole stays within its budget
            import anyio

            size = int(declared) if declared and declared.isdigit() else limit
            fits, used, budget = await anyio.to_thread.run_sync(self.temp.room_for, size)
            if not fits:
                logger.warning(
                    "refused: an upload from %s, temp folder at %d of %d bytes",
                    client,
                    used,
                    budget,
                )
                await _answer(
                    send, 507, messages.DISK_FULL.format(used=_megabytes(used), budget=_megabytes(budget))
                )
                return
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        replaced = False

        async def watched(message):
            nonlocal started, replaced
            if replaced:
                return  # the framework's English body, already answered in Spanish
            if message["type"] == "http.response.start" and message["status"] == 503 and bucket is self.jobs:
                logger.warning("refused: %s from %s, the queue is full", path, client)
                started = replaced = True
                await _answer(send, 503, messages.QUEUE_FULL)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        is_call = ENDPOINTS and path.startswith(CALL_PREFIX) and "/" not in path[len(CALL_PREFIX) :]
        try:
            # A call is read here (to check it), and so is a body of undeclared length: counted past the
            # limit inside a route, it would become the framework's 400, not our 413.
            if is_call or declared is None:
                body = b""
                while True:  # bounded by ``counted``
                    message = await counted()
                    body += message.get("body", b"")
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                problem = call_problem(path[len(CALL_PREFIX) :], body) if is_call else None
                if problem is not None:
                    status, text = problem
                    logger.warning("refused: %s (%d)", path, status)
                    await _answer(send, status, text)
                    return
                replayed = [{"type": "http.request", "body": body, "more_body": False}]

                async def replay():
                    return replayed.pop() if replayed else await receive()

                await self.app(scope, replay, watched)
            else:
                await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send, path, received, limit)

    @staticmethod
    async def _refuse(send, path: str, size: int, limit: int) -> None:
        logger.warning("refused: a body of %d bytes to %s (limit %d)", size, path, limit)
        await _answer(
            send, 413, messages.BODY_TOO_LARGE.format(size=_megabytes(size), limit=_megabytes(limit))
        )


def call_problem(name: str, body: bytes) -> tuple[int, str] | None:
    """Why a ``POST /gradio_api/call/NAME`` with ``body`` cannot run: ``(status, Spanish message)``."""
    if name not in ENDPOINTS:
        return 404, messages.UNKNOWN_ENDPOINT.format(
            name=name[:60], names=", ".join(f"/{n}" for n in ENDPOINTS)
        )
    try:
        data = json.loads(body or b"null").get("data")
    except (ValueError, AttributeError, RecursionError):
        data = None
    if not isinstance(data, list):
        return 422, messages.BAD_CALL.format()
    names, required = ENDPOINTS[name]
    if len(data) < required:
        return 422, messages.TOO_FEW_VALUES.format(
            name=name, required=required, names=", ".join(names), sent=len(data)
        )
    return None


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "detail": message}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
