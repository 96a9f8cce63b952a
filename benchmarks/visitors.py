"""Many visitors at once, on the real app (``python app.py`` on a loopback port): the figures of the
many-visitor design, printed as a table and written as JSON.

1. Idle latency of ``/similarity`` and ``/search`` (one visitor).
2. The same while another session uploads an N-row file (default 5,000): the other session's latencies,
   their ratio to idle, and the upload's own time.
3. Server memory (RSS) over 10 rejected ~10 MB uploads, and over 50 distinct 500-row uploads.
4. 32 concurrent users on ``/similarity`` and ``/search``: errors and latency.

``python -m benchmarks.visitors [--rows 5000] [--quick]``; ``--quick`` uses 1,000 rows, 10 distinct
uploads and 8 users.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import REQUESTS, load_test, rss_mb, start_app, stop_app
from benchmarks.speed import machine, save_results
from core.cli import Parser
from core.corpora.corpus import MAX_UPLOAD_ROWS
from core.corpora.data import load_news

SAMPLE_WINDOW_S = 90  # how long the other session is measured while the upload runs


def news_file(folder: Path, rows: int, tag: str = "", headlines: bool = False) -> Path:
    """A JSONL file of ``rows`` distinct news-like texts (the bundled news, numbered): whole articles, or
    only their headlines."""
    news = load_news()
    path = folder / f"noticias{tag}-{rows}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            item = news[i % len(news)]
            title = f"{item['title']} ({tag}{i})"
            row = {"title": title, "text": title if headlines else item["body"], "section": item["section"]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def rejected_file(folder: Path) -> Path:
    """~9.9 MB of text with more rows than an upload may have."""
    path = folder / "demasiadas-filas.txt"
    line = "una línea de texto que se repite para llenar el archivo\n".encode()
    path.write_bytes(line * (int(9.9 * 2**20) // len(line)))
    assert path.read_bytes().count(b"\n") > MAX_UPLOAD_ROWS
    return path


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


def _latencies(client, endpoint: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.predict(*REQUESTS[endpoint], api_name=endpoint)
        times.append(time.perf_counter() - started)
    return times


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "n": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def during_upload(url: str, path: Path) -> dict:
    """Idle latencies, then the same while another session uploads ``path``."""
    from gradio_client import handle_file

    visitor, uploader = _client(url), _client(url)
    for endpoint in REQUESTS:
        _latencies(visitor, endpoint, 5)  # first calls of a client are slower: not what is measured
    idle = {endpoint: _summary(_latencies(visitor, endpoint, 60)) for endpoint in REQUESTS}
    started = time.perf_counter()
    job = uploader.submit(handle_file(str(path)), api_name="/upload")
    time.sleep(3)  # past the file transfer and parse: the upload is embedding now
    busy: dict[str, list[float]] = {endpoint: [] for endpoint in REQUESTS}
    while not job.done() and time.perf_counter() - started < SAMPLE_WINDOW_S:
        for endpoint in REQUESTS:
            busy[endpoint] += _latencies(visitor, endpoint, 1)
    sampled_while_running = not job.done()
    status = job.result(timeout=3600)[0]
    result = {
        "rows": sum(1 for _ in path.open(encoding="utf-8")),
        "upload_s": time.perf_counter() - started,
        "upload_status": status,
        "sampled_while_upload_ran": sampled_while_running,
        "idle": idle,
        "busy": {endpoint: _summary(times) for endpoint, times in busy.items() if times},
    }
    result["p95_ratio"] = {
        endpoint: result["busy"][endpoint]["p95_ms"] / idle[endpoint]["p95_ms"] for endpoint in result["busy"]
    }
    return result


def memory(url: str, pid: int, folder: Path, distinct: int) -> dict:
    """Server RSS over 10 rejected ~10 MB uploads, then over ``distinct`` 500-row uploads of headlines
    (one session each, as distinct visitors)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = rejected_file(folder)
    rejected = [rss_mb(pid)]
    for _ in range(10):
        try:
            _client(url).predict(handle_file(str(bad)), api_name="/upload")
        except AppError:
            pass
        else:
            raise RuntimeError("the oversized upload was accepted")
        rejected.append(rss_mb(pid))
    accepted = [rss_mb(pid)]
    for number in range(distinct):
        path = news_file(folder, 500, f"v{number}-", headlines=True)
        _client(url).predict(handle_file(str(path)), api_name="/upload")
        accepted.append(rss_mb(pid))
    return {
        "rejected_rss_mb": rejected,
        "rejected_growth_mb": rejected[-1] - rejected[0],
        "distinct_uploads": distinct,
        "distinct_rss_mb": accepted,
        "distinct_growth_mb": accepted[-1] - accepted[0],
        "distinct_peak_mb": max(accepted),
    }


