"""What a run writes: ``run.json`` while it runs (``run_record``), the baseline kept for resuming, and
``final/`` with ``metrics.json`` and ``run.json`` at the end (``save_final``)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

from core.io import read_json, save_dir_atomically
from core.runs import write_json, write_metrics, write_run_record
from core.versions import library_versions
from trainer.card import hub_base_model
from trainer.checkpoints import lean_run
from trainer.scores import (
    evaluate,
    item_scores,
    paired_differences,
)

logger = logging.getLogger(__name__)


BASELINE_ITEMS = "baseline_items.json"


def run_record(model_args, data_args, loss_args, run_args, training_args, splits, train_sets, sources, resume,
               previous) -> dict:  # fmt: skip
    """What ``run.json`` says of the run while it runs (time spent by earlier, killed attempts kept)."""
    losses = ([loss_args.loss] if data_args.train_news else []) + (["cosent"] if data_args.sts_train else [])
    return {
        "experiment": run_args.experiment,
        "run_name": training_args.run_name,
        "status": "running",
        "model": model_args.model_name_or_path,
        "loss": "+".join(losses) + (f"+matryoshka{loss_args.dimensions()}" if loss_args.dimensions() else ""),
        "data": {name: len(split) for name, split in splits.items()}
        | ({"sts_train": len(train_sets["sts"])} if "sts" in train_sets else {}),
        "sources": sources,
        "config": run_config(model_args, data_args, loss_args, run_args, training_args),
        "versions": library_versions(),
        "resumed_from": str(resume) if resume else None,
        "world_size": training_args.world_size,
        "attempts": int(previous.get("attempts") or 1) + 1 if resume else 1,
        "seconds": round(float(previous.get("seconds") or 0.0), 1),
    }


def baseline(model, evaluators, record, previous, resume, run_args, output_dir, is_main, batch) -> dict:
    """The untrained model's test figures (into ``record``) and per-item scores, for the paired
    before/after differences; both kept from the first attempt when resuming."""
    metrics = previous.get("baseline_metrics")
    if metrics is None and run_args.evaluate_before_training:
        logger.info("Evaluating the untrained model on the test split (baseline)")
        metrics = evaluate(evaluators.test, model)
    record["baseline_metrics"] = metrics
    items = read_json(output_dir / BASELINE_ITEMS) if resume else {}
    if is_main and metrics is not None and not items:
        items = item_scores(model, evaluators.paired_sets, batch)
        write_json(output_dir / BASELINE_ITEMS, items)
    return items


def save_final(model, trainer, train_result, record, metrics, per_dimension, baseline_items, evaluators,
               model_args, run_args, output_dir, clock, batch) -> None:  # fmt: skip
    """``final/`` saved atomically, then ``metrics.json`` and ``run.json`` beside it and in the run folder
    (the model carries its own record, for ``push``)."""
    final_dir = Path(run_args.model_dir) if run_args.model_dir else output_dir / "final"
    save_dir_atomically(model.save_pretrained, final_dir)
    summary = {
        "test": metrics,
        "baseline_test": record.get("baseline_metrics"),
        "sources": record["sources"],
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_dev_metric": trainer.state.best_metric,
        "global_step": trainer.state.global_step,
        "train_runtime_s": train_result.metrics.get("train_runtime"),
        "interpolation": record.get("interpolation"),
        "matryoshka": per_dimension,
        "backend": "torch",  # every figure of the run, base and fine-tuned: fp32 (or the GPU's own)
    }
    if baseline_items:
        after = item_scores(model, evaluators.paired_sets, batch)
        base_name = hub_base_model(model_args.model_name_or_path) or "base"
        summary["paired"] = paired_differences(baseline_items, after, evaluators.paired_sets, base_name)
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
        "seconds": round(clock[1] + time.time() - clock[0], 1),
        "attempts": record.get("attempts", 1),
        "paired": summary.get("paired"),  # against the base, on the same test items
    }
    record["disk"] = lean_run(output_dir, final_dir)
    for folder in [output_dir, final_dir, *extra]:
        write_run_record(folder, record)


def run_config(*dataclasses) -> dict:
    config = {}
    for item in dataclasses:
        values = item.to_dict() if hasattr(item, "to_dict") else asdict(item)
        config |= {k: v for k, v in values.items() if not k.startswith("_")}
    return config
