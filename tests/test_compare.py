"""``python -m evaluation compare``: B − A on the same pairs or queries, with a paired CI and p-value."""

from __future__ import annotations

import json

import pytest

from evaluation.compare import main
from evaluation.datasets import DatasetError, load_retrieval_dataset, with_distractors


@pytest.fixture(scope="module")
def two_models(_tiny_model_master, tmp_path_factory):
    """The tiny model and a copy with noisy weights: a real difference to find."""
    import torch
    from sentence_transformers import SentenceTransformer

    other = tmp_path_factory.mktemp("noisy") / "model"
    model = SentenceTransformer(str(_tiny_model_master), device="cpu")
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    model.save(str(other))
    return str(_tiny_model_master), str(other)


def test_sts_comparison_writes_the_paired_difference(two_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    a, b = two_models
    argv = ["--model", a, "--model", b, "--dataset", "bundled:test", "--backend", "torch"]
    assert main([*argv, "--bootstrap", "500", "--output", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert {"metric", "delta", "ci95", "p_value", "n"} <= set(record) and record["n"] == 150
    assert record["metric"] == "spearman_cosine"
    assert record["delta"] == pytest.approx(record["b"] - record["a"])
    low, high = record["ci95"]
    assert record["significant"] == (low > 0 or high < 0) == (record["p_value"] < 0.05)
    from evaluation.datasets import load_sts_dataset
    from evaluation.metrics import paired_spearman_difference
    from evaluation.runner import run_sts

    dataset = load_sts_dataset("bundled:test")  # the same figures, from each model's own evaluation
    first, second = (run_sts(spec, dataset)["predictions"] for spec in (a, b))
    again = paired_spearman_difference(first, second, dataset.scores, 500, 0)
    assert record["delta"] == pytest.approx(again["difference"]) and record["p_value"] == again["p_value"]
    assert record["ci95"] == pytest.approx(list(again["ci"]))
    out = capsys.readouterr().out
    assert "B − A =" in out and ("No significant difference" in out) != record["significant"]


def test_a_model_against_itself_is_no_significant_difference(two_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    a, _ = two_models
    assert main(["--model", a, "--model", a, "--backend", "torch", "--bootstrap", "200"]) == 0
    assert "No significant difference: the interval includes 0." in capsys.readouterr().out


def test_retrieval_on_a_local_file_with_distractors(two_models, tmp_path, monkeypatch, capsys):
    from core.corpora.data import load_news

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "pares.jsonl"
    news = load_news()[:40]
    path.write_text(
        "\n".join(json.dumps({"query": n["title"], "positive": n["body"]}, ensure_ascii=False) for n in news),
        encoding="utf-8",
    )
    dataset = with_distractors(load_retrieval_dataset(str(path)), "bundled")
    assert len(dataset.queries) == 40 and len(dataset.corpus) == 570  # its 40 bodies + 530 others
    a, b = two_models
    argv = ["--task", "retrieval", "--model", a, "--model", b, "--dataset", str(path)]
    assert main([*argv, "--distractors", "bundled", "--backend", "torch", "--output", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "compare.json").read_text())
    assert record["metric"] == "mrr@10" and record["n"] == 40 and record["corpus_size"] == 570
    from sentence_transformers import SentenceTransformer

    from evaluation.metrics import evaluate_retrieval

    alone = evaluate_retrieval(SentenceTransformer(a, device="cpu"), dataset)["metrics"]["mrr@10"]
    assert record["a"] == pytest.approx(alone, abs=1e-4)  # the comparison's A is A's own MRR@10


def test_bad_comparisons_are_clear_errors(two_models, tmp_path, capsys):
    a, b = two_models
    with pytest.raises(SystemExit):
        main(["--model", a])
    assert "exactly two models" in capsys.readouterr().err
    bad = tmp_path / "malo.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["--task", "retrieval", "--model", a, "--model", b, "--dataset", str(bad)]) == 2
    assert "needs columns query and positive, or title and body" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="distractors"):
        with_distractors(load_retrieval_dataset("bundled", limit=5), str(bad))


def test_a_comparison_runs_both_models_on_one_backend_whatever_serves(
    two_models, tmp_path, monkeypatch, capsys
):
    """Regression: each model ran on its own serving choice, and the verdict flipped with it."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_BACKEND", "onnx-int8")  # what serving would use: ignored by figures
    a, b = two_models
    argv = ["--model", a, "--model", b, "--bootstrap", "300"]
    assert main([*argv, "--output", str(tmp_path / "default")]) == 0
    default = json.loads((tmp_path / "default" / "compare.json").read_text())
    assert default["backend_a"] == default["backend_b"] == "torch"
    assert "both on torch" in capsys.readouterr().out
    assert main([*argv, "--backend", "torch", "--output", str(tmp_path / "torch")]) == 0
    explicit = json.loads((tmp_path / "torch" / "compare.json").read_text())
    assert [default[k] for k in ("delta", "ci95", "p_value")] == [
        explicit[k] for k in ("delta", "ci95", "p_value")
    ]
    assert main([*argv, "--backend", "onnx-int8", "--output", str(tmp_path / "onnx")]) == 0
    onnx = json.loads((tmp_path / "onnx" / "compare.json").read_text())
    assert onnx["backend_a"] == onnx["backend_b"] == "onnx-int8"  # one backend for both, as asked
    with pytest.raises(SystemExit):
        main([*argv, "--backend", "auto"])  # the speed choice is per model: never for figures
    assert "invalid choice: 'auto'" in capsys.readouterr().err


def test_compare_takes_one_search_per_side(two_models, tmp_path, capsys):
    """The same model ranking by words (B) against by meaning (A): the searches are compared, paired."""
    a, _ = two_models
    argv = ["--task", "retrieval", "--model", a, "--model", a, "--dataset", "bundled:keywords"]
    assert main([*argv, "--search", "dense", "--search", "bm25", "--output", str(tmp_path)]) == 0
    assert "(search: A dense, B bm25)" in capsys.readouterr().out
    record = json.loads((tmp_path / "compare.json").read_text())
    assert (record["search_a"], record["search_b"]) == ("dense", "bm25") and record["n"] == 143
    assert record["b"] > record["a"] and record["significant"]  # keyword queries are BM25's ground
    with pytest.raises(SystemExit):
        main([*argv, "--search", "dense", "--search", "bm25", "--search", "hybrid"])
    assert "give --search once" in capsys.readouterr().err
