"""`python -m evaluation mteb`: mteb's own task classes over the bundled data, offline, results in mteb's
result-cache layout; and the clear refusals."""

from __future__ import annotations

import json

import pytest

from evaluation.__main__ import main as evaluation_main


def test_bundled_tasks_run_through_mteb_and_agree_with_our_evaluation(tiny_model_dir, tmp_path, capsys):
    import mteb

    from core.corpora.data import load_news
    from core.models.handle import load_handle
    from evaluation.datasets import _pairs_retrieval, load_sts_dataset
    from evaluation.metrics import evaluate_retrieval, evaluate_sts

    output = tmp_path / "mteb"
    assert (
        evaluation_main(
            ["mteb", "--model", str(tiny_model_dir), "--tasks", "bundled", "--output", str(output)]
        )
        == 0
    )
    shown = capsys.readouterr().out
    folders = list((output / "results").glob("local__tiny-model/*"))
    assert len(folders) == 1 and (folders[0] / "model_meta.json").is_file()
    meta = json.loads((folders[0] / "model_meta.json").read_text())
    assert meta["name"] == "local/tiny-model"
    results = {path.stem: mteb.TaskResult.from_disk(path) for path in folders[0].glob("Workbench*.json")}
    assert set(results) == {"WorkbenchSTSes", "WorkbenchNewsRetrievalES"}
    sts = results["WorkbenchSTSes"].scores["test"][0]
    ours = evaluate_sts(
        load_handle(str(tiny_model_dir)).model, load_sts_dataset("bundled:test"), n_resamples=100
    )
    # 1e-3: the tiny random model puts many pairs' cosines within float noise of each other, and mteb
    # batches the sentences in another order, so a near-tie can swap (seen: 1.2e-4 once); another metric,
    # split or prompt moves the score by far more
    assert sts["main_score"] == pytest.approx(ours["metrics"]["spearman_cosine"], abs=1e-3)
    assert sts["languages"] == ["spa-Latn"]
    retrieval = results["WorkbenchNewsRetrievalES"].scores["test"][0]
    news = load_news()  # mteb's task: each headline asks for its own body only
    own = _pairs_retrieval("own", [item["title"] for item in news], [item["body"] for item in news], None)
    ours_retrieval = evaluate_retrieval(load_handle(str(tiny_model_dir)).model, own)["metrics"]
    assert retrieval["ndcg_at_10"] == pytest.approx(ours_retrieval["ndcg@10"], abs=1e-3)
    assert retrieval["main_score"] == retrieval["ndcg_at_10"]
    assert f"| WorkbenchSTSes | {sts['main_score']:.4f} |" in shown
    summary = json.loads((output / "summary.json").read_text())
    assert [row["task"] for row in summary["tasks"]] == ["WorkbenchSTSes", "WorkbenchNewsRetrievalES"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "run the offline tasks with --tasks bundled"),  # the Spanish benchmark needs the Hub
        (["--tasks", "NoSuchTask"], "Hub cannot be reached"),
    ],
)
def test_mteb_refuses_clearly_offline(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert evaluation_main(["mteb", "--output", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_task_names_are_refused(monkeypatch):
    from evaluation.mteb_run import MtebError, select_tasks

    with pytest.raises(MtebError, match="Unknown MTEB task"):
        select_tasks(["NoSuchTask"])
    assert [task.metadata.name for task in select_tasks(["STSES"])] == ["STSES"]
