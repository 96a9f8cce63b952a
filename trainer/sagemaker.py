"""``python -m trainer sagemaker``: run ``train`` as an Amazon SageMaker training job (SDK v3 ModelTrainer).

Everything after ``--`` is passed to ``train`` as hyperparameters (flags), e.g.::

    python -m trainer sagemaker --role arn:aws:iam::123456789012:role/SageMaker \\
        --train_s3 s3://bucket/cc-news-es/ --checkpoint_s3_uri s3://bucket/checkpoints/bertin \\
        --instance_type ml.g5.12xlarge --nproc_per_node 4 --spot \\
        -- --config trainer/configs/bertin-cc-news.yaml --num_train_epochs 2

``--task embed`` runs the corpus embedding job instead (``python -m trainer predict --embed``): the
corpus from ``--corpus_s3``, the Parquet shards written under the checkpoint folder, so that a spot
interruption resumes where it stopped::

    python -m trainer sagemaker --task embed --corpus_s3 s3://bucket/archivo/ --instance_type ml.g5.xlarge \
        --checkpoint_s3_uri s3://bucket/embedded/archivo --spot -- --model my-org/bertin-news-embeddings

``--dry-run`` prints the complete job configuration as JSON and needs no AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from core.cli import Parser
from core.errors import WorkbenchError
from trainer.arguments import SAGEMAKER_CHECKPOINTS
from trainer.tracking import metric_regex

ENTRY_SCRIPT = "trainer/sagemaker_entry.py"
DEFAULT_IMAGE = (
    "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.8.0-gpu-py312-cu129-ubuntu22.04-sagemaker"
)
# Built or local things that must not be uploaded with the source.
# Installed by the job on top of the image: no torch (the image's CUDA build stays), no app-only packages.
REQUIREMENTS = "trainer/requirements-sagemaker.txt"
IGNORE_PATTERNS = [".venv", ".git", "__pycache__", "runs", "data", "results", "test-artifacts", ".*_cache"]
# Metrics the console charts: (SageMaker name, metric-line name).
METRICS = [
    ("train:loss", "loss"),
    ("train:learning_rate", "learning_rate"),
    ("eval:loss", "eval_loss"),
    ("eval:sts_spearman_cosine", "eval_sts-dev_spearman_cosine"),
    ("eval:retrieval_mrr_at_10", "eval_retrieval-dev_cosine_mrr@10"),
    ("eval:retrieval_ndcg_at_10", "eval_retrieval-dev_cosine_ndcg@10"),
    ("test:sts_spearman_cosine", "test_sts-test_spearman_cosine"),
    ("test:retrieval_mrr_at_10", "test_retrieval-test_cosine_mrr@10"),
]


class LaunchError(WorkbenchError, ValueError):
    """A job that cannot be started as asked; the message says what to fix."""


def metric_definitions() -> list[dict[str, str]]:
    """SageMaker metric definitions: one regex per metric line (see ``trainer.tracking``)."""
    return [{"name": name, "regex": metric_regex(line_name)} for name, line_name in METRICS]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        allow_abbrev=False,
        prog="python -m trainer sagemaker",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument(
        "--role", default=os.environ.get("SAGEMAKER_ROLE"), help="IAM role ARN ($SAGEMAKER_ROLE)"
    )
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"), help="AWS region")
    parser.add_argument(
        "--image_uri", default=None, help="training image (default: a PyTorch GPU DLC of --region)"
    )
    parser.add_argument(
        "--task",
        choices=("train", "embed"),
        default="train",
        help="train a model (default), or embed a corpus into Parquet shards (trainer predict --embed)",
    )
    parser.add_argument(
        "--corpus_s3", default=None, help="--task embed: S3 URI of a folder holding the corpus file"
    )
    parser.add_argument(
        "--model_s3", default=None, help="--task embed: S3 URI of a model folder (else --model)"
    )
    parser.add_argument("--job_name", default="spanish-embeddings", help="base name of the training job")
    parser.add_argument(
        "--instance_type", default="ml.g5.2xlarge", help="instance type (default ml.g5.2xlarge)"
    )
    parser.add_argument("--instance_count", type=int, default=1, help="instances (nodes)")
    parser.add_argument(
        "--nproc_per_node", type=int, default=1, help="processes (GPUs) per instance; >1 uses torchrun"
    )
    parser.add_argument(
        "--train_s3", default=None, help="S3 URI of a prepared dataset folder (channel 'train')"
    )
    parser.add_argument("--test_s3", default=None, help="S3 URI of a prepared test set (channel 'test')")
    parser.add_argument("--checkpoint_s3_uri", default=None, help="S3 URI where checkpoints are synced")
    parser.add_argument(
        "--spot", action="store_true", help="use managed spot instances (resumes from checkpoints)"
    )
    parser.add_argument("--max_run", type=int, default=24 * 3600, help="maximum run time in seconds")
    parser.add_argument(
        "--max_wait", type=int, default=None, help="spot: maximum wait in seconds (default 2×max_run)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the job configuration as JSON and exit")
    parser.add_argument(
        "train_args", nargs=argparse.REMAINDER, help="after --: flags for `python -m trainer train`"
    )
    return parser


def hyperparameters(train_args: list[str]) -> dict[str, str]:
    """``--key value`` / ``--flag`` pairs into the dict SageMaker passes back as flags."""
    args = train_args[1:] if train_args[:1] == ["--"] else train_args
    result, index = {}, 0
    while index < len(args):
        key = args[index]
        if not key.startswith("--"):
            raise LaunchError(f"Unexpected training argument {key!r}: give flags as --name value after --.")
        if index + 1 < len(args) and not args[index + 1].startswith("--"):
            result[key[2:]], index = args[index + 1], index + 2
        else:
            result[key[2:]], index = "true", index + 1
    return result


def job_config(args: argparse.Namespace) -> dict:
    """The complete job description that ``launch`` hands to ``ModelTrainer``."""
    if args.spot and not args.checkpoint_s3_uri:
        raise LaunchError("--spot needs --checkpoint_s3_uri, or an interrupted job would start over.")
    if args.instance_count < 1 or args.nproc_per_node < 1:
        raise LaunchError("--instance_count and --nproc_per_node must be at least 1.")
    hps = hyperparameters(args.train_args)
    channels = []
    if args.task == "embed":
        hps["task"] = "embed"
        if args.corpus_s3:
            channels.append({"channel_name": "corpus", "data_source": args.corpus_s3})
            hps.setdefault("embed", "/opt/ml/input/data/corpus")
        if args.model_s3:
            channels.append({"channel_name": "model", "data_source": args.model_s3})
            hps.setdefault("model", "/opt/ml/input/data/model")
        hps.setdefault("output", f"{SAGEMAKER_CHECKPOINTS}/corpus.parquet")  # synced: a restart resumes
    else:
        hps.setdefault("output_dir", SAGEMAKER_CHECKPOINTS)
    if args.train_s3 and args.task == "train":
        channels.append({"channel_name": "train", "data_source": args.train_s3})
        hps.setdefault("prepared_data", "/opt/ml/input/data/train")  # wins over a config file's local path
    if args.test_s3 and args.task == "train":
        channels.append({"channel_name": "test", "data_source": args.test_s3})
        hps.setdefault("test_data", "/opt/ml/input/data/test")
    distributed = args.instance_count > 1 or args.nproc_per_node > 1
    stopping = {"max_runtime_in_seconds": args.max_run}
    if args.spot:
        stopping["max_wait_time_in_seconds"] = args.max_wait or 2 * args.max_run
    return {
        "base_job_name": args.job_name,
        "region": args.region,
        "role": args.role,
        "training_image": args.image_uri or DEFAULT_IMAGE.format(region=args.region),
        "source_code": {
            "source_dir": ".",
            "entry_script": ENTRY_SCRIPT,
            "requirements": REQUIREMENTS,
            "ignore_patterns": IGNORE_PATTERNS,
        },
        "compute": {
            "instance_type": args.instance_type,
            "instance_count": args.instance_count,
            "enable_managed_spot_training": args.spot,
        },
        "distributed": {"type": "torchrun", "process_count_per_node": args.nproc_per_node}
        if distributed
        else None,
        "stopping_condition": stopping,
        "input_data": channels,
        "checkpoint_config": {"s3_uri": args.checkpoint_s3_uri, "local_path": SAGEMAKER_CHECKPOINTS}
        if args.checkpoint_s3_uri
        else None,
        "hyperparameters": hps,
        "metric_definitions": metric_definitions() if args.task == "train" else [],
    }


def launch(config: dict):  # pragma: no cover - needs AWS
    """Start the job with the SageMaker Python SDK v3."""
    try:
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.train import ModelTrainer
        from sagemaker.train.configs import (
            CheckpointConfig,
            Compute,
            InputData,
            MetricDefinition,
            SourceCode,
            StoppingCondition,
        )
        from sagemaker.train.distributed import Torchrun
    except ImportError as err:
        raise LaunchError("The SageMaker SDK is not installed: pip install 'sagemaker==3.27.*'") from err
    import boto3

    trainer = ModelTrainer(
        sagemaker_session=Session(boto_session=boto3.Session(region_name=config["region"])),
        role=config["role"],
        base_job_name=config["base_job_name"],
        training_image=config["training_image"],
        source_code=SourceCode(**config["source_code"]),
        compute=Compute(**config["compute"]),
        distributed=Torchrun(process_count_per_node=config["distributed"]["process_count_per_node"])
        if config["distributed"]
        else None,
        stopping_condition=StoppingCondition(**config["stopping_condition"]),
        input_data_config=[InputData(**channel) for channel in config["input_data"]] or None,
        checkpoint_config=CheckpointConfig(**config["checkpoint_config"])
        if config["checkpoint_config"]
        else None,
        hyperparameters=config["hyperparameters"],
    ).with_metric_definitions([MetricDefinition(**d) for d in config["metric_definitions"]])
    trainer.train(wait=False)
    return trainer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = job_config(args)
        if args.dry_run:
            print(json.dumps(config, indent=2))
            return 0
        if not config["role"]:
            raise LaunchError("--role is required (or set $SAGEMAKER_ROLE): the IAM role the job runs as.")
        if not config["input_data"] and args.task == "embed":
            raise LaunchError("--corpus_s3 is required: upload a folder holding the corpus file to S3.")
        if not config["input_data"]:
            raise LaunchError(
                "--train_s3 is required: upload a folder from `python -m trainer prepare` to S3."
            )
        launch(config)
    except LaunchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # pragma: no cover - AWS credentials, quotas, permissions
        print(f"error: SageMaker refused the job ({type(err).__name__}: {err}).", file=sys.stderr)
        return 2
    print(
        f"{'Embedding' if args.task == 'embed' else 'Training'} job started; follow it in the SageMaker "
        "console."
    )
    return 0
