"""Training end to end on the tiny model: outputs, errors, checkpoints, kill and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer

from core.paths import PROJECT_ROOT
from trainer.arguments import ConfigError, parse_train_args
from trainer.checkpoints import OutputDirError, checkpoint_problem, last_complete_checkpoint, plan_output_dir
from trainer.runs import main as runs_main
from trainer.sagemaker import ENTRY_SCRIPT, REQUIREMENTS
from trainer.tracking import METRIC_LINE, format_metric_line, metric_regex, parse_metric_line
from trainer.train import main as train_main
from trainer.train import train


def _flags(model_dir, output_dir, *extra):
    return [
        "--model_name_or_path", str(model_dir),
        "--output_dir", str(output_dir),
        "--report_to", "none",
        "--max_train_samples", "96",
        "--per_device_train_batch_size", "16",
        "--eval_steps", "3",
        "--save_steps", "3",
        "--logging_steps", "1",
        "--experiment", "tests",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(_tiny_model_master, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "tiny-run"
    record = train(*parse_train_args(_flags(_tiny_model_master, output)))
    return output, record


def test_run_writes_final_metrics_and_record(finished_run):
    output, record = finished_run
    assert record["status"] == "finished" and record["global_step"] == 6
    assert (output / "final" / "modules.json").is_file()
    assert (output / "final" / "README.md").read_text().startswith("---")  # generated model card
    metrics = json.loads((output / "metrics.json").read_text())
    # the recorded figures are the models' own: evaluating them again gives the same numbers
    from evaluation.datasets import load_sts_dataset
    from evaluation.metrics import evaluate_sts

    dataset = load_sts_dataset("bundled:test")
    for split, model_dir in (("test", output / "final"), ("baseline_test", record["model"])):
        again = evaluate_sts(SentenceTransformer(str(model_dir), device="cpu"), dataset, n_resamples=100)
        assert metrics[split]["sts-test_spearman_cosine"] == pytest.approx(
            again["metrics"]["spearman_cosine"], abs=1e-3
        )
    assert metrics["test"] != metrics["baseline_test"]  # training changed the model
    # a lean run folder: final/ and the latest checkpoint (with its optimizer state), older ones removed
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-6"]
    assert (output / "checkpoint-6" / "optimizer.pt").is_file()
    disk = record["disk"]
    assert disk["latest_checkpoint"] == "checkpoint-6" and disk["removed_bytes"] > 0
    assert disk["weights_bytes"] == (output / "final" / "model.safetensors").stat().st_size
    on_disk = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    assert abs(disk["run_folder_bytes"] - on_disk) < 100_000  # the size it reports is the folder's
    assert metrics["best_checkpoint"].endswith(("checkpoint-3", "checkpoint-6"))
    run = json.loads((output / "run.json").read_text())
    assert run["config"]["loss"] == "mnrl" and run["config"]["learning_rate"] == 2e-5
    assert run["versions"]["sentence-transformers"] and run["sources"]["sts_dev"] == "bundled:dev"


def test_final_model_loads_in_predict(finished_run, capsys):
    from trainer.predict import main as predict_main

    output, _ = finished_run
    assert predict_main(["--model", str(output / "final"), "Sube el paro", "Baja el desempleo"]) == 0
    model = SentenceTransformer(str(output / "final"), device="cpu")
    a, b = model.encode(["Sube el paro", "Baja el desempleo"], normalize_embeddings=True)
    assert float(capsys.readouterr().out) == pytest.approx(float(a @ b), abs=1e-3)


def test_finished_run_is_not_overwritten(finished_run, capsys):
    output, _ = finished_run
    assert train_main(_flags("unused", output)) == 2
    assert "holds a finished run" in capsys.readouterr().err


def test_runs_lists_the_run_with_metrics(finished_run, capsys):
    output, record = finished_run
    assert runs_main(["--root", str(output.parent), "--experiment", "tests"]) == 0
    table = capsys.readouterr().out
    assert str(output) in table and f"{record['metrics']['sts-test_spearman_cosine']:.4f}" in table
    assert (output / "final" / "run.json").is_file()  # the copy that travels with the model…
    assert table.count(f"{record['metrics']['sts-test_spearman_cosine']:.4f}") == 1  # …is not a second run
    sts = record["paired"]["sts"]  # the paired difference against the base, as in metrics.json
    assert f"STS {sts['delta']:+.4f}" in table and f"[{sts['ci95'][0]:+.4f}, {sts['ci95'][1]:+.4f}]" in table
    assert runs_main(["--root", str(output.parent), "--experiment", "other"]) == 0
    assert "No runs of experiment 'other'" in capsys.readouterr().out


def test_checkpoint_validation_skips_half_written(finished_run, tmp_path):
    output, _ = finished_run
    good = last_complete_checkpoint(output)
    assert good is not None and checkpoint_problem(good) is None
    work = tmp_path / "out"
    shutil.copytree(good, work / good.name)
    state = work / good.name / "trainer_state.json"  # a run still under way: its last step is ahead
    state.write_text(json.dumps(json.loads(state.read_text()) | {"max_steps": 10_000}))
    for name, damage in [
        ("optimizer.pt", "truncate"),
        ("model.safetensors", "truncate"),
        ("trainer_state.json", "delete"),
    ]:
        broken = work / "checkpoint-999"
        shutil.copytree(good, broken)
        (broken / "trainer_state.json").write_text(
            (broken / "trainer_state.json")
            .read_text()
            .replace(f'"global_step": {good.name.split("-")[1]}', '"global_step": 999')
        )
        target = broken / name
        if damage == "delete":
            target.unlink()
        else:
            target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        assert checkpoint_problem(broken) is not None
        assert last_complete_checkpoint(work) == work / good.name
        assert plan_output_dir(work, None, overwrite=False) == work / good.name
        shutil.rmtree(broken)


def test_a_finished_runs_checkpoints_are_not_silently_resumed(finished_run, tmp_path):
    output, record = finished_run
    work = tmp_path / "reused"
    final_checkpoint = output / f"checkpoint-{record['global_step']}"
    shutil.copytree(final_checkpoint, work / final_checkpoint.name)  # final/ and metrics.json gone
    with pytest.raises(OutputDirError, match="already finished training .checkpoint-6, step 6 of 6."):
        plan_output_dir(work, None, overwrite=False)
    asked = plan_output_dir(work, str(work / final_checkpoint.name), overwrite=False)
    assert asked == work / final_checkpoint.name  # continuing it on purpose stays possible
    assert plan_output_dir(work, None, overwrite=True) is None


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path):
    """Killed after its first evaluation (the evaluators' CSVs in eval/) but before any checkpoint: a
    spot restart must start again, not fail on a folder it wrote itself."""
    run = tmp_path / "run"
    for folder in ("data", "eval", "trackio"):
        (run / folder).mkdir(parents=True)
    (run / "eval" / "similarity_evaluation_sts-dev_results.csv").write_text("epoch,steps\n")
    (run / "run.json").write_text("{}")
    assert plan_output_dir(run, None, overwrite=False) is None


def test_output_dir_rules(tmp_path):
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("x")
    with pytest.raises(OutputDirError, match="not empty"):
        plan_output_dir(stranger, None, overwrite=False)
    assert plan_output_dir(stranger, None, overwrite=True) is None
    assert (stranger / "notes.txt").exists()  # overwrite removes only run outputs
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match="Cannot write"):
        plan_output_dir(blocker / "run", None, overwrite=False)
    with pytest.raises(OutputDirError, match="not usable"):
        plan_output_dir(tmp_path / "new", str(tmp_path / "checkpoint-5"), overwrite=False)


def test_config_file_with_flags_winning_and_unknown_keys(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("loss: cached-mnrl\nlearning_rate: 1.0e-4\noutput_dir: from-config\n")
    model_args, _, loss_args, _, training_args = parse_train_args(
        ["--config", str(config), "--output_dir", "cli"]
    )
    assert loss_args.loss == "cached-mnrl" and training_args.learning_rate == 1e-4
    assert training_args.output_dir == "cli"
    assert model_args.model_name_or_path == "bertin-project/bertin-roberta-base-spanish"
    config.write_text("lr: 1\n")
    with pytest.raises(ConfigError, match="unknown key.*lr"):
        parse_train_args(["--config", str(config)])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--loss", "triplet"], "--loss 'triplet' is unknown"),
        (["--matryoshka_dims", "a,b"], "must be integers"),
        (["--pooling", "median"], "--pooling 'median' is unknown"),
    ],
)
def test_bad_arguments_are_one_line(flags, message, capsys, tmp_path):
    assert train_main(["--output_dir", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_unloadable_model_and_cosent_without_scores(_tiny_model_master, tmp_path, capsys):
    assert train_main(_flags("no-org/no-model", tmp_path / "a")) == 2
    assert "builtin:multilingual-e5-small" in capsys.readouterr().err
    assert train_main(_flags(_tiny_model_master, tmp_path / "b", "--loss", "cosent")) == 2
    assert "--loss cosent needs scored pairs" in capsys.readouterr().err
    assert not (tmp_path / "b" / "final").exists()


def test_matryoshka_and_cached_losses_train(_tiny_model_master, tmp_path):
    flags = _flags(
        _tiny_model_master, tmp_path / "m", "--loss", "cached-mnrl", "--mini_batch_size", "4",
        "--matryoshka_dims", "32,16", "--max_train_samples", "32", "--evaluate_before_training", "false",
    )  # fmt: skip
    record = train(*parse_train_args(flags))
    assert record["status"] == "finished" and record["loss"] == "cached-mnrl+matryoshka[32, 16]"
    # the test figures at each dimension: the full one equals the test metrics, the cut one is the model's
    # own score with its embeddings cut to 16 values
    from evaluation.datasets import load_sts_dataset
    from evaluation.metrics import evaluate_sts

    per_dimension = json.loads((tmp_path / "m" / "metrics.json").read_text())["matryoshka"]
    assert set(per_dimension) == {"32", "16"}
    key = "sts-test_spearman_cosine"
    assert per_dimension["32"][key] == pytest.approx(record["metrics"][key], abs=1e-6)
    assert "retrieval-test_cosine_mrr@10" in per_dimension["16"]
    final = SentenceTransformer(str(tmp_path / "m" / "final"), device="cpu", truncate_dim=16)
    cut = evaluate_sts(final, load_sts_dataset(record["sources"]["sts_test"]), n_resamples=100)
    assert cut["metrics"]["spearman_cosine"] == pytest.approx(per_dimension["16"][key], abs=1e-4)
    assert cut["metrics"]["spearman_cosine"] != pytest.approx(record["metrics"][key], abs=1e-6)


def _run_train_cli(flags: list[str], env: dict) -> subprocess.CompletedProcess:
    """``python -m trainer train FLAGS`` in a subprocess; fails the test with its stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "train", *flags],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _optimizer_steps(checkpoint: Path) -> int:
    state = torch.load(checkpoint / "optimizer.pt", weights_only=True)["state"]
    return int(next(iter(state.values()))["step"])


