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
once, refilled at a tenth of that per second, may have ``$WORKBENCH_MAX_WAITING`` (8) jobs waiting in the
queue, and may send 20 uploads per 10 minutes; past that it gets 429 and "espera a que terminen tus
consultas", alone: the queue (64 places) stays open to everyone else. Each
refusal is one ``refused:`` line in the log. Uploads stop, with 507 and a Spanish message, while
Gradio's temp folder (uploads and served files, removed an hour after they came) holds more than
``$WORKBENCH_TEMP_BUDGET_MB`` (2,048 MB).
"""

from __future__ import annotations

import json
import logging

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
# The largest legitimate bodies: an upload (the 10 MB file cap plus the form's envelope), and any call of
# the API (texts are capped at 4,000 characters; 20 of them for the matrix, a list of candidates for
# the ranking): 1 MB is several times what a visitor can send usefully.
UPLOAD_LIMIT = 10 * MiB + 64 * 1024
CALL_LIMIT = 1 * MiB
UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
TOO_LARGE = (
    "La petición ocupa {size} y el máximo es {limit}: envía textos más cortos "
    "(o un archivo de hasta 10 MB en la subida)."
)


UNKNOWN_ENDPOINT = "No existe el punto /{name}. Los disponibles son: {names}."
BAD_CALL = 'El cuerpo debe ser JSON con una lista "data" de valores, p. ej. {"data": ["una frase", "otra"]}.'
TOO_FEW = (
    "/{name} necesita {required} valores, uno por entrada ({names}; null donde valga el de por defecto); "
    "llegaron {sent}."
)
CALL_PREFIX = "/gradio_api/call/"
# API name -> (names of its parameters, how many values a call must hold: one per input of the event,
# hidden state included, defaults too; gradio_client fills them, a raw call must); ``register_endpoints``.
ENDPOINTS: dict[str, tuple[list[str], int]] = {}


class _TooLarge(Exception):
    pass


DISK_FULL = (
    "El Space guarda ahora demasiados archivos subidos ({used} de {budget}); vuelve a intentarlo en "
    "unos minutos."
)
TEMP_BUDGET_MB = 2048  # $WORKBENCH_TEMP_BUDGET_MB: uploads and served files together, in Gradio's temp folder


class TempFolder:
    """The size of Gradio's temp folder (uploads, and the files it serves), looked at no more than
    every few seconds; the uploads let in since are added as they are declared."""

    RESCAN_S = 5.0

    def __init__(self):
        self._size, self._scanned = 0, float("-inf")

    def room_for(self, size: int) -> tuple[bool, int, int]:
        """Whether ``size`` more bytes fit the budget; also the bytes used and the budget."""
        import os
        import time

        budget = int(float(os.environ.get("WORKBENCH_TEMP_BUDGET_MB", TEMP_BUDGET_MB)) * MiB)
        if time.monotonic() - self._scanned > self.RESCAN_S:
            self._size, self._scanned = _folder_size(_upload_folder()), time.monotonic()
        if self._size + size > budget:
            return False, self._size, budget
        self._size += size
        return True, self._size, budget


def _upload_folder() -> str:
    from gradio.utils import get_upload_folder

    return get_upload_folder()


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


QUEUE_PATHS = ("/gradio_api/queue/join", CALL_PREFIX)
BUSY = "Espera a que terminen tus consultas: has enviado {count} seguidas y el máximo es {burst}."
WAITING = "Espera a que terminen tus consultas: tienes {count} en la cola y el máximo es {limit}."
MAX_WAITING = 8  # $WORKBENCH_MAX_WAITING: jobs one address may have waiting in the queue
UPLOADS_BUSY = "Has subido demasiados archivos seguidos ({count}); espera un minuto y vuelve a intentarlo."


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


def _buckets() -> tuple[Bucket, Bucket]:
    import os

    burst = int(os.environ.get("WORKBENCH_MAX_BURST", "40"))
    return Bucket(burst, burst / 10), Bucket(20, 20 / 600)  # jobs: 40 at once, 4/s; uploads: 20 per 10 min


def _max_waiting() -> int:
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
        self.jobs, self.uploads = _buckets()
        self.temp = TempFolder()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path, limit = scope["path"], body_limit(scope["path"])
        bucket = (
            self.uploads if limit == UPLOAD_LIMIT else self.jobs if path.startswith(QUEUE_PATHS) else None
        )
        if bucket is not None and (row := bucket.take(client_of(scope))) is not None:
            logger.warning("refused: %s from %s, %d in a row", path, client_of(scope), row)
            text = (
                UPLOADS_BUSY.format(count=row)
                if bucket is self.uploads
                else BUSY.format(count=row, burst=bucket.burst)
            )
            await _answer(send, 429, text)
            return
        if bucket is self.jobs and (waiting := waiting_jobs(scope, client_of(scope))) >= _max_waiting():
            logger.warning("refused: %s from %s, %d waiting in the queue", path, client_of(scope), waiting)
            await _answer(send, 429, WAITING.format(count=waiting, limit=_max_waiting()))
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, path, int(declared), limit)
            return
        if limit == UPLOAD_LIMIT:  # the temp folder as a whole stays within its budget
            fits, used, budget = self.temp.room_for(
                int(declared) if declared and declared.isdigit() else limit
            )
            if not fits:
                logger.warning(
                    "refused: an upload from %s, temp folder at %d of %d bytes",
                    client_of(scope),
                    used,
                    budget,
                )
                await _answer(send, 507, DISK_FULL.format(used=_megabytes(used), budget=_megabytes(budget)))
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

        async def watched(message):
            nonlocal started
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
        await _answer(send, 413, TOO_LARGE.format(size=_megabytes(size), limit=_megabytes(limit)))


def call_problem(name: str, body: bytes) -> tuple[int, str] | None:
    """Why a ``POST /gradio_api/call/NAME`` with ``body`` cannot run: ``(status, Spanish message)``."""
    if name not in ENDPOINTS:
        return 404, UNKNOWN_ENDPOINT.format(name=name[:60], names=", ".join(f"/{n}" for n in ENDPOINTS))
    try:
        data = json.loads(body or b"null").get("data")
    except (ValueError, AttributeError, RecursionError):
        data = None
    if not isinstance(data, list):
        return 422, BAD_CALL
    names, required = ENDPOINTS[name]
    if len(data) < required:
        return 422, TOO_FEW.format(name=name, required=required, names=", ".join(names), sent=len(data))
    return None


class _LazyConfigs(dict):
    """A session's component configs, each computed when first read; all of them when listed."""

    def __init__(self, blocks_config, ids):
        super().__init__()
        self._blocks_config, self._ids = blocks_config, ids

    def __missing__(self, key):
        value = self[key] = self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
        return value

    def __contains__(self, key) -> bool:
        return key in self._ids or super().__contains__(key)

    def items(self):
        for key in self._ids:
            if not super().__contains__(key):
                self[key]  # noqa: B018 (computes it)
        return super().items()


