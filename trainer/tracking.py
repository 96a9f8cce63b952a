"""Metric lines that a job scheduler can scrape, and the run record kept beside each run.

What the trainer logs at once (an evaluation, a loss report, the test figures) is printed as one stable
line::

    metric: step=500 epoch=1 eval_loss=0.31 eval_sts-dev_spearman_cosine=0.8123

``METRIC_LINE`` matches any such line; ``metric_regex(name)`` gives the expression for one metric, with
the value in group 1 (the form SageMaker's metric definitions expect).
"""

from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

from transformers import TrainerCallback

from core.runs import write_run_record

METRIC_LINE = re.compile(
    r"^metric: step=(?P<step>\d+) epoch=(?P<epoch>[0-9.]+)(?P<metrics>(?: [^=\s]+=[-+0-9.eEinfa]+)+)$"
)
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def format_metric_line(metrics: dict, step: int, epoch: float | None) -> str | None:
    """The finite numeric values of ``metrics`` as one line (6 significant digits); None if there are none."""
    values = [
        f"{name}={float(value):.6g}"
        for name, value in metrics.items()
        if name != "epoch"  # already at the start of the line
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ]
    return f"metric: step={step} epoch={epoch or 0:.4g} {' '.join(values)}" if values else None


def parse_metric_line(line: str) -> dict[str, float] | None:
    """The metrics of a metric line (with ``step`` and ``epoch``), or None for any other line."""
    found = METRIC_LINE.match(line)
    if found is None:
        return None
    pairs = (pair.split("=", 1) for pair in found["metrics"].split())
    return {"step": float(found["step"]), "epoch": float(found["epoch"])} | {k: float(v) for k, v in pairs}


def metric_regex(name: str) -> str:
    """Regular expression that captures the value of metric ``name`` from a metric line."""
    return rf" {re.escape(name)}={_NUMBER}"


class MetricLineCallback(TrainerCallback):
    """Print what the trainer logs at once as one metric line (main process only)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            print_metric_lines(logs, state.global_step, state.epoch)


class RunClock(TrainerCallback):
    """Keeps ``seconds`` in run.json current while training (main process), counting earlier attempts, so
    the time of an attempt that is killed still counts once the run is resumed."""

    def __init__(self, output_dir: Path, record: dict, started: float, earlier_seconds: float = 0.0):
        self.output_dir, self.record = output_dir, record
        self.started, self.earlier = started, earlier_seconds

    def _write(self, state):
        if state.is_world_process_zero:
            self.record["seconds"] = round(self.earlier + time.time() - self.started, 1)
            write_run_record(self.output_dir, self.record)

    def on_log(self, args, state, control, **kwargs):
        self._write(state)

    def on_save(self, args, state, control, **kwargs):
        self._write(state)


def print_metric_lines(metrics: dict, step: int, epoch: float | None, stream=None) -> None:
    """Print the finite numeric values of ``metrics`` as one metric line."""
    line = format_metric_line(metrics, step, epoch)
    if line is not None:
        print(line, file=stream or sys.stdout, flush=True)


def trackio_callback(project: str, run_name: str, resuming: bool = False):
    """transformers' trackio callback, logging on the trainer's global step.

    The stock callback lets trackio count its own steps, so a resumed run's charts drift away from the
    training steps and the steps replayed after a restart from a checkpoint appear twice. This one logs
    each entry at ``state.global_step`` and, when resuming, drops the metrics that the run already holds
    at that step from an earlier attempt (a kill can fall between a step's loss and its evaluation).
    """
    from transformers.integrations import TrackioCallback
    from transformers.integrations.integration_utils import rewrite_logs

    class GlobalStepTrackioCallback(TrackioCallback):
        def __init__(self):
            super().__init__()
            # only a resumed attempt replays steps; a new run logs all of its own
            self.logged = _logged_steps(project, run_name) if resuming else {}

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            if not self._initialized:
                self.setup(args, state, model)
            if not state.is_world_process_zero or not logs:
                return
            values = rewrite_logs({k: v for k, v in logs.items() if k not in _RUN_SUMMARY})
            # replayed after a restart: drop what the earlier attempt already logged at this step
            values = {k: v for k, v in values.items() if state.global_step not in self.logged.get(k, ())}
            if values:
                self._trackio.log(values, step=state.global_step)

        def on_predict(self, args, state, control, metrics=None, **kwargs):
            if self._initialized and state.is_world_process_zero and metrics:
                self._trackio.log(rewrite_logs(metrics), step=state.global_step)

    return GlobalStepTrackioCallback()


# One-off totals of the whole run, which the stock callback does not chart either.
_RUN_SUMMARY = {
    "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos",
}  # fmt: skip


def _logged_steps(project: str, run_name: str) -> dict[str, set[int]]:
    """The steps at which each metric of the run is already stored (an earlier attempt's)."""
    try:
        from trackio.sqlite_storage import SQLiteStorage

        logs = SQLiteStorage.get_logs(project, run_name)
    except Exception:  # an unreadable store: log everything rather than fail the run
        return {}
    steps: dict[str, set[int]] = {}
    for entry in logs:
        for key in entry:
            if key not in ("step", "timestamp"):
                steps.setdefault(key, set()).add(entry.get("step"))
    return steps