def _final_checkpoint(output: Path) -> Path:
    metrics = json.loads((output / "metrics.json").read_text())
    return output / f"checkpoint-{metrics['global_step']}"


def test_kill_and_resume_matches_uninterrupted_run(_tiny_model_master, tmp_path):
    """SIGKILL a real training process mid-way, resume it, and compare with an uninterrupted run; trackio
    holds each step once, on the trainer's global step, and run.json counts the time of both attempts."""
    flags = _flags(
        _tiny_model_master, "OUT", "--max_train_samples", "400", "--num_train_epochs", "3",
        "--evaluate_before_training", "false", "--save_total_limit", "10", "--run_name", "NAME",
    )  # fmt: skip
    flags[flags.index("--report_to") + 1] = "trackio"
    command = [sys.executable, "-m", "trainer", "train", *flags]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKIO_DIR": str(tmp_path / "trackio")}

    def run(output, **kwargs):
        names = {"OUT": str(output), "NAME": output.name}
        args = [names.get(part, part) for part in command]
        return subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **kwargs,
        )

    reference = tmp_path / "reference"
    out, _ = run(reference).communicate(timeout=600)
    assert (reference / "final").is_dir(), out[-2000:]
    metric_lines = [line for line in out.splitlines() if line.startswith("metric: ")]
    assert metric_lines and all(METRIC_LINE.match(line) for line in metric_lines)
    evaluations = [parse_metric_line(line) for line in metric_lines if " eval_loss=" in line]
    steps = [line["step"] for line in evaluations]
    assert steps == list(range(3, int(steps[-1]) + 1, 3))  # one line per evaluation (every 3 steps)
    assert all("eval_sts-dev_spearman_cosine" in line for line in evaluations)
    # a log, not a terminal: plain lines, no progress bar, no second copy of each log as a dict
    assert "\r" not in out and "it/s]" not in out and "█" not in out and "{'loss'" not in out, out[-3000:]

    interrupted = tmp_path / "interrupted"
    launched = time.time()
    process = run(interrupted)
    deadline = time.time() + 300
    while last_complete_checkpoint(interrupted) is None or not (interrupted / "checkpoint-6").exists():
        assert process.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    lived = time.time() - launched
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (interrupted / "final").exists() and not (interrupted / "metrics.json").exists()
    first_attempt = json.loads((interrupted / "run.json").read_text())
    assert (
        first_attempt["status"] == "running" and 0 < first_attempt["seconds"] <= lived
    )  # the killed attempt

    out, _ = run(interrupted).communicate(timeout=600)
    assert "Resuming from the latest complete checkpoint" in out, out[-2000:]
    assert (interrupted / "final" / "modules.json").is_file()
    ref_metrics = json.loads((reference / "metrics.json").read_text())
    resumed_metrics = json.loads((interrupted / "metrics.json").read_text())
    assert resumed_metrics["global_step"] == ref_metrics["global_step"]
    assert _optimizer_steps(_final_checkpoint(interrupted)) == _optimizer_steps(_final_checkpoint(reference))
    assert zipfile.is_zipfile(_final_checkpoint(interrupted) / "optimizer.pt")
    record = json.loads((interrupted / "run.json").read_text())
    assert record["attempts"] == 2 and json.loads((reference / "run.json").read_text())["attempts"] == 1
    assert record["seconds"] >= first_attempt["seconds"] + resumed_metrics["train_runtime_s"]

    def logged(run_name):
        read = (
            "import json; from trackio.sqlite_storage import SQLiteStorage as S; "
            f"print(json.dumps(S.get_logs('tests', {run_name!r})))"
        )
        done = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        logs = json.loads(done.stdout.strip().splitlines()[-1])
        return {key: [log["step"] for log in logs if key in log] for key in ("train/loss", "eval/loss")}

    steps = logged("interrupted")
    assert steps == logged("reference"), steps  # no step twice after the resume, none missing
    assert steps["train/loss"] == list(range(1, ref_metrics["global_step"] + 1))  # logging_steps 1


