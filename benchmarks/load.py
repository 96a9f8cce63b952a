"""App start-up time and the running app under concurrent ``gradio_client`` users (for the benchmark).

Both start the real app (``python app.py``) in a subprocess on a free loopback port.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.paths import PROJECT_ROOT

REQUESTS = {
    "/similarity": (
        "El Gobierno aprueba los presupuestos",
        "El Ejecutivo da luz verde a las cuentas públicas",
    ),
    "/search": ("sequía y embalses", 5, "todas"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(
    env: dict | None = None, timeout: float = 600, log: Path | None = None
) -> tuple[subprocess.Popen, str, float]:
    """Start ``python app.py`` (its output into ``log`` if given); returns the process, its URL and the
    seconds until it answered."""
    port = _free_port()
    # every simulated visitor comes from this one address: the per-client limits would stop them
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "WORKBENCH_MAX_BURST": "100000",
           "WORKBENCH_MAX_WAITING": "100000", **(env or {})}  # fmt: skip
    started = time.perf_counter()
    output = log.open("w", encoding="utf-8") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    if log is not None:
        output.close()  # the child keeps its own copy
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"app.py did not answer within {timeout} s")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def cold_start(cache: Path, env: dict | None = None) -> dict:
    """Seconds from ``python app.py`` to the page being served and to the first answered similarity
    (the model loads beside the server, so the two differ), with the cache folder given."""
    started = time.perf_counter()
    process, url, page = start_app({**(env or {}), "WORKBENCH_CACHE": str(cache)})
    try:
        first_request(url, "/similarity")
        return {"page_s": page, "first_similarity_s": time.perf_counter() - started}
    finally:
        stop_app(process)


def _client(url: str):
    from gradio_client import Client

    # A loopback http:// URL has no TLS; without ssl_verify=False the client still builds two SSL
    # contexts per request (~90 ms of CPU taken from the 2 cores the server runs on).
    return Client(url, verbose=False, ssl_verify=False)


def first_request(url: str, endpoint: str) -> float:
    """Seconds for one request with the endpoint's default inputs (the first one a visitor makes)."""
    client = _client(url)
    started = time.perf_counter()
    client.predict(*REQUESTS.get(endpoint, ()), api_name=endpoint)
    return time.perf_counter() - started


# The same requests over the queue's REST route: every input of the event, hidden ones (model, state) too.
HTTP_DATA = {
    "/similarity": [*REQUESTS["/similarity"]],
    "/search": [*REQUESTS["/search"], None, "ambos", None],
}


def load_test(
    url: str, users: int, requests_per_user: int, endpoint: str, transport: str = "gradio_client"
) -> dict:
    """``users`` concurrent clients, each sending ``requests_per_user`` requests; latency p50/p95, errors.

    ``transport`` is ``gradio_client`` (``Client.predict``: queue join plus an event stream the client
    polls every 50 ms) or ``http`` (``POST /gradio_api/call/<api>`` then one streamed ``GET`` of its
    result, on a kept-alive connection: the queue's latency without the client's polling floor; the
    app refuses the direct ``/gradio_api/run`` route that skipped the queue).
    """
    if transport == "http":
        senders = [_http_sender(url, endpoint) for _ in range(users)]
    else:
        senders = [_client_sender(url, endpoint) for _ in range(users)]

    failures: list[str] = []

    def user(send) -> tuple[list[float], int]:
        times, errors = [], 0
        for _ in range(requests_per_user):
            started = time.perf_counter()
            try:
                send()
                times.append(time.perf_counter() - started)
            except Exception as err:
                errors += 1
                failures.append(f"{type(err).__name__}: {err}"[:300])
        return times, errors

    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(user, senders))
    times = sorted(t for ts, _ in results for t in ts)
    return {
        "endpoint": endpoint,
        "transport": transport,
        "users": users,
        "requests": users * requests_per_user,
        "errors": sum(e for _, e in results),
        "first_error": failures[0] if failures else None,
        "p50_ms": statistics.median(times) * 1000 if times else None,
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))] * 1000 if times else None,
    }


def _client_sender(url: str, endpoint: str):
    client = _client(url)
    return lambda: client.predict(*REQUESTS[endpoint], api_name=endpoint)


def _http_sender(url: str, endpoint: str):
    """A function sending ``send(data)`` (default ``HTTP_DATA[endpoint]``) to ``endpoint`` over the call
    API, on one kept-alive connection, and returning the result's values."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

    def send(data: list | None = None):
        body = json.dumps({"data": HTTP_DATA[endpoint] if data is None else data}).encode()
        route = f"/gradio_api/call{endpoint}"
        connection.request("POST", route, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        joined = json.loads(response.read() or b"{}")
        if response.status != 200 or "event_id" not in joined:
            raise RuntimeError(f"{endpoint}: HTTP {response.status} {joined}")
        connection.request("GET", f"{route}/{joined['event_id']}")
        lines = connection.getresponse().read().decode().strip().splitlines()
        if len(lines) < 2 or lines[-2] != "event: complete":
            raise RuntimeError(f"{endpoint}: {' '.join(lines)[:300]}")
        return json.loads(lines[-1].removeprefix("data: "))

    return send


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
