"""Metric lines that a job scheduler can scrape, and the run record kept beside each run.

Every logged metric is printed as one stable line::

    metric: eval_sts-dev_spearman_cosine=0.8123 step=500 epoch=1.0

``METRIC_LINE`` matches any such line; ``metric_regex(name)`` gives the expression for one metric, with
the value in group 1 (the form SageMaker's metric definitions expect).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from transformers import TrainerCallback

from core.io import write_file_atomically

METRIC_LINE = re.compile(
    r"^metric: (?P<name>[^=\s]+)=(?P<value>[-+0-9.eEinfa]+) step=(?P<step>\d+) epoch=(?P<epoch>[0-9.]+)$"
)
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def format_metric_line(name: str, value: float, step: int, epoch: float | None) -> str:
    """One metric as a line; the value keeps 6 significant digits."""
    return f"metric: {name}={value:.6g} step={step} epoch={epoch or 0:.4g}"


def metric_regex(name: str) -> str:
    """Regular expression that captures the value of metric ``name`` from a metric line."""
    return rf"metric: {re.escape(name)}={_NUMBER} "


class MetricLineCallback(TrainerCallback):
    """Print every numeric metric the trainer logs as a metric line (main process only)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            print_metric_lines(logs, state.global_step, state.epoch)


def print_metric_lines(metrics: dict, step: int, epoch: float | None, stream=None) -> None:
    """Print every finite numeric value of ``metrics`` as a metric line."""
    for name, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            print(format_metric_line(name, float(value), step, epoch), file=stream or sys.stdout, flush=True)


def write_run_record(output_dir: Path, record: dict) -> Path:
    """Write ``run.json`` (config, versions, status, metrics) atomically."""
    text = json.dumps(record, indent=2, ensure_ascii=False, default=str)
    return write_file_atomically(output_dir / "run.json", lambda handle: handle.write(text))