def test_metric_regex_matches_metric_lines():
    import re

    line = format_metric_line(
        {"eval_loss": 0.31, "eval_sts-dev_spearman_cosine": 0.8123, "eval_retrieval-dev_cosine_mrr@10": 1e-05,
         "epoch": 1.0, "eval_nan": float("nan"), "note": "text"}, 500, 1.0,
    )  # fmt: skip
    assert line == (
        "metric: step=500 epoch=1 eval_loss=0.31 eval_sts-dev_spearman_cosine=0.8123 "
        "eval_retrieval-dev_cosine_mrr@10=1e-05"
    )
    assert re.search(metric_regex("eval_sts-dev_spearman_cosine"), line).group(1) == "0.8123"
    assert re.search(metric_regex("eval_retrieval-dev_cosine_mrr@10"), line).group(1) == "1e-05"
    assert re.search(metric_regex("loss"), line) is None  # eval_loss is not loss
    assert parse_metric_line(line) == {
        "step": 500, "epoch": 1, "eval_loss": 0.31, "eval_sts-dev_spearman_cosine": 0.8123,
        "eval_retrieval-dev_cosine_mrr@10": 1e-05,
    }  # fmt: skip
    assert (
        parse_metric_line("2026-12-06 INFO loss=3") is None and format_metric_line({"a": "x"}, 1, 0) is None
    )


