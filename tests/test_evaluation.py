from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from core.models.loader import load_model
from evaluation.__main__ import main
from evaluation.datasets import DatasetError, load_retrieval_dataset, load_sts_dataset
from evaluation.metrics import bootstrap_spearman_ci, evaluate_retrieval, evaluate_sts, reciprocal_ranks


@pytest.fixture
def results_cache(tmp_path, monkeypatch):
    monkeypatch.setattr("evaluation.runner.cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def test_evaluator_cosine_spearman_matches_scipy_on_same_embeddings(tiny_model_dir):
    model = load_model(str(tiny_model_dir), device="cpu")
    dataset = load_sts_dataset("bundled:test")
    result = evaluate_sts(model, dataset, n_resamples=200)
    first = model.encode(dataset.sentences1)
    second = model.encode(dataset.sentences2)
    cosine = (first * second).sum(1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
    assert np.allclose(result["predictions"], cosine, atol=1e-5)
    # Spearman from the evaluator's own cosines: a random tiny model puts many pairs within 1e-6 of each
    # other, so re-encoded cosines (other batches, other padding) can swap a few ranks (seen once in CI).
    expected = spearmanr(result["predictions"], dataset.scores).statistic
    assert result["metrics"]["spearman_cosine"] == pytest.approx(expected, abs=1e-6)
    assert set(result["metrics"]) >= {
        f"{m}_{s}" for m in ("spearman", "pearson") for s in ("cosine", "dot", "euclidean", "manhattan")
    }
    again = evaluate_sts(
        model, dataset, n_resamples=200
    )  # the interval is seeded: the same resamples give the same bounds
    assert result["ci95"] == again["ci95"] and result["ci95"][0] < result["ci95"][1]


def test_every_path_scores_sts_with_the_one_evaluator(tiny_model_dir):
    """The evaluation CLI, training's evaluator, the backend quality check and the benchmark give one STS
    figure for one model on one set: they all build the evaluator in core/models/evaluators.py."""
    from types import SimpleNamespace

    from core.models.backend_choice import QualityCheck
    from core.models.evaluators import sts_evaluator, sts_spearman

    model = load_model(str(tiny_model_dir), device="cpu")
    dataset = load_sts_dataset("bundled:test")
    cli = evaluate_sts(model, dataset, n_resamples=100)["metrics"]["spearman_cosine"]
    training = sts_evaluator(dataset, name="sts-test")(model)["sts-test_spearman_cosine"]
    quality = QualityCheck(dataset.sentences1, dataset.sentences2, dataset.scores, ["Sube el paro"])
    check = quality.compare(quality.embed(model), model)
    bench, cosines = sts_spearman(model, dataset)
    assert training == pytest.approx(cli, abs=1e-6) and bench == pytest.approx(cli, abs=1e-6)
    assert check["sts_spearman"] == pytest.approx(cli, abs=1e-6) and check["sts_spearman_change"] == 0
    assert cosines.dtype == np.float32 and len(cosines) == len(dataset.scores)
    # a bf16 model's embeddings are scored in float32 (a bf16 cosine of a text with itself can exceed 1)
    import torch

    same = SimpleNamespace(sentences1=["Sube el paro"], sentences2=["Sube el paro"], scores=[5.0])
    evaluator = sts_evaluator(same)
    evaluator.recorded = [torch.tensor([[0.3, 0.7, 0.648]], dtype=torch.bfloat16)] * 2
    from core.models.evaluators import sts_cosines

    assert sts_cosines(evaluator)[0] == pytest.approx(1.0, abs=1e-6)


def test_bootstrap_ci_is_seeded_and_shrinks_with_more_pairs():
    rng = np.random.default_rng(1)
    gold = rng.uniform(0, 5, 2000)
    predicted = gold + rng.normal(0, 1.5, 2000)
    assert bootstrap_spearman_ci(predicted[:100], gold[:100], seed=3) == bootstrap_spearman_ci(
        predicted[:100], gold[:100], seed=3
    )
    small = bootstrap_spearman_ci(predicted[:100], gold[:100])
    large = bootstrap_spearman_ci(predicted, gold)
    assert small[1] - small[0] > large[1] - large[0]
    point = spearmanr(predicted, gold).statistic
    assert large[0] < point < large[1]


def test_local_file_scores_on_unit_scale_are_rescaled(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "sentence1\tsentence2\tscore\nUna casa\tUn hogar\t0.9\nUn gato\tUn coche\t0.1\n"
        "Llueve\tHace frío\t0.4\n",
        encoding="utf-8",
    )
    dataset = load_sts_dataset(str(path))
    assert dataset.scores == pytest.approx([4.5, 0.5, 2.0])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.tsv", "", "has no rows"),
        ("cols.csv", "a,b,c\n1,2,3\n", "needs columns sentence1, sentence2 and score"),
        ("range.jsonl", '{"sentence1": "a", "sentence2": "b", "score": 7}\n', "line 1 needs .* from 0 to 5"),
        ("header.csv", "sentence1,sentence2,score\n", "has no rows"),
        ("few.csv", "sentence1,sentence2,score\na,b,1\nc,d,2\n", "at least 3 pairs"),
    ],
)
def test_bad_sts_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        load_sts_dataset(str(path))