def markdown(results: dict) -> str:
    up, mem = results["during_upload"], results["memory"]
    lines = [
        f"machine: {results['machine']['cpu']}, {results['machine']['cpus']} CPUs, "
        f"flags {' '.join(results['machine']['vector_flags'])}",
        "",
        f"| while another session uploads {up['rows']:,} rows ({up['upload_s']:.0f} s) | idle p50 / p95 ms | "
        "busy p50 / p95 / max ms | p95 ratio |",
        "|---|---|---|---|",
    ]
    for endpoint, busy in up["busy"].items():
        idle = up["idle"][endpoint]
        lines.append(
            f"| {endpoint} (n={busy['n']}) | {idle['p50_ms']:.0f} / {idle['p95_ms']:.0f} | "
            f"{busy['p50_ms']:.0f} / {busy['p95_ms']:.0f} / {busy['max_ms']:.0f} | "
            f"{up['p95_ratio'][endpoint]:.2f}× |"
        )
    lines += [
        "",
        "| memory | RSS before → after | growth |",
        "|---|---|---|",
        f"| 10 rejected ~10 MB uploads | {mem['rejected_rss_mb'][0]:.0f} → "
        f"{mem['rejected_rss_mb'][-1]:.0f} MB | {mem['rejected_growth_mb']:+.0f} MB |",
        f"| {mem['distinct_uploads']} distinct 500-row uploads | {mem['distinct_rss_mb'][0]:.0f} → "
        f"{mem['distinct_rss_mb'][-1]:.0f} MB (peak {mem['distinct_peak_mb']:.0f}) | "
        f"{mem['distinct_growth_mb']:+.0f} MB |",
        "",
        "| load | users | requests | errors | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["load"]:
        lines.append(
            f"| {r['endpoint']} | {r['users']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.0f} | "
            f"{r['p95_ms']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        allow_abbrev=False, prog="python -m benchmarks visitors", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model", default=None, help="model spec (default: $MODEL_ID, else the built-in model)"
    )
    parser.add_argument("--rows", type=int, default=5000, help="rows of the upload measured against (5000)")
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 10 distinct uploads, 8 users")
    parser.add_argument("--output", type=Path, default=Path("results/visitors.json"), help="JSON output")
    args = parser.parse_args(argv)
    rows, distinct, users = (1000, 10, 8) if args.quick else (args.rows, 50, 32)
    env = {"MODEL_ID": args.model} if args.model else {}
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d")}
    process, url, _ = start_app(env)
    try:
        _client(url).predict(*REQUESTS["/search"], api_name="/search")  # waits for the warm-up
        with tempfile.TemporaryDirectory() as scratch:
            print("[visitors] latency during an upload…", file=sys.stderr, flush=True)
            results["during_upload"] = during_upload(url, news_file(Path(scratch), rows))
            print("[visitors] memory…", file=sys.stderr, flush=True)
            results["memory"] = memory(url, process.pid, Path(scratch), distinct)
        print("[visitors] load…", file=sys.stderr, flush=True)
        results["load"] = [load_test(url, users, 5, endpoint) for endpoint in REQUESTS]
    finally:
        stop_app(process)
    save_results(results, args.output, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
