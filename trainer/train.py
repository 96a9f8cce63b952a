"""``python -m trainer train``: fine-tune a sentence-embedding model on (headline, body) pairs.

The run reads as numbered steps: output folder -> model -> data -> loss -> evaluators -> baseline ->
trainer -> train (resuming from the latest complete checkpoint) -> test evaluation -> save ``final/``
-> ``metrics.json`` and ``run.json``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from core.io import read_json, save_dir_atomically
from core.models.handle import load_handle
from core.models.loader import ModelLoadError
from core.runs import read_run_record, write_json, write_metrics, write_run_record
from core.versions import library_versions
from trainer.arguments import PRIMARY_METRIC, ConfigError, parse_train_args
from trainer.card import describe_card, hub_base_model
from trainer.checkpoints import OutputDirError, plan_output_dir, wait_for_everyone
from trainer.interpolation import interpolate_with_base
from trainer.prepare import PrepareError
from trainer.scores import (
    MATRYOSHKA_KEYS,
    build_evaluators,
    evaluate,
    item_scores,
    paired_differences,
)
from trainer.tracking import (
    MetricLineCallback,
    RunClock,
    print_metric_lines,
    trackio_callback,
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


BASELINE_ITEMS = "baseline_items.json"


# 6. Trainer ----------------------------------------------------------------------------------------
def _trainer_class():
    from sentence_transformers import SentenceTransformerTrainer

    class Trainer(SentenceTransformerTrainer):
        """Shares rank 0's evaluator metrics with every rank, so that all agree on the best checkpoint.

        Only rank 0 runs the evaluator; the library's broadcast goes through accelerate, which does not
        see a process group that the trainer started itself (torchrun with the gloo backend on CPUs).
        """

        def _load_best_model(self):
            # Rank 0 writes the checkpoints; the others must not read the best one before it is complete.
            wait_for_everyone()
            super()._load_best_model()

        def evaluation_loop(self, *args, **kwargs):
            output = super().evaluation_loop(*args, **kwargs)
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                shared = [output.metrics]
                dist.broadcast_object_list(shared, src=0)
                output.metrics.update(shared[0])
            return output

    return Trainer


# The run -------------------------------------------------------------------------------------------
def train(model_args, data_args, loss_args, run_args, training_args) -> dict:
    """Run every step; returns the run record (also written to ``<output_dir>/run.json``)."""
    started = time.time()
    output_dir = Path(training_args.output_dir)
    shares = run_args.shares()
    metric = training_args.metric_for_best_model or PRIMARY_METRIC
    if shares and not metric.removeprefix("eval_").startswith(("sts-dev_", "retrieval-dev_")):
        raise ConfigError(
            f"--interpolate_base picks a share by a dev evaluator's score, not by {metric}; set "
            "--metric_for_best_model to one such as eval_sts-dev_spearman_cosine."
        )
    is_main = training_args.process_index == 0
    # 1. Output folder: resume, refuse or start afresh — decided before any heavy work.
    resume = plan_output_dir(output_dir, training_args.resume_from_checkpoint, run_args.overwrite_output_dir)
    previous = read_run_record(output_dir) if resume else {}
    # Time spent by earlier attempts (killed, preempted), kept in run.json while they ran.
    earlier_seconds = float(previous.get("seconds") or 0.0)
    model = build_model(model_args)  # 2
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if shares else None
    splits = load_training_data(data_args, model_args.model_name_or_path, output_dir, is_main)  # 3
    batch = training_args.per_device_eval_batch_size
    evaluators = build_evaluators(model, splits, data_args, batch)  # 5 (STS training must not overlap)
    dev_evaluator, test_evaluator, sources = evaluators.dev, evaluators.test, dict(evaluators.sources)
    test_sets = evaluators.paired_sets
    train_sets, losses = {}, {}
    if data_args.train_news:
        if data_args.hard_negatives:
            if loss_args.loss == "cosent":
                raise ConfigError("--hard_negatives is for --loss mnrl or cached-mnrl, not cosent.")
            splits["train"] = add_hard_negatives(
                model, splits["train"], data_args.hard_negatives, training_args
            )
        train_sets["news"] = splits["train"]
        losses["news"] = build_loss(model, loss_args, splits["train"].column_names)  # 4
    if data_args.sts_train:
        train_sets["sts"], sources["sts_train"] = sts_training_set(data_args.sts_train, evaluators.sts_pairs)
        losses["sts"] = build_loss(model, replace(loss_args, loss="cosent"), train_sets["sts"].column_names)
    training_args.prompts = training_prompts(training_args.prompts, model, list(train_sets))
    # The dev loss is the news pairs' (the STS pairs' quality is the evaluator's sts-dev score).
    eval_dataset = splits["dev"] if "news" in train_sets else None
    if len(train_sets) == 1:  # one dataset: the plain form (its loss logs without a dataset prefix)
        train_dataset, loss = next(iter(train_sets.values())), next(iter(losses.values()))
    else:
        from datasets import DatasetDict

        train_dataset, loss = DatasetDict(train_sets), losses
        eval_dataset = DatasetDict({"news": splits["dev"]})
    stats = prepared_stats(data_args, output_dir)
    describe_card(model, model_args, stats, data_args.train_news, sources.get("sts_train"))
    # A resumed run keeps its tracker run; a fresh one gets a new name, never mixing two runs' logs.
    training_args.run_name = (
        training_args.run_name
        or previous.get("run_name")
        or f"{output_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    record = {
        "experiment": run_args.experiment,
        "run_name": training_args.run_name,
        "status": "running",
        "model": model_args.model_name_or_path,
        "loss": "+".join(
            ([loss_args.loss] if data_args.train_news else []) + (["cosent"] if data_args.sts_train else [])
        )
        + (f"+matryoshka{loss_args.dimensions()}" if loss_args.dimensions() else ""),
        "data": {name: len(split) for name, split in splits.items()}
        | ({"sts_train": len(train_sets["sts"])} if "sts" in train_sets else {}),
        "sources": sources,
        "config": _config(model_args, data_args, loss_args, run_args, training_args),
        "versions": library_versions(),
        "resumed_from": str(resume) if resume else None,
        "world_size": training_args.world_size,
        "attempts": int(previous.get("attempts") or 1) + 1 if resume else 1,
        "seconds": round(earlier_seconds, 1),
    }
    # 6. Baseline on the test split, before any training (kept from the first attempt when resuming).
    baseline = previous.get("baseline_metrics")
    if baseline is None and run_args.evaluate_before_training:
        logger.info("Evaluating the untrained model on the test split (baseline)")
        baseline = evaluate(test_evaluator, model)
    record["baseline_metrics"] = baseline
    # Per-item scores of the untrained model, for the paired before/after differences (kept on resume).
    baseline_items = read_json(output_dir / BASELINE_ITEMS) if resume else {}
    if is_main and baseline is not None and not baseline_items:
        baseline_items = item_scores(model, test_sets, batch)
        write_json(output_dir / BASELINE_ITEMS, baseline_items)
    if is_main:
        write_run_record(output_dir, record)
    # 7. Trainer and training.
    training_args.project = run_args.experiment
    tracked = False
    if training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False  # nothing to pin to; avoids a warning per epoch
    callbacks = [MetricLineCallback(), RunClock(output_dir, record, started, earlier_seconds)]
    if run_args.early_stopping_patience:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run_args.early_stopping_patience))
    if "trackio" in (training_args.report_to or []):  # ours logs on the global step (trainer/tracking.py)
        training_args.report_to = [name for name in training_args.report_to if name != "trackio"]
        callbacks.append(trackio_callback(training_args.project, training_args.run_name, bool(resume)))
        tracked = True
    trainer = _trainer_class()(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        loss=loss,
        evaluator=dev_evaluator,
        callbacks=callbacks,
    )
    train_result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    # 8. Interpolation with the base, chosen on dev; then the test evaluation of the model kept.
    interpolation = None
    if shares:
        best = trainer.state.best_metric if training_args.load_best_model_at_end else None
        interpolation = interpolate_with_base(model, base_state, shares, dev_evaluator, metric, best)
        record["interpolation"] = interpolation
    metrics = evaluate(test_evaluator, model)
    if is_main:
        test_metrics = {f"test_{k}": v for k, v in metrics.items()}
        print_metric_lines(test_metrics, trainer.state.global_step, trainer.state.epoch)
        if tracked:
            _log_final_to_trackio(training_args, test_metrics, trainer.state.global_step, record["config"])
    # Matryoshka: the test figures at every trained dimension (the embedding cut to its first d values).
    per_dimension = None
    if loss_args.dimensions() and is_main:
        per_dimension = {}
        for dim in loss_args.dimensions():
            with model.truncate_embeddings(dim):
                scores = evaluate(test_evaluator, model)
            per_dimension[str(dim)] = {key: scores[key] for key in MATRYOSHKA_KEYS if key in scores}
            logger.info("Test at %d dimensions: %s", dim, per_dimension[str(dim)])
    # 9. Save the final model atomically, then the metrics and the record.
    final_dir = Path(run_args.model_dir) if run_args.model_dir else output_dir / "final"
    if trainer.is_world_process_zero():
        save_dir_atomically(model.save_pretrained, final_dir)
        summary = {
            "test": metrics,
            "baseline_test": baseline,
            "sources": sources,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "best_dev_metric": trainer.state.best_metric,
            "global_step": trainer.state.global_step,
            "train_runtime_s": train_result.metrics.get("train_runtime"),
            "interpolation": interpolation,
            "matryoshka": per_dimension,
            "backend": "torch",  # every figure of the run, base and fine-tuned: fp32 (or the GPU's own)
        }
        if baseline_items:
            after = item_scores(model, test_sets, batch)
            base_name = hub_base_model(model_args.model_name_or_path) or "base"
            summary["paired"] = paired_differences(baseline_items, after, test_sets, base_name)
        # metrics.json also travels inside the model folder (model.tar.gz), where `push` reads it.
        extra = [Path(run_args.output_data_dir)] if run_args.output_data_dir else []
        for folder in [output_dir, final_dir, *extra]:
            write_metrics(folder, summary)
        record |= {
            "status": "finished",
            "metrics": metrics,
            "global_step": trainer.state.global_step,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "final_model": str(final_dir),
            "seconds": round(earlier_seconds + time.time() - started, 1),
            "attempts": record.get("attempts", 1),
            "paired": summary.get("paired"),  # against the base, on the same test items
        }
        for folder in [output_dir, final_dir, *extra]:  # the model carries its own record (for `push`)
            write_run_record(folder, record)
    wait_for_everyone()
    return record


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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The evaluators log every metric at INFO; the metric lines already carry them.
    logging.getLogger("sentence_transformers.sentence_transformer.evaluation").setLevel(logging.WARNING)
    try:
        args = parse_train_args(sys.argv[1:] if argv is None else argv)
        record = train(*args)
    except (ConfigError, OutputDirError, PrepareError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if record.get("status") == "finished":
        print(format_summary(record))
    return 0


def _config(*dataclasses) -> dict:
    config = {}
    for item in dataclasses:
        values = item.to_dict() if hasattr(item, "to_dict") else asdict(item)
        config |= {k: v for k, v in values.items() if not k.startswith("_")}
    return config


def _log_final_to_trackio(training_args, metrics: dict, step: int, config: dict) -> None:
    """Add the test metrics and the full resolved config to the run the trainer's callback closed."""
    import trackio

    config = json.loads(json.dumps(config, default=str))
    trackio.init(project=training_args.project, name=training_args.run_name, resume="allow", config=config)
    trackio.log(metrics, step=step)
    trackio.finish()
