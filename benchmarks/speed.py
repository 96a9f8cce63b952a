"""``python -m benchmarks speed [--quick] [--no-app]``: speed and quality of inference backends, search,
UMAP and the running app.

Every figure is the median (and min) of repeated runs; every speed-up is a ratio against torch fp32
measured in the same run. Encoding: 128 bundled passages (~100 tokens) at batch 1/16/64, one-query
latency, and quality against fp32 on 256 passages and the bundled STS test. Search: corpora of 10k/100k/1M
vectors spread along the model's real passage embeddings, queried with real headline embeddings. The
app: start-up, load, and (without ``--quick``) embedded corpora of 100k and 1M such vectors served by
``app.py`` (``benchmarks.served``: server RSS, ``/search`` p50/p95 with the query's encoding, recall@10).
Results go to ``results/bench.json`` and a printed markdown table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from benchmarks import served
from benchmarks.synthetic import synthetic_corpus
from core.cache import CACHE
from core.cli import Parser
from core.corpora.corpus import Corpus, served_corpus
from core.corpora.data import load_news
from core.corpora.embeddings import corpus_embeddings
from core.io import write_file_atomically
from core.models.backend_choice import describe
from core.models.handle import get_handle, load_handle
from core.models.loader import resolve_spec
from core.versions import library_versions


def _timed(function, repeats: int, budget_s: float = 60) -> list[float]:
    """Run ``function`` ``repeats`` times, fewer when the runs so far took over ``budget_s`` (a slow
    backend such as bf16 without hardware support would otherwise take half an hour)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
        if sum(times) > budget_s:
            break
    return times


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "runs": len(ordered),
    }


def bench_encoding(model, quick: bool, fingerprint: str) -> list[dict]:
    """Every backend against torch fp32 on this CPU: throughput at batch 1/16/64, one-query latency, and
    the quality figures of the choice (``core.models.backend_choice``: STS dev + test and 128 passages, in
    float32). bf16 is timed even where the CPU lacks it, so the table shows why it is no candidate."""
    from core.models.backend_choice import QualityCheck
    from core.models.backends import BACKENDS, variant

    check = QualityCheck.bundled()
    passages = check.passages
    queries = [n["title"] for n in load_news()][: 20 if quick else 100]
    repeats = 2 if quick else 3
    reference = check.embed(model)
    rows = []
    for name in BACKENDS[1:]:
        try:
            engine = variant(model, fingerprint, name)
        except Exception as err:  # e.g. OpenVINO not installed
            rows.append({"backend": name, "error": f"{type(err).__name__}: {err}"})
            continue
        row = {"backend": name}
        for batch in (1, 16, 64):
            texts = passages[: 32 if batch == 1 else 128]
            engine.encode_document(texts[:batch], batch_size=batch)  # warm-up
            times = _timed(lambda v=engine, t=texts, b=batch: v.encode_document(t, batch_size=b), repeats, 30)
            row[f"sentences_per_s_batch{batch}"] = len(texts) / statistics.median(times)
            row[f"best_sentences_per_s_batch{batch}"] = len(texts) / min(times)
            row[f"runs_batch{batch}"] = len(times)
        latencies = [t for q in queries for t in _timed(lambda v=engine, q=q: v.encode_query([q]), 1)]
        row["query_latency_ms"] = {k: v * 1000 for k, v in _summary(latencies).items() if k.endswith("_s")}
        exact = {"mean_cosine_to_fp32": 1.0, "sts_spearman": reference[1], "sts_spearman_change": 0.0}
        row |= check.compare(reference, engine) if name != "torch" else exact | {"passed": True}
        rows.append(row)
    base = rows[0]
    for row in rows:
        if "error" not in row:
            row["speedup_batch64"] = (
                row["best_sentences_per_s_batch64"] / base["best_sentences_per_s_batch64"]
            )
            row["meets_quality_bar"] = row.pop("passed")
    return rows


