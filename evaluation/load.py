"""App start-up time and the running app under concurrent ``gradio_client`` users (for the benchmark).

Both start the real app (``python app.py``) in a subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
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


def start_app(env: dict | None = None, timeout: float = 600) -> tuple[subprocess.Popen, str, float]:
    """Start ``python app.py``; returns the process, its URL and the seconds until it answered."""
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def cold_start(cache: Path, env: dict | None = None) -> float:
    """Seconds from ``python app.py`` to the first answered request, with the cache folder given."""
    process, _, seconds = start_app({**(env or {}), "WORKBENCH_CACHE": str(cache)})
    stop_app(process)
    return seconds


def first_request(url: str, endpoint: str) -> float:
    """Seconds for one request with the endpoint's default inputs (the first one a visitor makes)."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    client.predict(api_name=endpoint)
    return time.perf_counter() - started


def load_test(url: str, users: int, requests_per_user: int, endpoint: str) -> dict:
    """``users`` concurrent clients, each sending ``requests_per_user`` requests; latency p50/p95, errors."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(users)]
    args = REQUESTS[endpoint]

    def user(client) -> tuple[list[float], int]:
        times, errors = [], 0
        for _ in range(requests_per_user):
            started = time.perf_counter()
            try:
                client.predict(*args, api_name=endpoint)
                times.append(time.perf_counter() - started)
            except Exception:
                errors += 1
        return times, errors

    with ThreadPoolExecutor(max_workers=users) as pool:
        results = list(pool.map(user, clients))
    times = sorted(t for ts, _ in results for t in ts)
    return {
        "endpoint": endpoint,
        "users": users,
        "requests": users * requests_per_user,
        "errors": sum(e for _, e in results),
        "p50_ms": statistics.median(times) * 1000 if times else None,
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))] * 1000 if times else None,
    }