def test_trackio_records_config_metrics_over_time_and_test_metrics(_tiny_model_master, tmp_path):
    """trackio (the default tracker) gets the run, its config, dev metrics per step and test metrics."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKIO_DIR": str(tmp_path / "trackio")}
    flags = _flags(_tiny_model_master, tmp_path / "run")
    flags[flags.index("--report_to") + 1] = "trackio"
    flags += ["--run_name", "run"]
    _run_train_cli(flags, env)
    read = (
        "import json; from trackio.sqlite_storage import SQLiteStorage as S; "
        "print(json.dumps({'logs': S.get_logs('tests', 'run'), 'config': S.get_run_config('tests', 'run')}))"
    )
    stored = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, check=True)
    data = json.loads(stored.stdout.strip().splitlines()[-1])
    keys = {key for log in data["logs"] for key in log}
    # the trainer's trackio callback files metrics under train/ and eval/
    assert {"eval/sts-dev_spearman_cosine", "train/loss", "test_sts-test_spearman_cosine"} <= keys, keys
    assert sum("eval/sts-dev_spearman_cosine" in log for log in data["logs"]) >= 2  # over time
    assert data["config"]["learning_rate"] == 2e-5


def test_ready_configs_parse(tmp_path):
    offline = parse_train_args(["--config", str(PROJECT_ROOT / "trainer/configs/offline.yaml")])
    assert offline[0].model_name_or_path == "builtin:multilingual-e5-small"
    assert offline[-1].report_to == ["trackio"]
    from core.models.builtin import E5_PROMPTS

    # trained with the prompts it is served with: headlines as queries, bodies as passages
    assert offline[-1].prompts == {"anchor": E5_PROMPTS["query"], "positive": E5_PROMPTS["document"]}
    assert offline[-1].multi_dataset_batch_sampler == "round_robin"  # the sampler docs/training.md measured
    gpu_recipe = PROJECT_ROOT / "trainer/configs/bertin-cc-news.yaml"
    bertin = parse_train_args(["--config", str(gpu_recipe), "--bf16", "false"])  # bf16 needs a GPU
    assert bertin[0].model_name_or_path == "bertin-project/bertin-roberta-base-spanish"
    assert bertin[1].prepared_data == "data/cc-news-es" and bertin[2].loss == "mnrl"


def _site_with_only(requirements: Path, extra: list[str], folder: Path) -> Path:
    """A site-packages folder holding links to the installed distributions that ``requirements`` (plus
    ``extra``) need, with their dependencies and nothing else: what a job that installs this file sees."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    todo = [Requirement(line).name for line in lines if line] + extra
    seen: set[str] = set()
    folder.mkdir(parents=True)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for requirement in map(Requirement, dist.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        site = Path(dist.locate_file(""))
        for top in {Path(str(file)).parts[0] for file in dist.files or []} - {"..", "__pycache__"}:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)
    return folder