def lazy_session_configs() -> None:
    """Let a new session compute its components' configs when they are read, not all at its start.

    Gradio 6.31 builds, for every new session, the config of every component on the page
    (``gradio.state_holder.SessionState``): for this app ~33 ms of CPU and ~210 KB kept per session,
    before our code runs. A call without a session (``curl``, the call API) is a new session each
    time, so every such call paid it, and a client sending new sessions grew the server by ~2 GB
    before Gradio's cap of 10,000 sessions (docs/performance.md#abuse). The configs are read only by a
    deep link (``/gradio_api/deep_link``), which still gets all of them."""
    from gradio import state_holder

    session = state_holder.SessionState
    if getattr(session.__init__, "lazy_configs", False):
        return
    original = session.__init__

    class NoComponents:  # what the original reads: the default config, and no components to configure
        def __init__(self, blocks):
            self.default_config, self.blocks = blocks.default_config, {}

    def __init__(self, blocks):
        original(self, NoComponents(blocks))
        ids = [key for key in self.blocks_config.blocks if key in blocks.blocks]
        self.config_values = _LazyConfigs(self.blocks_config, ids)

    __init__.lazy_configs = True
    session.__init__ = __init__


NOT_PUBLIC = (
    "No se descarga {url}: solo se aceptan enlaces http(s) a direcciones públicas de internet, no "
    "locales ni privadas. Sube el archivo o usa un enlace público."
)
NOT_DOWNLOADED = "No se pudo descargar {url} ({reason}): comprueba el enlace o sube el archivo."
NOT_UPLOADED = (
    "El archivo {path} no se subió a este Space: súbelo antes (POST /gradio_api/upload) o envía un "
    "enlace http(s) público."
)
BAD_FILE = (
    "Lo enviado para /{name} no es un archivo: envía el objeto que devuelve la subida "
    '({{"path": ..., "meta": {{"_type": "gradio.FileData"}}}}), un enlace http(s) público, o con '
    "gradio_client, handle_file(...)."
)
BAD_VALUE = "Un valor enviado a /{name} no es válido ({reason}): revisa el tipo de cada entrada."


def spanish_input_refusals(demo) -> None:
    """Turn what Gradio refuses in a call's inputs, before our code runs, into a Spanish message and
    one ``refused:`` line: a file link to a private or loopback address (Gradio's SSRF check), a
    download that fails, a path that was never uploaded, a malformed file reference. Gradio answered
    them with ``{"error": null}`` (an MCP client: an English line) and a traceback in the log."""
    import gradio as gr

    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:  # only what a visitor sent reaches here: the inputs, before our code
            message = input_refusal(block_fn.api_name or block_fn.name, err, inputs)
            logger.warning(
                "refused: inputs of /%s: %s", block_fn.api_name, f"{type(err).__name__}: {err}"[:200]
            )
            raise gr.Error(message, print_exception=False) from None

    demo.preprocess_data = preprocess_data


def input_refusal(name: str, err: Exception, inputs) -> str:
    """The Spanish message for ``err``, raised by Gradio while taking in a call's ``inputs``."""
    import re

    text = str(err)
    urls = [
        value.get("url") or value.get("path")
        for value in inputs
        if isinstance(value, dict) and isinstance(value.get("url") or value.get("path"), str)
    ]
    url = next((u for u in urls if u.startswith(("http://", "https://"))), "el enlace")[:120]
    if re.search(r"failed validation|Unable to resolve hostname", text):
        return NOT_PUBLIC.format(url=url)
    if found := re.search(r"Status code: (\d+)", text):
        return NOT_DOWNLOADED.format(url=url, reason=f"código {found.group(1)}")
    if type(err).__name__ == "InvalidPathError":
        path = next((u for u in urls if not u.startswith(("http://", "https://"))), "")
        return NOT_UPLOADED.format(path=path[:120])
    if "FileData" in text:
        return BAD_FILE.format(name=name)
    if type(err).__name__ in ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError"):
        return NOT_DOWNLOADED.format(url=url, reason="no responde")
    return BAD_VALUE.format(name=name, reason=type(err).__name__)


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "detail": message}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
