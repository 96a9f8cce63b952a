"""Arguments of ``python -m trainer train``: dataclasses through ``HfArgumentParser``.

Every field can come from a CLI flag or from one YAML/JSON file given with ``--config``; flags win over
the file. Unknown flags and unknown config keys are errors.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sentence_transformers import SentenceTransformerTrainingArguments
from transformers import HfArgumentParser

from core.cli import short_error
from core.errors import WorkbenchError

DEFAULT_BASE_MODEL = "bertin-project/bertin-roberta-base-spanish"
LOSSES = ("mnrl", "cached-mnrl", "cosent")
POOLING_MODES = ("mean", "cls", "max")
STS_SOURCES = ("auto", "hub", "bundled")
PRIMARY_METRIC = "eval_sts-dev_spearman_cosine"
SAGEMAKER_CHECKPOINTS = (
    "/opt/ml/checkpoints"  # synced to checkpoint_s3_uri, restored after a spot interruption
)


def in_sagemaker() -> bool:
    """True inside a SageMaker training container (it sets SM_TRAINING_ENV and SM_MODEL_DIR)."""
    return "SM_TRAINING_ENV" in os.environ or "SM_MODEL_DIR" in os.environ


def _env(name: str):
    return lambda: os.environ.get(name)


class ConfigError(WorkbenchError, ValueError):
    """A bad argument or config file; the message says how to fix it."""


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=DEFAULT_BASE_MODEL,
        metadata={
            "help": "Model to fine-tune: a Hub id, a local folder, a model.tar.gz or "
            "builtin:multilingual-e5-small."
        },
    )
    pooling: str = field(
        default="mean",
        metadata={
            "help": "Pooling added on top of a plain transformer: mean, cls or max "
            "(a sentence-transformers model keeps its own)."
        },
    )
    max_seq_length: int | None = field(
        default=None, metadata={"help": "Truncate inputs to this many tokens (default: the model's own)."}
    )

    def __post_init__(self):
        if self.pooling not in POOLING_MODES:
            raise ConfigError(
                f"--pooling {self.pooling!r} is unknown; choose one of {', '.join(POOLING_MODES)}."
            )
        if self.max_seq_length is not None and self.max_seq_length < 8:
            raise ConfigError("--max_seq_length must be at least 8 tokens.")


def check_sts_train_spec(spec: str) -> None:
    """Refuse an STS evaluation split, or a spec that names neither a training set nor a file."""
    hub = spec.startswith("stsb_multi_mt:") and spec.count(":") == 2
    if spec in ("bundled:dev", "bundled:test") or (hub and spec.endswith((":dev", ":test"))):
        raise ConfigError(
            f"--sts_train {spec} is an evaluation split; train on stsb_multi_mt:es:train, bundled:train or a "
            "file of your own."
        )
    if not (hub or spec == "bundled:train" or Path(spec).expanduser().is_file()):
        raise ConfigError(
            f"--sts_train: unknown STS training set {spec!r}; use stsb_multi_mt:es:train, bundled:train or "
            "a .jsonl/.csv/.tsv file with sentence1, sentence2 and similarity_score (or score)."
        )


def number_list(text, flag: str, kind: type, expected: str) -> list:
    """``"384,256"`` -> the distinct numbers, largest first; a ConfigError naming ``flag`` otherwise."""
    try:
        return sorted({kind(part) for part in str(text).split(",")}, reverse=True)
    except ValueError as err:
        raise ConfigError(f"{flag} {text!r} must be {expected}.") from err


@dataclass
class DataArguments:
    prepared_data: str | None = field(
        default_factory=_env("SM_CHANNEL_TRAIN"),
        metadata={
            "help": "Folder written by `python -m trainer prepare` (default: $SM_CHANNEL_TRAIN, else the "
            "bundled news corpus prepared into <output_dir>/data)."
        },
    )
    test_data: str | None = field(
        default_factory=_env("SM_CHANNEL_TEST"),
        metadata={
            "help": "A prepared folder whose test split (or whole dataset) replaces the test split "
            "(default: $SM_CHANNEL_TEST)."
        },
    )
    sts_source: str = field(
        default="auto",
        metadata={
            "help": "Spanish STS for evaluation: hub (PhilipMay/stsb_multi_mt es), bundled, or auto "
            "(the Hub when reachable, else bundled)."
        },
    )
    retrieval_distractors: int = field(
        default=1000,
        metadata={
            "help": "Bodies from the train split added to the retrieval corpus of the dev and test "
            "evaluations, so that a small split does not make retrieval trivially easy."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use at most this many training pairs (for quick runs)."}
    )
    sts_train: str | None = field(
        default=None,
        metadata={
            "help": "Also train on scored Spanish STS pairs with CoSENT (symmetric supervision; "
            "multi-dataset training beside the news pairs): stsb_multi_mt:es:train (Hub), bundled:train "
            "(the bundled calibration pairs that are not held out; never a dev or test pair), or a local "
            ".jsonl/.csv/.tsv with sentence1, sentence2 and similarity_score (or score), 0-5."
        },
    )
    train_news: bool = field(
        default=True,
        metadata={
            "help": "Train on the news pairs; false with --sts_train trains on STS alone (the news splits "
            "still serve the retrieval evaluation)."
        },
    )
    hard_negatives: int = field(
        default=0,
        metadata={
            "help": "Mine this many hard negatives per training pair with the base model "
            "(sentence_transformers.util.mine_hard_negatives: the most similar other bodies, but none "
            "within 5%% of the pair's own score, which are likely retellings of the same story); mnrl and "
            "cached-mnrl then use them beside the in-batch negatives. 0: in-batch negatives only."
        },
    )

    def __post_init__(self):
        if self.hard_negatives < 0:
            raise ConfigError(f"--hard_negatives must be 0 or more, not {self.hard_negatives}.")
        if self.sts_source not in STS_SOURCES:
            raise ConfigError(
                f"--sts_source {self.sts_source!r} is unknown; choose one of {', '.join(STS_SOURCES)}."
            )
        if self.retrieval_distractors < 0:
            raise ConfigError("--retrieval_distractors must not be negative.")
        if self.sts_train:  # checked before any model loads; the pairs themselves are read later
            check_sts_train_spec(self.sts_train)
        if not self.train_news and not self.sts_train:
            raise ConfigError("--train_news false leaves nothing to train on; add --sts_train SPEC.")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ConfigError("--max_train_samples must be at least 1.")


@dataclass
class LossArguments:
    loss: str = field(
        default="mnrl",
        metadata={
            "help": "mnrl (MultipleNegativesRankingLoss, in-batch negatives), cached-mnrl (the same with "
            "GradCache, for large batches on small GPUs) or cosent (pairs with a score column)."
        },
    )
    mini_batch_size: int = field(
        default=16, metadata={"help": "cached-mnrl: sentences per forward pass (memory, not the batch)."}
    )
    gather_across_devices: bool = field(
        default=False,
        metadata={"help": "mnrl: use the other processes' in-batch negatives in multi-GPU runs."},
    )
    matryoshka_dims: str | None = field(
        default=None,
        metadata={"help": "Wrap the loss in MatryoshkaLoss with these dimensions, e.g. 384,256,128,64."},
    )

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"--loss {self.loss!r} is unknown; choose one of {', '.join(LOSSES)}.")
        if self.mini_batch_size < 1:
            raise ConfigError("--mini_batch_size must be at least 1.")
        self.dimensions()  # validate early

    def dimensions(self) -> list[int]:
        """The Matryoshka dimensions, largest first; empty when not used."""
        if not self.matryoshka_dims:
            return []
        dims = number_list(self.matryoshka_dims, "--matryoshka_dims", int, "integers like 384,256,128")
        if dims[-1] < 1:
            raise ConfigError("--matryoshka_dims must be positive.")
        return dims


@dataclass
class RunArguments:
    experiment: str = field(
        default="spanish-news", metadata={"help": "Experiment name that groups runs (the tracker's project)."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Start afresh in an output folder that holds files, deleting its checkpoints."},
    )
    model_dir: str | None = field(
        default_factory=_env("SM_MODEL_DIR"),
        metadata={
            "help": "Where the final model goes (default: $SM_MODEL_DIR, which SageMaker packs into "
            "model.tar.gz; else <output_dir>/final)."
        },
    )
    output_data_dir: str | None = field(
        default_factory=_env("SM_OUTPUT_DATA_DIR"),
        metadata={"help": "Also copy metrics.json and run.json here (default: $SM_OUTPUT_DATA_DIR)."},
    )
    early_stopping_patience: int = field(
        default=0,
        metadata={
            "help": "Stop when the dev metric has not improved for this many evaluations (0: never); the "
            "best checkpoint is loaded either way."
        },
    )
    interpolate_base: str | None = field(
        default=None,
        metadata={
            "help": "Weight interpolation with the base model (WiSE-FT), against forgetting: after training, "
            "try these shares of the fine-tuned weights, e.g. 0.5,0.75, and keep the one with the best dev "
            "metric (the fine-tuned model itself, share 1, competes too)."
        },
    )
    evaluate_before_training: bool = field(
        default=True,
        metadata={"help": "Evaluate the untrained model on the test split first, as a baseline."},
    )

    def __post_init__(self):
        if self.early_stopping_patience < 0:
            raise ConfigError("--early_stopping_patience must be 0 (off) or more.")
        self.shares()  # validate early

    def shares(self) -> list[float]:
        """The interpolation shares of the fine-tuned weights to try (1.0, the model itself, is implied)."""
        if not self.interpolate_base:
            return []
        shares = number_list(self.interpolate_base, "--interpolate_base", float, "numbers like 0.5,0.75")
        if not all(0 <= share < 1 for share in shares):
            raise ConfigError(
                "--interpolate_base shares must lie in [0, 1): 1 is the fine-tuned model itself."
            )
        return shares


@dataclass
class TrainingArguments(SentenceTransformerTrainingArguments):
    """The library's training arguments with defaults for this project."""

    output_dir: str | None = field(
        default_factory=lambda: SAGEMAKER_CHECKPOINTS if in_sagemaker() else "runs/default",
        metadata={
            "help": "Where checkpoints, final/, metrics.json and run.json go (in SageMaker: "
            f"{SAGEMAKER_CHECKPOINTS}, synced to S3 so that a spot interruption resumes)."
        },
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training pairs."})
    per_device_train_batch_size: int = field(
        default=16, metadata={"help": "Pairs per batch per device (more in-batch negatives for mnrl)."}
    )
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Sentences per evaluation batch."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate of AdamW."})
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Warm-up: a share of all steps if below 1, else a number of steps."}
    )
    eval_strategy: str = field(default="steps", metadata={"help": "When to evaluate: no, steps or epoch."})
    eval_steps: float | None = field(default=100, metadata={"help": "Evaluate every this many steps."})
    save_strategy: str = field(
        default="steps", metadata={"help": "When to save checkpoints: no, steps, epoch."}
    )
    save_steps: float = field(default=100, metadata={"help": "Save a checkpoint every this many steps."})
    save_total_limit: int | None = field(
        default=2, metadata={"help": "Checkpoints kept (the best one is always kept too)."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log the loss every this many steps."})
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "Load the checkpoint with the best STS dev Spearman at the end."}
    )
    metric_for_best_model: str | None = field(
        default=PRIMARY_METRIC, metadata={"help": "Metric that picks the best checkpoint."}
    )
    report_to: None | str | list[str] = field(
        default="trackio",
        metadata={
            "help": "Experiment tracker: trackio (local, offline), mlflow, wandb, tensorboard or none."
        },
    )
    batch_sampler: str = field(
        default="no_duplicates",
        metadata={
            "help": "Batch sampler: no_duplicates (no repeated texts in a batch, for mnrl) or batch_sampler."
        },
    )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, LossArguments, RunArguments, TrainingArguments)


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser(ARGUMENT_CLASSES, allow_abbrev=False, prog="python -m trainer train")
    parser.description = "Fine-tune a sentence-embedding model on Spanish news pairs."
    parser.error = lambda message: short_error(parser, message)  # 3 lines, not 146 of usage
    parser.add_argument(
        "--config", type=Path, default=None, help="A YAML or JSON file of arguments; flags given here win."
    )
    return parser