def test_unknown_and_offline_datasets():
    with pytest.raises(DatasetError, match="Unknown STS dataset 'stsb'"):
        load_sts_dataset("stsb")
    with pytest.raises(DatasetError, match="use bundled:test, which works offline"):
        load_sts_dataset("stsb_multi_mt:es:test")
    with pytest.raises(DatasetError, match="Unknown retrieval dataset"):
        load_retrieval_dataset("bundle")


def test_bundled_retrieval_counts_retellings_as_relevant(tiny_model_dir):
    dataset = load_retrieval_dataset("bundled")
    assert len(dataset.queries) == len(dataset.corpus) == 570
    assert sum(len(docs) == 2 for docs in dataset.relevant.values()) == 100  # 50 pairs, both ways
    small = load_retrieval_dataset("bundled", limit=40)
    result = evaluate_retrieval(load_model(str(tiny_model_dir), device="cpu"), small)
    assert set(result["metrics"]) == {"mrr@10", "ndcg@10", "recall@1", "recall@5", "recall@10", "map@100"}
    assert result["n"] == 40
    ranks = reciprocal_ranks(
        load_model(str(tiny_model_dir), device="cpu"), small
    )  # per query, computed apart
    assert result["metrics"]["mrr@10"] == pytest.approx(float(np.mean(ranks)), abs=1e-6)


def test_cli_compares_models_writes_outputs_and_caches(tiny_model_dir, tmp_path, results_cache, capsys):
    other = tmp_path / "other-model"
    import shutil

    shutil.copytree(tiny_model_dir, other)
    output = tmp_path / "results"
    argv = ["sts", "--model", str(tiny_model_dir), "--model", str(other), "--dataset", "bundled:test"]
    assert main([*argv, "--output", str(output), "--bootstrap", "200"]) == 0
    table = capsys.readouterr().out
    assert table.count("| bundled:test |") == 2 and "| no |" in table
    records = json.loads((output / "results.json").read_text())
    assert len(records) == 2 and records[0]["model_fingerprint"] == records[1]["model_fingerprint"]
    assert {"spearman_cosine", "pearson_manhattan"} <= set(records[0]["metrics"])
    assert records[0]["versions"]["sentence-transformers"] and records[0]["date"]
    header = (output / "results.csv").read_text().splitlines()[0]
    assert "spearman_cosine_ci95_low" in header and "dataset_fingerprint" in header
    html = (output / "report.html").read_text()
    assert "Predicción del modelo frente a la referencia" in html and "plotly" in html
    assert (
        "<table>" in html and "<th>Spearman cos</th>" in html and "|---" not in html
    )  # a table, not markdown
    assert (output / "report.html").stat().st_mode & 0o044 == 0o044  # readable by others, like any output
    assert main([*argv, "--bootstrap", "200"]) == 0
    assert capsys.readouterr().out.count("| yes |") == 2
    assert main([*argv, "--bootstrap", "200", "--no-cache"]) == 0
    assert capsys.readouterr().out.count("| no |") == 2


