"""``python -m evaluation bench [--quick]``: speed and quality of inference backends, search and UMAP.

Every figure is the median (and min) of repeated runs; every speed-up is a ratio against torch fp32
measured in the same run. Results go to ``results/bench.json`` and a printed markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from core.data import load_news, load_sts
from core.io import write_file_atomically
from core.loader import load_model, resolve_spec


def _timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "runs": len(ordered),
    }


def backends(model) -> dict:
    """The inference variants on offer, built from the fp32 model."""
    import torch

    variants = {"torch-fp32": model}
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    variants["torch-bf16"] = bf16
    int8 = copy.deepcopy(model)
    int8[0].model = torch.ao.quantization.quantize_dynamic(
        int8[0].model, {torch.nn.Linear}, dtype=torch.qint8
    )
    variants["torch-int8-dynamic"] = int8
    return variants


def bench_encoding(model, quick: bool) -> list[dict]:
    """Throughput at batch 1/16/64, single-query latency, and quality against fp32, per backend."""
    from scipy.stats import spearmanr

    passages = [f"{n['title']}. {n['body']}" for n in load_news()][: 128 if quick else 512]
    queries = [n["title"] for n in load_news()][: 20 if quick else 100]
    sts = load_sts("test")
    repeats = 2 if quick else 3
    reference = model.encode_document(
        passages, batch_size=64, convert_to_numpy=True, normalize_embeddings=True
    )
    rows = []
    for name, variant in backends(model).items():
        row = {"backend": name}
        for batch in (1, 16, 64):
            texts = passages[: 32 if batch == 1 else len(passages)]
            times = _timed(lambda v=variant, t=texts, b=batch: v.encode_document(t, batch_size=b), repeats)
            row[f"sentences_per_s_batch{batch}"] = len(texts) / statistics.median(times)
        latencies = [t for q in queries for t in _timed(lambda v=variant, q=q: v.encode_query([q]), 1)]
        row["query_latency_ms"] = {k: v * 1000 for k, v in _summary(latencies).items() if k.endswith("_s")}
        embeddings = variant.encode_document(
            passages, batch_size=64, convert_to_numpy=True, normalize_embeddings=True
        )
        row["mean_cosine_to_fp32"] = float(np.mean(np.sum(embeddings.astype(np.float32) * reference, axis=1)))
        first = variant.encode(
            [p["sentence1"] for p in sts], convert_to_numpy=True, normalize_embeddings=True
        )
        second = variant.encode(
            [p["sentence2"] for p in sts], convert_to_numpy=True, normalize_embeddings=True
        )
        cosine = np.sum(first.astype(np.float32) * second.astype(np.float32), axis=1)
        row["sts_spearman"] = float(spearmanr(cosine, [p["score"] for p in sts]).statistic)
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["speedup_batch64"] = row["sentences_per_s_batch64"] / base["sentences_per_s_batch64"]
        row["sts_spearman_change"] = row["sts_spearman"] - base["sts_spearman"]
        row["meets_quality_bar"] = (
            row["mean_cosine_to_fp32"] >= 0.995 and abs(row["sts_spearman_change"]) <= 0.005
        )
    return rows


def bench_search(dimension: int, sizes: list[int], quick: bool) -> list[dict]:
    """Exact search latency and int8 / binary quantized search with rescoring, on synthetic embeddings."""
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        corpus = rng.standard_normal((size, dimension), dtype=np.float32)
        corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
        # queries near corpus points, so that the true neighbours are meaningful
        picks = rng.integers(0, size, 20 if quick else 50)
        queries = corpus[picks] + 0.05 * rng.standard_normal((len(picks), dimension), dtype=np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        rows += _search_one_size(corpus, queries)
    return rows


def _search_one_size(corpus: np.ndarray, queries: np.ndarray) -> list[dict]:
    import torch
    from sentence_transformers.util import quantize_embeddings, semantic_search

    corpus_t = torch.from_numpy(corpus)
    started = time.perf_counter()
    exact = [
        {h["corpus_id"] for h in semantic_search(torch.from_numpy(q[None]), corpus_t, top_k=10)[0]}
        for q in queries
    ]
    rows = [
        _search_row(
            "exact (semantic_search)", len(corpus), (time.perf_counter() - started) / len(queries), 1.0
        )
    ]
    binary = np.packbits(corpus > 0, axis=1)
    int8 = quantize_embeddings(corpus, precision="int8", calibration_embeddings=corpus[:10_000]).astype(
        np.float32
    )

    def binary_search(query):
        distances = np.unpackbits(np.bitwise_xor(binary, np.packbits(query > 0)), axis=1).sum(axis=1)
        candidates = np.argpartition(distances, 100)[:100]  # rescore 100 candidates with fp32
        return set(candidates[np.argsort(-(corpus[candidates] @ query))[:10]].tolist())

    def int8_search(query):
        candidates = np.argpartition(-(int8 @ query), 40)[:40]
        return set(candidates[np.argsort(-(corpus[candidates] @ query))[:10]].tolist())

    for name, search in (("binary + fp32 rescoring", binary_search), ("int8 + fp32 rescoring", int8_search)):
        started = time.perf_counter()
        found = [search(q) for q in queries]
        per_query = (time.perf_counter() - started) / len(queries)
        recall = float(np.mean([len(f & e) / 10 for f, e in zip(found, exact, strict=True)]))
        rows.append(_search_row(name, len(corpus), per_query, recall))
    return rows


def _search_row(method: str, size: int, seconds: float, recall: float) -> dict:
    return {"method": method, "corpus_size": size, "latency_ms": seconds * 1000, "recall_at_10": recall}


def bench_umap(dimension: int, sizes: list[int]) -> list[dict]:
    import umap

    rng = np.random.default_rng(0)
    umap.UMAP(n_components=2, metric="cosine").fit_transform(
        rng.standard_normal((200, dimension))
    )  # JIT warm-up
    rows = []
    for size in sizes:
        points = rng.standard_normal((size, dimension)).astype(np.float32)
        started = time.perf_counter()
        umap.UMAP(n_components=2, n_neighbors=15, metric="cosine", random_state=42).fit_transform(points)
        rows.append({"points": size, "seconds": time.perf_counter() - started})
    return rows


def bench_app(spec: str, quick: bool) -> dict:
    """Start-up with and without the on-disk cache, and the running app under 1, 8 and 32 users."""
    import tempfile

    from evaluation.load import cold_start, load_test, start_app, stop_app

    env = {"MODEL_ID": spec}
    stop_app(start_app(env)[0])  # fill the caches once
    process, url, with_cache = start_app(env)
    try:
        load = [
            load_test(url, users, 3 if quick else 10, endpoint)
            for endpoint in ("/similarity", "/search")
            for users in ((1, 8) if quick else (1, 8, 32))
        ]
    finally:
        stop_app(process)
    result = {"cold_start_with_cache_s": with_cache, "load": load}
    if not quick:
        with tempfile.TemporaryDirectory() as empty:
            result["cold_start_without_cache_s"] = cold_start(Path(empty), env)
    return result


def markdown(results: dict) -> str:
    header = (
        "| backend | sent/s b1 | sent/s b16 | sent/s b64 | × fp32 (b64) | query p50 ms "
        "| cos to fp32 | STS ρ | Δρ | bar |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["encoding"]:
        lines.append(
            f"| {r['backend']} | {r['sentences_per_s_batch1']:.1f} | {r['sentences_per_s_batch16']:.1f} | "
            f"{r['sentences_per_s_batch64']:.1f} | {r['speedup_batch64']:.2f} | "
            f"{r['query_latency_ms']['median_s']:.1f} | "
            f"{r['mean_cosine_to_fp32']:.4f} | {r['sts_spearman']:.4f} | {r['sts_spearman_change']:+.4f} | "
            f"{'yes' if r['meets_quality_bar'] else 'no'} |"
        )
    lines += ["", "| search | corpus | latency ms/query | recall@10 |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['method']} | {r['corpus_size']:,} | {r['latency_ms']:.2f} | {r['recall_at_10']:.3f} |"
        for r in results["search"]
    ]
    lines += ["", "| UMAP points | seconds |", "|---:|---:|"]
    lines += [f"| {r['points']:,} | {r['seconds']:.1f} |" for r in results["umap"]]
    if "app" in results:
        app = results["app"]
        without = app.get("cold_start_without_cache_s")
        lines += ["", f"App start with cache: {app['cold_start_with_cache_s']:.1f} s"]
        lines += [f"App start without cache: {without:.1f} s" if without else ""]
        lines += [
            "| endpoint | users | requests | p50 ms | p95 ms | errors |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['endpoint']} | {r['users']} | {r['requests']} | {r['p50_ms'] or 0:.0f} | "
            f"{r['p95_ms'] or 0:.0f} | {r['errors']} |"
            for r in app["load"]
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="model spec (default: $MODEL_ID, else the built-in model)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer texts, sizes and repeats (about 3 minutes)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("results/bench.json"), help="where to write the JSON"
    )
    args = parser.parse_args(argv)
    import torch

    spec = resolve_spec(args.model)
    model = load_model(spec, device="cpu")
    dimension = model.get_embedding_dimension()
    results = {
        "model": spec,
        "machine": {
            "cpu_count": torch.get_num_threads(),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "encoding": bench_encoding(model, args.quick),
        "search": bench_search(
            dimension, [10_000] if args.quick else [10_000, 100_000, 1_000_000], args.quick
        ),
        "umap": bench_umap(dimension, [1_000] if args.quick else [1_000, 5_000, 20_000]),
    }
    if not args.no_app:
        results["app"] = bench_app(spec, args.quick)
    text = json.dumps(results, indent=2)
    write_file_atomically(args.output, lambda handle: handle.write(text))
    print(markdown(results))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