def test_sagemaker_script_mode_puts_everything_where_sagemaker_expects(_tiny_model_master, tmp_path):
    """`python -m trainer train` inside a SageMaker container: paths come from the SM_* variables."""
    from datasets import DatasetDict

    from trainer.prepare import PrepareArguments, prepare, save_prepared

    splits, stats = prepare(PrepareArguments(tokenizer=str(_tiny_model_master)))
    train_channel = save_prepared(splits, stats, tmp_path / "input" / "train")
    test_only = DatasetDict(test=splits["test"].select(range(20)))
    test_channel = save_prepared(test_only, stats, tmp_path / "input" / "test")
    sm = {
        "SM_TRAINING_ENV": "{}",
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_CHANNEL_TRAIN": str(train_channel),
        "SM_CHANNEL_TEST": str(test_channel),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output" / "data"),
    }
    # hyperparameters arrive as CLI flags; the launcher sets --output_dir to the checkpoint folder
    flags = _flags(_tiny_model_master, tmp_path / "checkpoints", "--max_train_samples", "48")
    flags[flags.index("--report_to") + 1] = "trackio"
    # The job's Python holds only what the launcher installs on the image (and the image's torch): the
    # entry script runs with nothing else importable.
    job_site = _site_with_only(PROJECT_ROOT / REQUIREMENTS, ["torch"], tmp_path / "site")
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TRACKIO_DIR": str(tmp_path / "trackio"), **sm,
        "PYTHONPATH": str(job_site), "PYTHONNOUSERSITE": "1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-S", ENTRY_SCRIPT, *flags],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "model" / "modules.json").is_file()  # packed by SageMaker into model.tar.gz
    assert (tmp_path / "model" / "metrics.json").is_file()
    assert not (tmp_path / "checkpoints" / "final").exists()
    assert list((tmp_path / "checkpoints").glob("checkpoint-*"))
    assert {p.name for p in (tmp_path / "output" / "data").iterdir()} == {"metrics.json", "run.json"}
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    run = json.loads((tmp_path / "output" / "data" / "run.json").read_text())
    assert run["data"]["test"] == 20 and run["config"]["prepared_data"] == str(train_channel)
    assert "retrieval-test_cosine_mrr@10" in metrics["test"]


def test_sagemaker_defaults_without_flags(monkeypatch):
    monkeypatch.setenv("SM_TRAINING_ENV", "{}")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    _, data_args, _, run_args, training_args = parse_train_args([])
    assert training_args.output_dir == "/opt/ml/checkpoints"
    assert data_args.prepared_data == "/opt/ml/input/data/train" and run_args.model_dir == "/opt/ml/model"


def test_two_process_gloo_training_saves_once(_tiny_model_master, tmp_path):
    """torchrun with 2 CPU processes (gloo): DDP training, in-batch negatives gathered across processes."""
    output = tmp_path / "ddp"
    flags = _flags(
        _tiny_model_master, output, "--ddp_backend", "gloo", "--gather_across_devices", "true",
        "--per_device_train_batch_size", "8", "--evaluate_before_training", "false",
    )  # fmt: skip
    # Rank 0 writes its checkpoints slowly (as on a network disk), so a rank that read the best checkpoint
    # before it is complete would fail to load it.
    slow_disk = tmp_path / "slow_disk.py"
    slow_disk.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        "from sentence_transformers import SentenceTransformerTrainer as T\n"
        "save = T._save\n"
        "def slow_save(self, *args, **kwargs):\n"
        "    if os.environ.get('RANK') == '0':\n"
        "        time.sleep(2)\n"
        "    return save(self, *args, **kwargs)\n"
        "T._save = slow_save\n"
        "from trainer.train import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(slow_disk), *flags]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # every rank loads the best checkpoint only once it is complete on disk
    assert "Could not load the best model" not in done.stdout + done.stderr
    run = json.loads((output / "run.json").read_text())
    assert run["world_size"] == 2 and run["status"] == "finished"
    assert run["global_step"] == 6  # 96 pairs / (8 per device x 2 devices)
    assert len(list(tmp_path.rglob("metrics.json"))) == 2  # output_dir and inside final/
    assert len(list(tmp_path.rglob("modules.json"))) == len(list(output.glob("checkpoint-*"))) + 1
    summaries = [line for line in done.stdout.splitlines() if line.startswith("Finished in")]
    assert len(summaries) == 1
    test_lines = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("metric: ") and " test_sts-test_spearman_cosine=" in line
    ]
    assert len(test_lines) == 1  # metric lines come from the main process only


def test_hard_negatives_are_mined_with_the_base_model_and_its_prompts(_tiny_model_master):
    from types import SimpleNamespace

    from datasets import Dataset

    from core.corpora.data import load_news
    from trainer.training_data import add_hard_negatives

    news = load_news()[:60]
    train_split = Dataset.from_dict(
        {"anchor": [n["title"] for n in news], "positive": [n["body"] for n in news]}
    )
    model = SentenceTransformer(str(_tiny_model_master), device="cpu")
    args = SimpleNamespace(per_device_eval_batch_size=16, prompts={"anchor": "q: ", "positive": "p: "})
    mined = add_hard_negatives(model, train_split, 2, args, relative_margin=None)  # a random model: no margin
    assert mined.column_names == ["anchor", "positive", "negative_1", "negative_2"] and len(mined) > 0
    bodies = {n["body"] for n in news}
    for row in mined:
        assert row["negative_1"] in bodies and row["negative_1"] != row["positive"]  # another story's body
        assert row["negative_2"] not in (row["positive"], row["negative_1"])
    assert args.prompts == {"anchor": "q: ", "positive": "p: ", "negative_1": "p: ", "negative_2": "p: "}


