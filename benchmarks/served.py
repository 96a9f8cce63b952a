"""Large embedded corpora served by the running app: memory, /search latency and recall.

For each size, a synthetic embedded corpus (``core.corpora.embedded`` shards; vectors spread along the
served model's real embeddings of the bundled news, ``benchmarks.synthetic.synthetic_corpus``; each item's
text the headline of the news item it was drawn from) is served with ``CORPUS=...``. The benchmark
waits for the warm-up, reads the server's RSS, sends real headlines to ``/search`` (by meaning and both,
query encoding included) through the call API over HTTP (``POST /gradio_api/call/search`` and one
streamed ``GET``, as ``curl`` and the browser's client do) and through ``gradio_client`` (whose event
loop polls every 50 ms: ~85 ms per call even against an app that echoes its input), and compares the
top 10 with exact search over the same vectors.

    python -m benchmarks served [--sizes 100000 1000000] [--queries 50]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from core.cli import Parser
from core.io import write_file_atomically
from core.models.cpu import cpu_info


def synthetic_embedded(folder: Path, size: int, handle, anchors: np.ndarray, news: list[dict]) -> Path:
    """Write ``size`` synthetic items as an embedded corpus of ``handle``'s model under ``folder``."""
    from benchmarks.synthetic import synthetic_corpus
    from core.corpora.corpus import Corpus
    from core.corpora.embedded import SHARD_ROWS, job_metadata, shard_path, write_shard
    from core.models.evaluators import prompt_names

    rng = np.random.default_rng(size)
    vectors = synthetic_corpus(anchors, size, rng)
    source = np.argmax(vectors @ anchors.T, axis=1)  # the news item each point lies nearest
    items = [
        {"id": f"s{i}", "section": news[row]["section"], "title": "", "body": news[row]["title"]}
        for i, row in enumerate(source.tolist())
    ]
    corpus = Corpus(tuple(items), f"synthetic-{size}", f"synthetic-{size}", "env")
    meta = job_metadata(handle.spec, handle.fingerprint, prompt_names(handle.model)[1], corpus, SHARD_ROWS)
    output = folder / f"synthetic-{size}.parquet"
    output.mkdir(parents=True, exist_ok=True)
    for index in range(meta["shards"]):
        rows = slice(index * SHARD_ROWS, (index + 1) * SHARD_ROWS)
        write_shard(
            shard_path(output, index, meta["shards"]), items[rows], vectors[rows], meta | {"shard": index}
        )
    return output


