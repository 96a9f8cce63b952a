"""The training loop's pieces: the trainer (rank 0's metrics shared with every rank) with its callbacks,
and the test figures of the model kept (per Matryoshka dimension too)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from trainer.checkpoints import wait_for_everyone
from trainer.scores import (
    MATRYOSHKA_KEYS,
    evaluate,
)
from trainer.tracking import (
    MetricLineCallback,
    RunClock,
    print_metric_lines,
    trackio_callback,
)

logger = logging.getLogger(__name__)


def trainer_class():
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


def build_trainer(model, training_args, run_args, record, clock, resume, train_dataset, eval_dataset, loss,
                  dev_evaluator):  # fmt: skip
    """The trainer with its callbacks (metric lines, run clock, early stopping, trackio); returns it and
    whether trackio logs the run."""
    training_args.project = run_args.experiment
    tracked = False
    if training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False  # nothing to pin to; avoids a warning per epoch
    callbacks = [MetricLineCallback(), RunClock(Path(training_args.output_dir), record, *clock)]
    if run_args.early_stopping_patience:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run_args.early_stopping_patience))
    if "trackio" in (training_args.report_to or []):  # ours logs on the global step (trainer/tracking.py)
        training_args.report_to = [name for name in training_args.report_to if name != "trackio"]
        callbacks.append(trackio_callback(training_args.project, training_args.run_name, bool(resume)))
        tracked = True
    trainer = trainer_class()(model=model, args=training_args, train_dataset=train_dataset,
                               eval_dataset=eval_dataset, loss=loss, evaluator=dev_evaluator,
                               callbacks=callbacks)  # fmt: skip
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # without a progress bar it printed each log again, as a dict
    return trainer, tracked


def test_figures(model, test_evaluator, trainer, training_args, loss_args, record, tracked, is_main):
    """The test figures of the model kept, and per Matryoshka dimension (the embedding cut to its first d
    values); printed and sent to trackio on the main process."""
    metrics = evaluate(test_evaluator, model)
    if is_main:
        test_metrics = {f"test_{k}": v for k, v in metrics.items()}
        print_metric_lines(test_metrics, trainer.state.global_step, trainer.state.epoch)
        if tracked:
            log_final_to_trackio(training_args, test_metrics, trainer.state.global_step, record["config"])
    if not (loss_args.dimensions() and is_main):
        return metrics, None
    per_dimension = {}
    for dim in loss_args.dimensions():
        with model.truncate_embeddings(dim):
            scores = evaluate(test_evaluator, model)
        per_dimension[str(dim)] = {key: scores[key] for key in MATRYOSHKA_KEYS if key in scores}
        logger.info("Test at %d dimensions: %s", dim, per_dimension[str(dim)])
    return metrics, per_dimension


def log_final_to_trackio(training_args, metrics: dict, step: int, config: dict) -> None:
    """Add the test metrics and the full resolved config to the run the trainer's callback closed."""
    import trackio

    config = json.loads(json.dumps(config, default=str))
    trackio.init(project=training_args.project, name=training_args.run_name, resume="allow", config=config)
    trackio.log(metrics, step=step)
    trackio.finish()