def test_hard_negatives_are_refused_when_none_can_be_found_or_below_zero(_tiny_model_master, tmp_path):
    from types import SimpleNamespace

    from datasets import Dataset

    from trainer.training_data import add_hard_negatives

    model = SentenceTransformer(str(_tiny_model_master), device="cpu")
    same = Dataset.from_dict({"anchor": ["Sube el paro"] * 4, "positive": ["El paro sube en marzo"] * 4})
    args = SimpleNamespace(per_device_eval_batch_size=16, prompts=None)
    with pytest.raises(ConfigError, match="too small or too uniform for --hard_negatives"):
        add_hard_negatives(model, same, 1, args)
    with pytest.raises(ConfigError, match="--hard_negatives must be 0 or more"):
        parse_train_args(_flags(_tiny_model_master, tmp_path / "a", "--hard_negatives", "-1"))


def test_paired_before_after_is_scored_on_the_test_evaluators_items(finished_run):
    """metrics.json's paired differences use the same pairs and queries as the test evaluators: each side
    reproduces the evaluator's own score, and the interval holds the difference."""
    output, record = finished_run
    metrics = json.loads((output / "metrics.json").read_text())
    sts, retrieval = metrics["paired"]["sts"], metrics["paired"]["retrieval"]
    base, tuned = metrics["baseline_test"], metrics["test"]
    assert sts["a"] == pytest.approx(base["sts-test_spearman_cosine"], abs=1e-4)
    assert sts["b"] == pytest.approx(tuned["sts-test_spearman_cosine"], abs=1e-4)
    assert retrieval["a"] == pytest.approx(base["retrieval-test_cosine_mrr@10"], abs=1e-4)
    assert retrieval["b"] == pytest.approx(tuned["retrieval-test_cosine_mrr@10"], abs=1e-4)
    assert retrieval["n"] == record["data"]["test"] and sts["dataset"] == metrics["sources"]["sts_test"]
    for row in (sts, retrieval):
        low, high = row["ci95"]
        assert (row["p_value"] < 0.05) == (low > 0 or high < 0)  # the p-value inverts the BCa interval
        assert row["delta"] == pytest.approx(row["b"] - row["a"])
    items = json.loads((output / "baseline_items.json").read_text())
    assert len(items["sts"]) == sts["n"] and len(items["retrieval"]) == retrieval["n"]


def test_model_card_data_names_the_language_base_and_data_trained_on(finished_run):
    from trainer.card import hub_base_model

    output, _ = finished_run
    card = (output / "final" / "README.md").read_text()
    assert "language:\n- es" in card and "#### Spanish news bundled with the workbench" in card
    assert "base_model:" not in card  # a local folder is no Hub base model
    assert hub_base_model("builtin:multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert (
        hub_base_model("bertin-project/bertin-roberta-base-spanish")
        == "bertin-project/bertin-roberta-base-spanish"
    )
    assert hub_base_model(str(output)) is None and hub_base_model("./a/b") is None


STSB_SAMPLE = PROJECT_ROOT / "assets" / "samples" / "stsb-multi-mt-es.jsonl"


def test_sts_training_pairs_from_the_hub_a_file_or_the_bundled_set(monkeypatch):
    """stsb_multi_mt's shape (similarity_score 0-5) through the Hub code path and as a local file gives the
    same pairs, scored 0-1 for CoSENT; bundled:train is the calibration pairs that are not held out."""
    import datasets

    from core.corpora.data import load_sts
    from core.models.calibration import calibration_pairs
    from trainer.training_data import sts_training_set

    load_dataset, calls = datasets.load_dataset, []

    def hub(path, name=None, split=None, **kwargs):  # the Hub serving the shipped sample
        calls.append((path, name, split))
        return load_dataset("json", data_files=str(STSB_SAMPLE), split="train")

    monkeypatch.setattr(datasets, "load_dataset", hub)
    from_hub, hub_name = sts_training_set("stsb_multi_mt:es:train", set())
    from_file, file_name = sts_training_set(str(STSB_SAMPLE), set())
    assert calls == [("PhilipMay/stsb_multi_mt", "es", "train")]
    assert (hub_name, file_name) == ("stsb_multi_mt:es:train", "stsb-multi-mt-es.jsonl")
    assert from_hub.to_list() == from_file.to_list() and len(from_hub) == 40
    raw = [json.loads(line) for line in STSB_SAMPLE.read_text().splitlines()]
    wanted = {(row["sentence1"], row["sentence2"]): row["similarity_score"] / 5 for row in raw}
    got = {(row["sentence1"], row["sentence2"]): row["score"] for row in from_file.to_list()}
    assert got.keys() == wanted.keys() and all(got[k] == pytest.approx(v) for k, v in wanted.items())
    bundled, name = sts_training_set("bundled:train", set())
    kept = {(p["sentence1"], p["sentence2"]) for p in bundled.to_list()}
    never = [*calibration_pairs()[1], *load_sts("dev"), *load_sts("test")]
    assert name == "bundled:train" and len(kept) == len(bundled) > 300
    first_rows = bundled["score"][:100]  # what the model card's statistics read: not only one score
    assert bundled["score"] != sorted(bundled["score"]) and max(first_rows) - min(first_rows) > 0.8
    assert not kept & {(p["sentence1"], p["sentence2"]) for p in never}