def measure_size(path: Path, size: int, handle, queries: list[str], cache: Path) -> dict:
    from benchmarks.load import _client, _http_sender, rss_mb, start_app, stop_app
    from core.corpora.corpus import load_corpus
    from core.corpora.index import BINARY_THRESHOLD, RESCORE_CANDIDATES, index_kind

    env = {"CORPUS": str(path), "MODEL_ID": handle.spec, "WORKBENCH_BACKEND": "torch",
           "WORKBENCH_PREPARE": "0", "WORKBENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    log = cache / f"app-{size}.log"
    started = time.perf_counter()
    process, url, page_s = start_app(env, timeout=1800, log=log)
    try:
        client = _client(url)
        while "Ready:" not in log.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.perf_counter() - started > 1800:
                raise RuntimeError(f"the app did not get ready; see {log}")
            time.sleep(1)
        ready_s = time.perf_counter() - started
        rss = rss_mb(process.pid)
        vectors = load_corpus(str(path)).vectors.embeddings
        ids = np.array([f"s{i}" for i in range(size)])
        rows = {}
        for mode in ("significado", "ambos"):
            times, http_times, recalls = [], [], []
            send = _http_sender(url, "/search")
            for query in queries:
                began = time.perf_counter()
                table, _ = client.predict(query, 10, "todas", None, mode, api_name="/search")
                times.append(time.perf_counter() - began)
                began = time.perf_counter()
                answer = send([query, 10, "todas", None, mode, None])
                http_times.append(time.perf_counter() - began)
                if answer[0]["data"] != table["data"]:
                    raise RuntimeError(f"the two clients got different answers to {query!r}")
                embedding = handle.model.encode_query([query], normalize_embeddings=True)[0]
                exact = set(ids[np.argsort(-(vectors @ embedding))[:10]].tolist())
                recalls.append(len(exact & {row[4] for row in table["data"]}) / 10)
            rows[mode] = {
                "p50_ms": float(np.percentile(times, 50) * 1000),
                "p95_ms": float(np.percentile(times, 95) * 1000),
                "http_p50_ms": float(np.percentile(http_times, 50) * 1000),
                "http_p95_ms": float(np.percentile(http_times, 95) * 1000),
                "recall_at_10": float(np.mean(recalls)),
            }
        rss_after = rss_mb(process.pid)
    finally:
        stop_app(process)
    rows["in_process"] = _in_process(path, handle, queries)
    return {
        "size": size,
        "index": index_kind(size),
        "binary_threshold": BINARY_THRESHOLD,
        "rescore_candidates": RESCORE_CANDIDATES,
        "index_mb": (vectors.nbytes + vectors.shape[0] * vectors.shape[1] / 8) / 2**20,
        "server_rss_ready_mb": rss,
        "server_rss_after_mb": rss_after,
        "page_s": page_s,
        "ready_s": ready_s,
        "search": rows,
    }


def _in_process(path: Path, handle, queries: list[str]) -> dict:
    """The same dense searches without the server: ``core.corpora.search.search`` on the same index, the
    query encoding included (the rest of the app's figure is Gradio's queue and the HTTP round trip)."""
    from core.corpora.corpus import load_corpus
    from core.corpora.search import search

    corpus = load_corpus(str(path))
    vectors = corpus.vectors.embeddings
    search(handle.model, queries[0], corpus, vectors, 10, key="bench", mode="dense")  # builds the index
    times = []
    for query in queries:
        began = time.perf_counter()
        search(handle.model, query, corpus, vectors, 10, key="bench", mode="dense")
        times.append(time.perf_counter() - began)
    return {
        "p50_ms": float(np.percentile(times, 50) * 1000),
        "p95_ms": float(np.percentile(times, 95) * 1000),
    }


def markdown(result: dict) -> str:
    machine = result["machine"]
    lines = [
        f"Served embedded corpora, {result['date']}, {machine['cpu']} ({machine['cpus']} CPUs; "
        f"{', '.join(machine['vector_flags'])}), model {result['model']}, torch fp32, {result['queries']} "
        "real headlines per mode; /search through the call API (HTTP) and through gradio_client",
        "",
        "| items | index | vectors + codes | server RSS ready → after | ready after | mode | /search HTTP "
        "p50 / p95 | /search gradio_client p50 / p95 | recall@10 |",
        "|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in result["sizes"]:
        for mode, name in (("significado", "meaning"), ("ambos", "both")):
            got = row["search"][mode]
            lines.append(
                f"| {row['size']:,} | {row['index']} | {row['index_mb']:.0f} MB | "
                f"{row['server_rss_ready_mb']:.0f} → {row['server_rss_after_mb']:.0f} MB | "
                f"{row['ready_s']:.0f} s | {name} | {got['http_p50_ms']:.0f} / {got['http_p95_ms']:.0f} ms | "
                f"{got['p50_ms']:.0f} / {got['p95_ms']:.0f} ms | {got['recall_at_10']:.3f} |"
            )
        inside = row["search"]["in_process"]
        lines.append(
            f"| {row['size']:,} | | | | | meaning, in the benchmark's process | "
            f"{inside['p50_ms']:.0f} / {inside['p95_ms']:.0f} ms | | |"
        )
    return "\n".join(lines)


def run(handle, sizes: list[int], queries: int) -> dict:
    """Serve a synthetic embedded corpus of each size and measure it (``measure_size``)."""
    from core.corpora.corpus import served_corpus
    from core.corpora.embeddings import corpus_embeddings

    news = list(served_corpus("bundled").items)
    anchors = corpus_embeddings(handle, served_corpus("bundled"))
    headlines = [item["title"] for item in news[1::11]][:queries]
    result = {
        "model": handle.spec,
        "machine": cpu_info(),
        "date": time.strftime("%Y-%m-%d"),
        "queries": len(headlines),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            path = synthetic_embedded(Path(scratch), size, handle, anchors, news)
            cache = Path(scratch) / f"cache-{size}"
            cache.mkdir()
            result["sizes"].append(measure_size(path, size, handle, headlines, cache))
            print(markdown(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks served", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="corpus sizes")
    parser.add_argument("--queries", type=int, default=50, help="real headlines sent per mode (default 50)")
    parser.add_argument("--model", default=None, help="model spec (default: $MODEL_ID, else the built-in)")
    parser.add_argument("--output", type=Path, default=Path("results"), help="folder for served.json")
    args = parser.parse_args(argv)
    from core.models.handle import get_handle

    result = run(get_handle(args.model, backend="torch"), args.sizes, args.queries)
    text = json.dumps(result, indent=2, default=float)
    print(f"wrote {write_file_atomically(args.output / 'served.json', lambda handle: handle.write(text))}")
    return 0
