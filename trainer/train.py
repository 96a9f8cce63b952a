"""``python -m trainer train``: fine-tune a sentence-embedding model on (headline, body) pairs.

The run reads as numbered steps, each a named function: output folder -> model -> data
(``training_data``) -> losses -> evaluators (``scores``) -> baseline (``records``) -> trainer and
training, resuming from the latest complete checkpoint (``fit``) -> WiSE-FT (``interpolation``) -> test
figures -> ``final/``, ``metrics.json`` and ``run.json`` (``records``).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from core.errors import WorkbenchError
from core.hub import offline_unless_reachable
from core.models.handle import load_handle
from core.runs import read_run_record, write_run_record
from trainer.arguments import PRIMARY_METRIC, ConfigError, parse_train_args
from trainer.card import describe_card
from trainer.checkpoints import plan_output_dir, wait_for_everyone
from trainer.fit import build_trainer, test_figures
from trainer.interpolation import interpolate_with_base
from trainer.records import baseline, run_record, save_final
from trainer.scores import (
    build_evaluators,
)
from trainer.training_data import (
    add_hard_negatives,
    load_training_data,
    prepared_stats,
    sts_training_set,
    training_prompts,
)

logger = logging.getLogger(__name__)


# 2. Model ------------------------------------------------------------------------------------------
def build_model(model_args):
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = load_handle(model_args.model_name_or_path).model  # private: training changes it
    if model_args.pooling:
        for index, module in enumerate(model):
            if isinstance(module, Pooling) and module.pooling_mode != model_args.pooling:
                logger.info("Replacing %s pooling with %s", module.pooling_mode, model_args.pooling)
                model[index] = Pooling(module.embedding_dimension, model_args.pooling)
    if model_args.max_seq_length:
        model.max_seq_length = model_args.max_seq_length
    return model


# 3. Data -------------------------------------------------------------------------------------------


# 4. Loss -------------------------------------------------------------------------------------------
def build_loss(model, loss_args, train_columns: list[str]):
    from sentence_transformers.sentence_transformer import losses

    if loss_args.loss == "cosent":
        if "score" not in train_columns:
            raise ConfigError(
                "--loss cosent needs scored pairs: prepare the data with --score_column, or use --loss mnrl."
            )
        loss = losses.CoSENTLoss(model)
    elif loss_args.loss == "cached-mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=loss_args.mini_batch_size)
    else:
        loss = losses.MultipleNegativesRankingLoss(
            model, gather_across_devices=loss_args.gather_across_devices
        )
    dims = loss_args.dimensions()
    if dims:
        full = model.get_embedding_dimension()
        if dims[0] > full:
            raise ConfigError(f"--matryoshka_dims {dims[0]} exceeds the model's dimension {full}.")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
    return loss


# 5. Evaluators -------------------------------------------------------------------------------------


# 6. Trainer ----------------------------------------------------------------------------------------


# The run -------------------------------------------------------------------------------------------
def train(model_args, data_args, loss_args, run_args, training_args) -> dict:
    """Run every step; returns the run record (also written to ``<output_dir>/run.json``)."""
    started = time.time()
    output_dir = Path(training_args.output_dir)
    shares, is_main = run_args.shares(), training_args.process_index == 0
    metric = check_interpolation(training_args, shares)
    # 1. Output folder: resume, refuse or start afresh — decided before any heavy work.
    resume = plan_output_dir(output_dir, training_args.resume_from_checkpoint, run_args.overwrite_output_dir)
    previous = read_run_record(output_dir) if resume else {}
    clock = (started, float(previous.get("seconds") or 0.0))  # time spent by earlier, killed attempts too
    model = build_model(model_args)  # 2. Model (and the base's weights, when interpolating)
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if shares else None
    splits = load_training_data(data_args, model_args.model_name_or_path, output_dir, is_main)  # 3. Data
    batch = training_args.per_device_eval_batch_size
    evaluators = build_evaluators(model, splits, data_args, batch)  # 5 (STS training must not overlap)
    sources = dict(evaluators.sources)
    train_dataset, loss, eval_dataset, train_sets = training_sets(  # 4. Losses
        model, splits, evaluators, sources, data_args, loss_args, training_args
    )
    describe_card(model, model_args, prepared_stats(data_args, output_dir), data_args.train_news,
                  sources.get("sts_train"))  # fmt: skip
    # A resumed run keeps its tracker run; a fresh one gets a new name, never mixing two runs' logs.
    training_args.run_name = (
        training_args.run_name
        or previous.get("run_name")
        or f"{output_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    record = run_record(model_args, data_args, loss_args, run_args, training_args, splits, train_sets,
                        sources, resume, previous)  # fmt: skip
    # 6. Baseline on the test split, before any training (kept from the first attempt when resuming).
    baseline_items = baseline(
        model, evaluators, record, previous, resume, run_args, output_dir, is_main, batch
    )
    if is_main:
        write_run_record(output_dir, record)
    # 7. Trainer and training.
    trainer, tracked = build_trainer(model, training_args, run_args, record, clock, resume,
                                     train_dataset, eval_dataset, loss, evaluators.dev)  # fmt: skip
    train_result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    # 8. Interpolation with the base, chosen on dev; then the test evaluation of the model kept.
    if shares:
        best = trainer.state.best_metric if training_args.load_best_model_at_end else None
        record["interpolation"] = interpolate_with_base(
            model, base_state, shares, evaluators.dev, metric, best
        )
    metrics, per_dimension = test_figures(model, evaluators.test, trainer, training_args, loss_args, record,
                                          tracked, is_main)  # fmt: skip
    # 9. Save the final model atomically, then the metrics and the record.
    if trainer.is_world_process_zero():
        save_final(model, trainer, train_result, record, metrics, per_dimension, baseline_items, evaluators,
                   model_args, run_args, output_dir, clock, batch)  # fmt: skip
    wait_for_everyone()
    return record


def check_interpolation(training_args, shares) -> str:
    """The metric that picks the best checkpoint; refused before any work when ``--interpolate_base``
    cannot use it (a share is chosen by a dev evaluator's score)."""
    metric = training_args.metric_for_best_model or PRIMARY_METRIC
    if shares and not metric.removeprefix("eval_").startswith(("sts-dev_", "retrieval-dev_")):
        raise ConfigError(
            f"--interpolate_base picks a share by a dev evaluator's score, not by {metric}; set "
            "--metric_for_best_model to one such as eval_sts-dev_spearman_cosine."
        )
    return metric


def training_sets(model, splits, evaluators, sources, data_args, loss_args, training_args):
    """The datasets trained on (news pairs, STS pairs or both), their losses and the dev set of the loss;
    returns ``(train_dataset, loss, eval_dataset, train_sets)``."""
    train_sets, losses = {}, {}
    if data_args.train_news:
        if data_args.hard_negatives:
            if loss_args.loss == "cosent":
                raise ConfigError("--hard_negatives is for --loss mnrl or cached-mnrl, not cosent.")
            splits["train"] = add_hard_negatives(
                model, splits["train"], data_args.hard_negatives, training_args
            )
        train_sets["news"] = splits["train"]
        losses["news"] = build_loss(model, loss_args, splits["train"].column_names)
    if data_args.sts_train:
        train_sets["sts"], sources["sts_train"] = sts_training_set(data_args.sts_train, evaluators.sts_pairs)
        losses["sts"] = build_loss(model, replace(loss_args, loss="cosent"), train_sets["sts"].column_names)
    training_args.prompts = training_prompts(training_args.prompts, model, list(train_sets))
    # The dev loss is the news pairs' (the STS pairs' quality is the evaluator's sts-dev score).
    eval_dataset = splits["dev"] if "news" in train_sets else None
    if len(train_sets) == 1:  # one dataset: the plain form (its loss logs without a dataset prefix)
        return next(iter(train_sets.values())), next(iter(losses.values())), eval_dataset, train_sets
    from datasets import DatasetDict

    return DatasetDict(train_sets), losses, DatasetDict({"news": splits["dev"]}), train_sets


def format_summary(record: dict) -> str:
    metrics, baseline = record.get("metrics", {}), record.get("baseline_metrics") or {}
    lines = [
        f"Finished in {record['seconds'] / 60:.1f} min, {record['global_step']} steps.",
        f"Model: {record['final_model']}",
    ]
    for key, label in (
        ("sts-test_spearman_cosine", "STS test Spearman"),
        ("retrieval-test_cosine_mrr@10", "Retrieval MRR@10"),
    ):
        if key in metrics:
            before = f"{baseline[key]:.4f} -> " if key in baseline else ""
            lines.append(f"{label}: {before}{metrics[key]:.4f}")
    lines.append(f"Sources: {', '.join(f'{k}={v}' for k, v in record['sources'].items())}")
    if disk := record.get("disk"):
        size, gb = disk["run_folder_bytes"], 2**30
        times = size / max(1, disk["weights_bytes"])
        lines.append(
            f"Run folder: {size / gb:.2f} GB ({times:.1f}× the weights): "
            f"final/ {disk['final_bytes'] / gb:.2f} GB, "
            f"{disk['latest_checkpoint']} {disk['latest_checkpoint_bytes'] / gb:.2f} GB (with the optimizer "
            "state, to train on); older checkpoints removed."
        )
    return "\n".join(lines)


def plain_log() -> None:
    """Output to a file or a job's log, not a terminal: no progress bar redrawn into it (the libraries'
    own switches, for the bars that ignore ``TQDM_DISABLE``); the metric lines say where training is."""
    import datasets
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    # sentence-transformers shows its encoding bars when this logger is at INFO
    logging.getLogger("sentence_transformers.sentence_transformer.model").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The evaluators log every metric at INFO; the metric lines already carry them.
    logging.getLogger("sentence_transformers.sentence_transformer.evaluation").setLevel(logging.WARNING)
    if not sys.stderr.isatty():
        plain_log()
    try:
        args = parse_train_args(sys.argv[1:] if argv is None else argv)
        offline_unless_reachable()  # one probe: an unreachable Hub is never waited on again
        record = train(*args)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if record.get("status") == "finished":
        print(format_summary(record))
    return 0