def test_sts_training_never_uses_an_evaluated_pair(tmp_path):
    from core.corpora.data import load_sts
    from trainer.training_data import sts_training_set

    with pytest.raises(ConfigError, match="is an evaluation split"):
        sts_training_set("bundled:test", set())
    with pytest.raises(ConfigError, match="offline, bundled:train works"):  # offline in the tests
        sts_training_set("stsb_multi_mt:es:train", set())
    test_pair = load_sts("test")[0]
    mixed = tmp_path / "mine.jsonl"
    row = {"sentence1": test_pair["sentence1"], "sentence2": test_pair["sentence2"], "similarity_score": 3.0}
    mixed.write_text(STSB_SAMPLE.read_text() + json.dumps(row, ensure_ascii=False) + "\n")
    evaluated = {(test_pair["sentence2"], test_pair["sentence1"])}  # either order counts
    with pytest.raises(ConfigError, match="1 of its 41 pairs are STS dev or test pairs"):
        sts_training_set(str(mixed), evaluated)
    for typo in ("bundled:trian", "stsb", str(tmp_path / "missing.jsonl")):
        with pytest.raises(ConfigError, match="use stsb_multi_mt:es:train, bundled:train or a"):
            parse_train_args(["--sts_train", typo])  # before any model loads
    for typo in ("bundled:trian", "stsb"):
        with pytest.raises(ConfigError, match="use stsb_multi_mt:es:train, bundled:train or a"):
            sts_training_set(typo, set())
    with pytest.raises(ConfigError, match="is an evaluation split"):
        parse_train_args(["--sts_train", "stsb_multi_mt:es:test"])
    with pytest.raises(ConfigError, match="needs columns sentence1, sentence2 and score"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"a": 1}\n')
        sts_training_set(str(bad), set())


def test_sts_pairs_get_the_served_symmetric_prompt_beside_the_news_prompts():
    from types import SimpleNamespace

    from trainer.training_data import training_prompts

    e5 = SimpleNamespace(prompts={"query": "query: ", "passage": "passage: "}, default_prompt_name="query")
    news = {"anchor": "query: ", "positive": "passage: "}
    assert training_prompts(news, e5, ["news"]) == news
    assert training_prompts(news, e5, ["news", "sts"]) == {
        "news": news, "sts": {"sentence1": "query: ", "sentence2": "query: "},
    }  # fmt: skip
    assert training_prompts(news, e5, ["sts"]) == {"sentence1": "query: ", "sentence2": "query: "}
    plain = SimpleNamespace(prompts={}, default_prompt_name=None)  # a model without prompts gets none
    assert training_prompts(news, plain, ["news", "sts"]) == {"news": news, "sts": {}}
    assert training_prompts(None, e5, ["news", "sts"]) is None


@pytest.mark.parametrize("news", [True, False], ids=["news+sts", "sts-alone"])
def test_training_on_sts_pairs_with_cosent_alone_or_beside_the_news(_tiny_model_master, tmp_path, news):
    flags = _flags(
        _tiny_model_master, tmp_path / "r", "--sts_train", str(STSB_SAMPLE),
        "--train_news", str(news).lower(), "--max_train_samples", "32", "--evaluate_before_training", "false",
    )  # fmt: skip
    record = train(*parse_train_args(flags))
    assert record["status"] == "finished" and record["loss"] == ("mnrl+cosent" if news else "cosent")
    assert record["data"]["sts_train"] == 40 and record["sources"]["sts_train"] == "stsb-multi-mt-es.jsonl"
    # every batch comes from one dataset: 32 news pairs and 40 STS pairs make 2 + 3 batches of 16
    assert record["global_step"] == (5 if news else 3)
    card = (tmp_path / "r" / "final" / "README.md").read_text()
    assert "stsb-multi-mt-es.jsonl" in card and str(tmp_path) not in card