def test_cli_bad_model_and_dataset_are_one_line(tmp_path, results_cache, capsys):
    assert main(["sts", "--model", str(tmp_path), "--dataset", "bundled:test"]) == 2
    err = capsys.readouterr().err
    assert "not a model folder" in err and err.count("\n") == 1
    assert main(["retrieval", "--model", "no-org/no-model", "--dataset", "bundled"]) == 2
    assert "builtin:multilingual-e5-small" in capsys.readouterr().err
    assert main(["sts", "--dataset", "nonsense"]) == 2
    assert "Unknown STS dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_builtin_model_on_bundled_sts_and_retrieval(results_cache):
    from evaluation.runner import run_retrieval, run_sts

    sts = run_sts("builtin:multilingual-e5-small", load_sts_dataset("bundled:test"), n_resamples=200)
    assert 0.7 < sts["metrics"]["spearman_cosine"] < 0.95
    retrieval = run_retrieval("builtin:multilingual-e5-small", load_retrieval_dataset("bundled", limit=120))
    assert retrieval["metrics"]["mrr@10"] > 0.9


def test_the_app_evaluation_tab_function_runs_without_gradio(tiny_model_dir, results_cache, monkeypatch):
    from space.evaluate import evaluate_models

    monkeypatch.setenv("WORKBENCH_BACKEND", "onnx-int8")  # serving's choice: the tab's figures ignore it
    steps = []
    table, bars, scatter, note, verdict, changed, csv_path = evaluate_models(
        [str(tiny_model_dir)], progress=lambda f, desc: steps.append(desc)
    )
    assert [row[:2] for row in table] == [[str(tiny_model_dir), "STS propio (test, 150 pares)"]] and table[0][
        5
    ] == 150
    assert bars.data and scatter.data and "150 pares" in note and steps
    again = evaluate_models([str(tiny_model_dir)])[0]
    assert again[0][-1] == "sí" and again[0][2] == table[0][2]  # read back from the results cache
    assert table[0][6] == "torch"  # the backend each model was evaluated on, named in the table


def test_retrieval_cli_ranks_by_each_search_and_records_it(tiny_model_dir, tmp_path, results_cache, capsys):
    """--search repeats like --dataset; each record names its search, and the metrics are the ranking's."""
    from evaluation.metrics import ranked_metrics, ranked_rows

    output = tmp_path / "results"
    argv = ["retrieval", "--model", str(tiny_model_dir), "--dataset", "bundled:keywords", "--limit", "30"]
    assert main([*argv, "--search", "bm25", "--search", "hybrid", "--output", str(output)]) == 0
    table = capsys.readouterr().out
    assert "| bundled:keywords | bm25 |" in table and "| bundled:keywords | hybrid |" in table
    records = json.loads((output / "results.json").read_text())
    assert [r["search"] for r in records] == ["bm25", "hybrid"] and records[0]["options"]["search"] == "bm25"
    dataset = load_retrieval_dataset("bundled:keywords", 30)
    ranked = ranked_rows(load_model(str(tiny_model_dir)), dataset, ("bm25",))["bm25"]
    assert records[0]["metrics"] == pytest.approx(ranked_metrics(dataset, ranked))
    assert records[0]["metrics"]["mrr@10"] > 0.9  # the keyword set is what BM25 is for
    # dense through our ranking gives sentence-transformers' evaluator's figures
    model = load_model(str(tiny_model_dir))
    dense = ranked_metrics(dataset, ranked_rows(model, dataset, ("dense",))["dense"])
    assert dense == pytest.approx(evaluate_retrieval(model, dataset)["metrics"], abs=1e-6)
