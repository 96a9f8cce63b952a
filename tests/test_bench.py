from __future__ import annotations

import numpy as np
import pytest

from benchmarks.speed import (
    bench_encoding,
    bench_search,
    bench_search_end_to_end,
    machine,
    markdown,
    synthetic_corpus,
)
from core.models.loader import load_model


def _anchors(count=200, dimension=32, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_synthetic_corpus_follows_the_real_embeddings():
    anchors = _anchors()
    corpus = synthetic_corpus(anchors, 1000, np.random.default_rng(0))
    assert corpus.shape == (1000, 32) and corpus.dtype == np.float32
    assert np.allclose(np.linalg.norm(corpus, axis=1), 1, atol=1e-5)
    assert np.median((corpus @ anchors.T).max(axis=1)) > 0.6  # each point sits near the real ones


def test_search_benchmark_reports_latency_and_recall_per_method():
    rows = bench_search(_anchors(), _anchors(10, seed=1), [3000], quick=True)
    methods = {row["method"].split(" (")[0]: row for row in rows}
    assert methods["exact"]["recall_at_10"] == 1.0
    assert set(methods) >= {"exact", "FAISS flat", "FAISS IVF-Flat", "FAISS HNSW-Flat", "uint8 + rescoring"}
    assert methods["FAISS flat"]["recall_at_10"] == pytest.approx(1.0)
    assert all(row["corpus_size"] == 3000 for row in rows)
    for name in ("FAISS IVF-Flat", "FAISS HNSW-Flat"):
        assert methods[name]["recall_at_10"] >= 0.95, name
    # Not asserted: "uint8 + rescoring" measures 0.03 and "binary + rescoring" 0.53 here (2026-12-06, the
    # test once asserted only "> 0"); quantised search is issue 25's work, measured by `benchmarks speed`.


def test_end_to_end_search_uses_the_default_index(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_INDEX_THRESHOLD", "1500")
    model = load_model(str(tiny_model_dir), device="cpu")
    anchors = _anchors(dimension=model.get_embedding_dimension())
    small, large = bench_search_end_to_end(model, anchors, [1000, 2000], quick=True)
    assert (small["index"], large["index"]) == ("exact", "ivf")
    assert 0 < small["p50_ms"] <= small["p95_ms"]


def test_encoding_benchmark_compares_backends_to_fp32(tiny_model_dir, isolated_cache, monkeypatch):
    from core.models import backends

    def missing(*args):
        raise ModuleNotFoundError("No module named 'openvino'")

    monkeypatch.setattr(backends, "build_openvino", missing)  # a machine without it: a row that says so
    rows = bench_encoding(load_model(str(tiny_model_dir), device="cpu"), quick=True, fingerprint="tiny")
    assert [row["backend"] for row in rows] == ["torch", "torch-bf16", "onnx-int8", "openvino"]
    fp32, measured = rows[0], rows[:3]
    assert fp32["speedup_batch64"] == 1.0 and fp32["mean_cosine_to_fp32"] == 1.0 and fp32["meets_quality_bar"]
    # every variant encodes the same thing, its cosines computed in float32 (never past 1 by rounding);
    # a broken variant (wrong weights, wrong pooling) lands far below
    assert all(0.95 < row["mean_cosine_to_fp32"] <= 1.0001 for row in measured), measured
    assert all(row["runs_batch64"] >= 1 and row["best_sentences_per_s_batch64"] > 0 for row in measured)
    assert all(
        row["meets_quality_bar"]
        == (row["mean_cosine_to_fp32"] >= 0.995 and abs(row["sts_spearman_change"]) <= 0.005)
        for row in measured
    )
    assert rows[3] == {"backend": "openvino", "error": "ModuleNotFoundError: No module named 'openvino'"}
    table = markdown({"encoding": rows, "search": [], "umap": [], "machine": machine(), "date": "2026-11-26"})
    assert table.startswith("2026-11-26 · ") and " CPUs · flags: " in table
    assert "| torch-bf16 |" in table and "| onnx-int8 |" in table
    assert "| openvino | ModuleNotFoundError" in table


def test_app_load_test_against_the_real_server(_tiny_model_master, tmp_path):
    from benchmarks.load import cold_start, first_request, load_test, start_app, stop_app

    env = {"MODEL_ID": str(_tiny_model_master), "WORKBENCH_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    process, url, seconds = start_app(env, timeout=300)
    try:
        first_map = first_request(url, "/cluster_map")
        result = load_test(url, users=3, requests_per_user=2, endpoint="/similarity")
        search = load_test(url, users=2, requests_per_user=1, endpoint="/search")
        http = [load_test(url, 2, 2, endpoint, transport="http") for endpoint in ("/similarity", "/search")]
    finally:
        stop_app(process)
    assert process.poll() is not None
    assert result["requests"] == 6 and result["errors"] == 0 and 0 < result["p50_ms"] <= result["p95_ms"]
    assert search["errors"] == 0
    assert [(r["transport"], r["requests"], r["errors"]) for r in http] == [("http", 4, 0)] * 2
    assert (tmp_path / "calibration").is_dir()  # the STS calibration is kept for the next start
    again = cold_start(tmp_path, {k: v for k, v in env.items() if k != "WORKBENCH_CACHE"})
    assert 0 < again["page_s"] < again["first_similarity_s"]
    table = markdown({"encoding": [], "search": [], "umap": [], "app": {
        "cold_start_with_cache_s": seconds, "first_similarity_with_cache_s": seconds + 1,
        "first_cluster_map_s": first_map, "load": [result, *http]}})  # fmt: skip
    assert "| with cache |" in table and "| /search | http | 2 | 4 |" in table
    assert f"| with cache | {seconds:.1f} |" in table and f"{first_map * 1000:.0f} ms" in table


def test_the_upload_benchmark_sends_distinct_real_texts_of_several_lengths():
    from benchmarks.embed import real_short_texts
    from core.corpora.data import load_news

    texts = real_short_texts(6000)
    lengths = sorted(map(len, texts))
    assert len(set(texts)) == 6000 and lengths[0] < 40 and lengths[-1] > 200
    assert load_news()[0]["title"] in texts  # real bundled text, not generated


def test_the_served_benchmark_serves_an_embedded_corpus_and_times_both_clients(
    _tiny_model_master, isolated_cache
):
    from benchmarks.served import markdown as served_markdown
    from benchmarks.served import run
    from core.models.handle import get_handle

    result = run(get_handle(str(_tiny_model_master), backend="torch"), [3000], queries=3)
    (row,) = result["sizes"]
    assert row["size"] == 3000 and row["index"] == "exact" and result["queries"] == 3
    for mode in ("significado", "ambos"):
        got = row["search"][mode]
        assert got["recall_at_10"] == 1.0  # exact search over the same vectors, through the app
        assert got["http_p50_ms"] <= got["http_p95_ms"] and got["p50_ms"] <= got["p95_ms"]
    table = served_markdown(result)
    assert f"| 3,000 | exact | {row['index_mb']:.0f} MB |" in table and "| both |" in table