def test_interpolation_with_the_base_keeps_the_share_the_dev_metric_prefers(_tiny_model_master):
    from trainer.interpolation import interpolate_with_base, mix_weights

    model = SentenceTransformer(str(_tiny_model_master), device="cpu")
    base = {name: value.clone() for name, value in model.state_dict().items()}
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    tuned = {name: value.clone() for name, value in model.state_dict().items()}
    name = next(n for n, v in base.items() if v.is_floating_point() and not torch.equal(v, tuned[n]))
    half = mix_weights(tuned, base, 0.5)
    assert torch.allclose(half[name], (tuned[name] + base[name]) / 2)

    def distance_to(target):  # a dev "metric": higher when the weights are closer to target's
        def evaluator(m):
            weights = m.state_dict()
            return {"dev_m": -sum(float((weights[n] - target[n]).abs().sum()) for n in target)}

        return evaluator

    result = interpolate_with_base(model, base, [0.5, 0.0], distance_to(base), "eval_dev_m", None)
    assert result["kept"] == 0.0 and set(result["dev_scores"]) == {"1.0", "0.5", "0.0"}
    assert all(torch.equal(model.state_dict()[n], base[n]) for n in base)  # the base itself was kept
    model.load_state_dict(tuned)
    result = interpolate_with_base(model, base, [0.5], distance_to(tuned), "eval_dev_m", None)
    assert result["kept"] == 1.0 and torch.equal(model.state_dict()[name], tuned[name])
    with pytest.raises(ConfigError, match="must lie in"):
        parse_train_args(["--interpolate_base", "0.5,1"])
    by_loss = ["--interpolate_base", "0.5", "--metric_for_best_model", "eval_loss", "--output_dir", "x"]
    with pytest.raises(ConfigError, match="set --metric_for_best_model to one such as"):
        train(*parse_train_args(by_loss))  # refused before any model loads or any training


def test_early_stopping_and_interpolation_in_a_run(_tiny_model_master, tmp_path):
    """With a learning rate of 0 the dev metric never improves: patience 1 stops at the second evaluation.
    With interpolation, the model saved is the share the run reports, with the dev score it reports."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from core.corpora.data import load_sts

    flags = _flags(
        _tiny_model_master, tmp_path / "s", "--eval_steps", "1", "--save_steps", "1", "--learning_rate", "0",
        "--early_stopping_patience", "1", "--evaluate_before_training", "false",
    )  # fmt: skip
    assert train(*parse_train_args(flags))["global_step"] == 2
    flags = _flags(_tiny_model_master, tmp_path / "r", "--interpolate_base", "0.0", "--sts_source", "bundled")
    train(*parse_train_args(flags))
    interpolation = json.loads((tmp_path / "r" / "metrics.json").read_text())["interpolation"]
    scores, kept = interpolation["dev_scores"], interpolation["kept"]
    assert set(scores) == {"1.0", "0.0"} and scores[str(kept)] == max(scores.values())
    assert interpolation["dev_metric"] == "sts-dev_spearman_cosine"
    dev = load_sts("dev")
    evaluator = EmbeddingSimilarityEvaluator(
        [p["sentence1"] for p in dev], [p["sentence2"] for p in dev], [p["score"] / 5 for p in dev], name="d"
    )
    final = SentenceTransformer(str(tmp_path / "r" / "final"), device="cpu")
    assert evaluator(final)["d_spearman_cosine"] == pytest.approx(scores[str(kept)], abs=1e-4)
    if kept == 0.0:  # the base itself
        base = SentenceTransformer(str(_tiny_model_master), device="cpu").state_dict()
        assert all(torch.equal(final.state_dict()[n], v) for n, v in base.items())


def test_another_rank_preparing_the_data_is_no_reason_to_refuse_the_folder(tmp_path):
    """Regression (seen once in CI with torchrun): rank 1 planned the folder while rank 0 was staging the
    prepared data in ``.data-…`` beside it, read that as an unrelated file and exited."""
    output = tmp_path / "run"
    (output / ".data-k2j4").mkdir(parents=True)
    (output / ".write-test-x1").write_text("")
    (output / "data").mkdir()
    assert plan_output_dir(output, None, overwrite=False) is None
    (output / "notas.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="is not empty .notas.txt."):
        plan_output_dir(output, None, overwrite=False)


def test_an_offline_run_probes_the_hub_once_and_never_waits_on_it(_tiny_model_master, tmp_path):
    """No HF_HUB_OFFLINE, a Hub that does not answer (a closed port): one probe, one line, no retries,
    and the run uses the bundled STS pairs."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nothing listens there once the socket is closed
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {
        "HF_ENDPOINT": f"http://127.0.0.1:{closed}",
        "WORKBENCH_CACHE": str(tmp_path / "cache"),
    }
    argv = _flags(_tiny_model_master, tmp_path / "run", "--sts_source", "auto", "--max_train_samples", "32")
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "train", *argv], capture_output=True, text=True, env=env,
        cwd=PROJECT_ROOT, timeout=600,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert log.count("does not answer: working offline") == 1 and "Retrying" not in log, log[-3000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["sources"]["sts_dev"] == "bundled:dev"