def bench_search(anchors: np.ndarray, queries: np.ndarray, sizes: list[int], quick: bool) -> list[dict]:
    """Latency per query (p50/p95) and recall@10 against exact search, for each method and corpus size.

    Args:
        anchors: Real passage embeddings (normalised); the synthetic corpora are spread along them.
        queries: Real query embeddings (normalised); half the timed queries, the other half synthetic.
    """
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        corpus = synthetic_corpus(anchors, size, rng)
        count = 20 if quick else 50
        timed = np.concatenate([queries[: count // 2], synthetic_corpus(anchors, count - count // 2, rng)])
        rows += _search_one_size(corpus, timed, quick)
        del corpus
    return rows


def _search_one_size(corpus: np.ndarray, queries: np.ndarray, quick: bool) -> list[dict]:
    import faiss
    import torch
    from sentence_transformers.util import quantize_embeddings, semantic_search
    from sentence_transformers.util.quantization import semantic_search_faiss

    from core.corpora.index import VectorIndex

    def measure(name, search, build_s=None):
        times, found = [], []
        for query in queries:
            started = time.perf_counter()
            found.append(set(search(query)))
            times.append(time.perf_counter() - started)
        recall = float(np.mean([len(f & e) / 10 for f, e in zip(found, exact, strict=True)]))
        summary = _summary(times)
        rows.append(
            {
                "method": name,
                "corpus_size": len(corpus),
                "latency_ms": summary["median_s"] * 1000,
                "latency_p95_ms": summary["p95_s"] * 1000,
                "recall_at_10": recall,
                "build_s": build_s,
            }
        )

    rows: list[dict] = []
    corpus_t = torch.from_numpy(corpus)
    exact = [set(torch.topk(corpus_t @ torch.from_numpy(q), 10).indices.tolist()) for q in queries]
    measure(
        "exact (semantic_search)",
        lambda q: [h["corpus_id"] for h in semantic_search(torch.from_numpy(q[None]), corpus_t, top_k=10)[0]],
    )
    exact_index = VectorIndex(corpus, "exact")
    measure(
        "exact (matrix product, app default below threshold)",
        lambda q: [r for r, _ in exact_index.search(q, 10)],
    )
    flat = faiss.IndexFlatIP(corpus.shape[1])
    flat.add(corpus)
    measure("FAISS flat", lambda q, i=flat: i.search(q[None], 10)[1][0])
    del flat
    for kind in ("ivf", "hnsw"):
        started = time.perf_counter()
        index = VectorIndex(corpus, kind)
        build = time.perf_counter() - started
        label = (
            f"FAISS IVF-Flat ({index.faiss_index.nlist} lists, nprobe {index.faiss_index.nprobe})"
            if kind == "ivf"
            else f"FAISS HNSW-Flat (M 32, efSearch {index.faiss_index.hnsw.efSearch})"
        )
        measure(label, lambda q, i=index: [r for r, _ in i.search(q, 10)], build)
        del index
    ranges = np.stack([corpus[:10_000].min(axis=0), corpus[:10_000].max(axis=0)])
    uint8 = quantize_embeddings(corpus, precision="uint8", ranges=ranges)
    started = time.perf_counter()
    uint8_index = faiss.IndexFlatIP(corpus.shape[1])
    uint8_index.add(uint8.astype(np.float32))
    build = time.perf_counter() - started
    measure(
        "uint8 + rescoring (semantic_search_faiss)",
        lambda q, i=uint8_index: [
            h["corpus_id"]
            for h in semantic_search_faiss(
                q[None], corpus_index=i, corpus_precision="uint8", top_k=10, ranges=ranges
            )[0][0]
        ],
        build,
    )
    del uint8, uint8_index
    binary = quantize_embeddings(corpus, precision="ubinary")
    started = time.perf_counter()
    binary_index = faiss.IndexBinaryFlat(corpus.shape[1])
    binary_index.add(binary)
    build = time.perf_counter() - started
    measure(
        "binary + rescoring ×4 (semantic_search_faiss)",
        lambda q: [
            h["corpus_id"]
            for h in semantic_search_faiss(
                q[None], corpus_index=binary_index, corpus_precision="ubinary", top_k=10, rescore_multiplier=4
            )[0][0]
        ],
        build,
    )
    return rows


def bench_search_end_to_end(model, anchors: np.ndarray, sizes: list[int], quick: bool) -> list[dict]:
    """What a visitor waits for: ``core.corpora.search.search`` (query encoding + the default index),
    per size."""
    rng = np.random.default_rng(1)
    titles = [n["title"] for n in load_news()][: 20 if quick else 50]
    rows = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        mock.patch.dict(os.environ, WORKBENCH_CACHE=scratch),
    ):  # indexes go here
        for size in sizes:
            rows.append(_search_end_to_end(model, synthetic_corpus(anchors, size, rng), titles))
    return rows


def _search_end_to_end(model, corpus: np.ndarray, titles: list[str]) -> dict:
    from core.corpora.index import clear_indexes, get_index
    from core.corpora.search import search

    size = len(corpus)
    items = Corpus(({"title": "", "body": "", "section": ""},) * size, f"bench-{size}", "bench", "env")
    key = f"bench-{size}-{time.time_ns()}"
    started = time.perf_counter()
    index = get_index(key, corpus)
    build = time.perf_counter() - started
    # by meaning: the synthetic items have no words for BM25 (``benchmarks served`` times both ways)
    search(model, titles[0], items, corpus, 10, key=key, mode="dense")  # warm
    times = [
        t
        for title in titles
        for t in _timed(lambda q=title: search(model, q, items, corpus, 10, key=key, mode="dense"), 1)
    ]
    summary = _summary(times)
    clear_indexes()
    return {
        "corpus_size": size,
        "index": index.kind,
        "build_s": build,
        "p50_ms": summary["median_s"] * 1000,
        "p95_ms": summary["p95_s"] * 1000,
    }


def bench_umap(anchors: np.ndarray, sizes: list[int]) -> list[dict]:
    """UMAP fit time per corpus size (points spread along the real embeddings), and the time to show
    the same projection again from the on-disk cache (a fresh process reads it, nothing is fitted)."""
    import umap

    from core.corpora import clusters

    rng = np.random.default_rng(0)
    # numba compiles UMAP's code on first use, and NN-descent's (used from 4,096 points) on its own
    for size in (200, 4500):
        umap.UMAP(n_components=2, metric="cosine", n_epochs=5).fit_transform(
            synthetic_corpus(anchors, size, rng)
        )
    rows = []
    with tempfile.TemporaryDirectory() as scratch, mock.patch.dict(os.environ, WORKBENCH_CACHE=scratch):
        for size in sizes:
            points = synthetic_corpus(anchors, size, rng)
            started = time.perf_counter()
            clusters.umap_projection(points, f"bench-{size}")
            fitted = time.perf_counter() - started
            CACHE.clear(lambda key: key[0] == "umap")  # as in a restarted app: only the disk cache is left
            started = time.perf_counter()
            clusters.umap_projection(points, f"bench-{size}")
            rows.append({"points": size, "seconds": fitted, "cached_s": time.perf_counter() - started})
    return rows


def bench_app(spec: str, quick: bool) -> dict:
    """Start-up with and without the on-disk cache, the first cluster map, and the running app under 1,
    8 and 32 users, through ``gradio_client`` and through one-shot HTTP calls."""
    from benchmarks.load import cold_start, first_request, load_test, start_app, stop_app

    env = {"MODEL_ID": spec}
    process, url, _ = start_app(env)  # fill the caches once: the model, calibration, embeddings, map
    try:
        first_request(url, "/similarity")
        first_request(url, "/cluster_map")
    finally:
        stop_app(process)
    started = time.perf_counter()
    process, url, page = start_app(env)
    try:
        first_request(url, "/similarity")
        first_similarity = time.perf_counter() - started
        first_map = first_request(url, "/cluster_map")
        load = [
            load_test(url, users, 3 if quick else 10, endpoint, transport)
            for transport in ("gradio_client", "http")
            for endpoint in ("/similarity", "/search")
            for users in ((1, 8) if quick else (1, 8, 32))
        ]
    finally:
        stop_app(process)
    result = {
        "cold_start_with_cache_s": page,
        "first_similarity_with_cache_s": first_similarity,
        "first_cluster_map_s": first_map,
        "load": load,
    }
    if not quick:
        with tempfile.TemporaryDirectory() as empty:
            without = cold_start(Path(empty), env)
        result["cold_start_without_cache_s"] = without["page_s"]
        result["first_similarity_without_cache_s"] = without["first_similarity_s"]
    return result


def markdown(results: dict) -> str:
    header = (
        "| backend | sent/s b1 | sent/s b16 | sent/s b64 | × fp32 (b64) | query p50 ms "
        "| cos to fp32 | STS ρ (dev+test) | Δρ | bar |"
    )
    lines = []
    if "machine" in results:
        m = results["machine"]
        flags = " ".join(m.get("vector_flags", [])) or "n/a"
        lines.append(f"{results.get('date', '')} · {m.get('cpu')} · {m.get('cpus')} CPUs · flags: {flags}\n")
    if "default_backend" in results:
        lines.append(f"Backend ranking (auto) for this model on this CPU: {results['default_backend']}\n")
    lines += [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["encoding"]:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['error'][:80]} |  |  |  |  |  |  |  |  |")
            continue
        lines.append(
            f"| {r['backend']} | {r['best_sentences_per_s_batch1']:.1f} | "
            f"{r['best_sentences_per_s_batch16']:.1f} | "
            f"{r['best_sentences_per_s_batch64']:.1f} | {r['speedup_batch64']:.2f} | "
            f"{r['query_latency_ms']['median_s']:.1f} | "
            f"{r['mean_cosine_to_fp32']:.4f} | {r['sts_spearman']:.4f} | {r['sts_spearman_change']:+.4f} | "
            f"{'yes' if r['meets_quality_bar'] else 'no'} |"
        )
    lines.append("\n(sentences per second: best of the timed runs; query latency: median)")
    lines += [
        "",
        "| search (one query) | corpus | p50 ms | p95 ms | recall@10 | build s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['method']} | {r['corpus_size']:,} | {r['latency_ms']:.2f} | {r['latency_p95_ms']:.2f} | "
        f"{r['recall_at_10']:.3f} | {'' if r.get('build_s') is None else format(r['build_s'], '.1f')} |"
        for r in results["search"]
    ]
    if results.get("search_end_to_end"):
        lines += [
            "",
            "| app search (query encoding + default index) | index | build s | p50 ms | p95 ms |",
            "|---:|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['corpus_size']:,} | {r['index']} | {r['build_s']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} |"
            for r in results["search_end_to_end"]
        ]
    lines += ["", "| UMAP points | fit s | from cache ms |", "|---:|---:|---:|"]
    lines += [
        f"| {r['points']:,} | {r['seconds']:.1f} | {r['cached_s'] * 1000:.1f} |" for r in results["umap"]
    ]
    if results.get("served"):
        lines += ["", served.markdown(results["served"])]
    if "app" in results:
        app = results["app"]
        lines += [
            "",
            "| app start-up | page served s | first similarity answered s |",
            "|---|---:|---:|",
            f"| with cache | {app['cold_start_with_cache_s']:.1f} | "
            f"{app.get('first_similarity_with_cache_s', float('nan')):.1f} |",
        ]
        if "cold_start_without_cache_s" in app:
            lines += [
                f"| without cache | {app['cold_start_without_cache_s']:.1f} | "
                f"{app['first_similarity_without_cache_s']:.1f} |"
            ]
        if "first_cluster_map_s" in app:
            lines += ["", f"First cluster map (cache present): {app['first_cluster_map_s'] * 1000:.0f} ms"]
        lines += [
            "",
            "| endpoint | client | users | requests | p50 ms | p95 ms | errors |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['endpoint']} | {r.get('transport', 'gradio_client')} | {r['users']} | {r['requests']} | "
            f"{r['p50_ms'] or 0:.0f} | {r['p95_ms'] or 0:.0f} | {r['errors']} |"
            for r in app["load"]
        ]
    return "\n".join(lines)


def machine() -> dict:
    """Cores, CPU model and the vector-instruction flags that decide int8 / bf16 speed."""
    import torch

    from core.models.cpu import cpu_info, cpu_key

    return {
        **cpu_info(),
        "cpu_key": cpu_key(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "versions": library_versions(
            ("torch", "onnxruntime", "openvino", "faiss-cpu", "sentence-transformers", "gradio")
        ),
    }


def save_results(results: dict, output: Path, table: str) -> None:
    """Write the figures as JSON (atomically) and print their markdown table."""
    text = json.dumps(results, indent=2, ensure_ascii=False)
    write_file_atomically(output, lambda handle: handle.write(text))
    print(table)
    print(f"\nwrote {output}")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        allow_abbrev=False, prog="python -m benchmarks speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model", default=None, help="model spec (default: $MODEL_ID, else the built-in model)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer texts, one corpus size, fewer repeats (a few minutes)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("results/bench.json"), help="where to write the JSON"
    )
    parser.add_argument(
        "--no-app",
        action="store_true",
        help="skip the app start-up, load and served-corpus figures (they start `app.py`)",
    )
    args = parser.parse_args(argv)

    spec = resolve_spec(args.model)
    handle = load_handle(spec, device="cpu")  # torch fp32: the reference the backends are measured against
    model = handle.model
    items = served_corpus().items
    anchors = corpus_embeddings(handle, served_corpus())  # real passages: the synthetic corpora follow them
    queries = model.encode_query([item["title"] for item in items[:50]], normalize_embeddings=True)
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    default = get_handle(spec, device="cpu", backend="auto")  # what the app serves once it is prepared
    results = {"model": spec, "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    stages = {
        "encoding": lambda: bench_encoding(model, args.quick, handle.fingerprint),
        "default_backend": lambda: (default.prepare(), describe(handle.model))[1],
        "search": lambda: bench_search(anchors, queries, sizes, args.quick),
        "search_end_to_end": lambda: bench_search_end_to_end(
            default.model, anchors, sizes[1:] or sizes, args.quick
        ),
        "umap": lambda: bench_umap(anchors, [1_000] if args.quick else [1_000, 5_000, 20_000]),
    }
    if not args.no_app:
        stages["app"] = lambda: bench_app(spec, args.quick)
        if not args.quick:  # the large corpora served by the app: minutes each (benchmarks.served)
            stages["served"] = lambda: served.run(handle, [100_000, 1_000_000], queries=50)
    for name, stage in stages.items():
        print(f"[bench] {name}…", file=sys.stderr, flush=True)
        results[name] = stage()
    save_results(results, args.output, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
