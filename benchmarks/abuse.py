"""A hostile but fair crowd against the running app: what reaches the server before our code runs.

Starts ``python app.py`` (built-in defaults, its log kept), then sends, over plain HTTP:

- 100 bodies of 5 MB to ``/gradio_api/call/duplicates`` (refused before they are read);
- 66 jobs at once from one client (the queue holds 64), while an innocent visitor asks for a similarity;
- 30 uploads of 9.9 MB from one client;
- calls to an unknown endpoint, with too few values, with a body that is not JSON, and a 12 MB upload;
- file references Gradio refuses before our code runs: links to a loopback or link-local address, a
  path never uploaded, a string for a file;
- 300 calls without a session (each a new one, as ``curl`` sends them).

It prints the server's RSS growth, how many answers were 503 (a full queue) or 5xx, how many tracebacks
the log holds, every refusal's status and message, and the innocent visitor's slowest answer.

    python -m benchmarks abuse [--output results/]
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.cli import Parser
from core.io import write_file_atomically
from core.models.cpu import cpu_info


def run() -> dict:
    import httpx

    from benchmarks.load import rss_mb, start_app, stop_app

    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "app.log"
        env = {
            "HF_HUB_OFFLINE": "1",
            "WORKBENCH_PREPARE": "0",
            "WORKBENCH_MAX_BURST": "40",
            "WORKBENCH_MAX_WAITING": "8",
        }
        process, url, _ = start_app(env, timeout=600, log=log)
        try:
            http = httpx.Client(base_url=url, timeout=120)
            _wait_until_ready(http)
            result = {"rss_start_mb": rss_mb(process.pid)}
            body = b'{"data": ["' + b"x" * (5 * 2**20) + b'"]}'
            statuses = [http.post("gradio_api/call/duplicates", content=body).status_code for _ in range(100)]
            result |= {"oversized": _count(statuses), "rss_after_oversized_mb": rss_mb(process.pid)}
            innocent: list[float] = []
            stop = threading.Event()

            def visitor():
                with httpx.Client(base_url=url, timeout=300) as own:
                    while not stop.is_set():
                        started = time.perf_counter()
                        event = own.post(
                            "gradio_api/call/similarity",
                            json={"data": ["Llueve en Madrid", "Hace sol en Sevilla"]},
                            headers={"X-Forwarded-For": "10.0.0.2"},
                        ).json()["event_id"]
                        own.get(f"gradio_api/call/similarity/{event}")
                        innocent.append(time.perf_counter() - started)
                        stop.wait(0.25)  # a person's pace, well under the per-address limit

            watcher = threading.Thread(target=visitor)
            watcher.start()
            flood = {"X-Forwarded-For": "10.0.0.1"}

            def job(_):
                return http.post(
                    "gradio_api/call/evaluate", json={"data": [None, False]}, headers=flood
                ).status_code

            with ThreadPoolExecutor(16) as pool:
                jobs = list(pool.map(job, range(66)))
            uploads = [
                http.post(
                    "gradio_api/upload",
                    files={"files": (f"f{i}.csv", b"text\n" + b"a" * (9_900_000))},
                    headers=flood,
                ).status_code
                for i in range(30)
            ]
            time.sleep(20)
            stop.set()
            watcher.join(timeout=300)
            probes = {
                "unknown endpoint": http.post("gradio_api/call/predict", json={"data": ["hola"]}),
                "too few values": http.post("gradio_api/call/similarity", json={"data": ["hola"]}),
                "not JSON": http.post("gradio_api/call/similarity", content=b"esto no es json"),
                "12 MB upload": http.post(
                    "gradio_api/upload", files={"files": ("g.csv", b"a" * (12 * 2**20))}
                ),
            }
            file = {"meta": {"_type": "gradio.FileData"}}
            links = {
                "file link to a loopback address": "http://127.0.0.1:9/x.csv",
                "file link to the cloud metadata address": "http://169.254.169.254/latest",
            }
            sent = {name: [file | {"path": link, "url": link}, False] for name, link in links.items()}
            sent |= {"a path never uploaded": [file | {"path": "/etc/passwd"}, False]}
            sent |= {"a string for a file": ["hola", False]}
            answers = {name: _event(http, "evaluate", data) for name, data in sent.items()}
            before = rss_mb(process.pid)
            for number in range(300):  # each a new session, as curl sends it, from many addresses
                _event(http, "about", [None], {"X-Forwarded-For": f"10.4.{number // 200}.{number % 200}"})
            result |= {"sessions_rss_mb": [before, rss_mb(process.pid)]}
            result |= {
                "flood_jobs": _count(jobs),
                "flood_uploads": _count(uploads),
                "probes": {name: [r.status_code, r.json().get("error")] for name, r in probes.items()}
                | answers,
                "innocent_requests": len(innocent),
                "innocent_slowest_s": max(innocent) if innocent else None,
                "rss_end_mb": rss_mb(process.pid),
            }
        finally:
            stop_app(process)
        text = log.read_text(encoding="utf-8", errors="replace")
        result |= {"tracebacks_in_log": text.count("Traceback"), "refused_lines": text.count("refused:")}
    return result | {"machine": cpu_info(), "date": time.strftime("%Y-%m-%d")}


def _event(http, api: str, data: list, headers: dict | None = None) -> list:
    """Send ``data`` to ``api`` over the call API: ``["event: <kind>", its error message or None]``."""
    event = http.post(f"gradio_api/call/{api}", json={"data": data}, headers=headers).json()["event_id"]
    lines = http.get(f"gradio_api/call/{api}/{event}").text.strip().splitlines()
    payload = json.loads(lines[-1].removeprefix("data: ")) if lines else None
    return [lines[-2] if len(lines) > 1 else "?", payload.get("error") if isinstance(payload, dict) else None]


def _wait_until_ready(http) -> None:
    for _ in range(600):
        event = http.post("gradio_api/call/similarity", json={"data": ["a", "b"]})
        if (
            event.status_code == 200
            and "complete" in http.get(f"gradio_api/call/similarity/{event.json()['event_id']}").text
        ):
            return
        time.sleep(1)
    raise TimeoutError("the app never answered a similarity")


def _count(statuses: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def markdown(result: dict) -> str:
    machine = result["machine"]
    lines = [
        f"Abuse probes, {result['date']}, {machine['cpu']} ({machine['cpus']} CPUs; "
        f"{', '.join(machine['vector_flags'])}), built-in model",
        "",
        "| probe | answers | note |",
        "|---|---|---|",
        f"| 100 × 5 MB bodies | {result['oversized']} | RSS {result['rss_start_mb']:.0f} → "
        f"{result['rss_after_oversized_mb']:.0f} MB |",
        f"| 66 jobs at once from one client | {result['flood_jobs']} | innocent visitor: "
        f"{result['innocent_requests']} answers, slowest {result['innocent_slowest_s']:.1f} s |",
        f"| 30 uploads of 9.9 MB from one client | {result['flood_uploads']} | |",
        f"| 300 calls without a session | 200 | RSS {result['sessions_rss_mb'][0]:.0f} → "
        f"{result['sessions_rss_mb'][1]:.0f} MB |",
    ]
    for name, (status, message) in result["probes"].items():
        lines.append(f"| {name} | {status} | {message} |")
    lines += [
        "",
        f"Server RSS at the end: {result['rss_end_mb']:.0f} MB; tracebacks in the log: "
        f"{result['tracebacks_in_log']}; `refused:` lines: {result['refused_lines']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks abuse", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=Path("results"), help="folder for abuse.json")
    args = parser.parse_args(argv)
    result = run()
    print(markdown(result))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(f"wrote {write_file_atomically(args.output / 'abuse.json', lambda handle: handle.write(text))}")
    return 0