def read_config(path: Path) -> dict:
    """Read a YAML/JSON config file into a flat dict of argument values."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"Cannot read config {path}: {err.strerror or err}.") from err
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from err
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}.") from err
    else:
        raise ConfigError(f"{path}: a config file must end in .yaml, .yml or .json.")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of argument names to values.")
    return data


def parse_train_args(argv: list[str]) -> tuple:
    """Parse CLI flags (and the ``--config`` file they name) into the argument dataclasses.

    Raises:
        ConfigError: An unknown config key or a value that does not validate.
        SystemExit: argparse's own usage errors (unknown flag, bad type), with exit code 2.
    """
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)  # only to find --config; full parsing follows
    if known.config is not None:
        config = read_config(known.config)
        destinations = {action.dest for action in parser._actions}
        unknown = sorted(set(config) - destinations - {"config"})
        if unknown:
            raise ConfigError(
                f"{known.config}: unknown key(s) {', '.join(unknown)}; "
                "see `python -m trainer train --help` for the valid names."
            )
        parser.set_defaults(**config)
    namespace = parser.parse_args(argv)
    values = vars(namespace)
    values.pop("config")
    if values.get("disable_tqdm") is None:  # progress bars on a terminal; plain lines in a log
        values["disable_tqdm"] = not sys.stderr.isatty()
    outputs = []
    for cls in ARGUMENT_CLASSES:
        names = {f.name for f in cls.__dataclass_fields__.values() if f.init}
        try:
            outputs.append(cls(**{k: v for k, v in values.items() if k in names}))
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            raise ConfigError(str(err).strip().splitlines()[0]) from err
    return tuple(outputs)
