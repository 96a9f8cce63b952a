"""A training run's records, written and read in one place.

``run.json``: the run record (experiment, status, model, loss, data sizes, sources, the resolved config,
versions, attempts, seconds, the test and baseline metrics, the paired differences against the base).
``metrics.json``: the summary that travels with the model (test and baseline metrics, sources, best
checkpoint, global step, the paired differences, interpolation and Matryoshka figures).
Both are written into the run's folder and into the model's own folder (``final/``, or SageMaker's model
dir), so a model found alone still knows how it was trained.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.io import read_json, write_file_atomically

RUN_RECORD = "run.json"
METRICS = "metrics.json"


def write_json(path: Path, data: dict) -> Path:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return write_file_atomically(path, lambda handle: handle.write(text))


def write_run_record(folder: Path, record: dict) -> Path:
    """Write ``run.json`` atomically."""
    return write_json(Path(folder) / RUN_RECORD, record)


def write_metrics(folder: Path, summary: dict) -> Path:
    """Write ``metrics.json`` atomically."""
    return write_json(Path(folder) / METRICS, summary)


def read_run_record(folder: Path) -> dict:
    """``run.json`` of a run folder; empty when there is none (or it cannot be read)."""
    return read_json(Path(folder) / RUN_RECORD)


def model_records(folder: Path) -> tuple[dict, dict]:
    """``metrics.json`` and ``run.json`` of a model: inside its folder, else beside it (runs/x/final)."""
    folder = Path(folder)
    for place in (folder, folder.parent):
        metrics = read_json(place / METRICS)
        if metrics:
            return metrics, read_json(place / RUN_RECORD)
    return {}, {}


def find_runs(root: Path, experiment: str | None = None) -> list[dict]:
    """Every run under ``root`` (any depth), optionally of one experiment, each with its ``path``: a
    ``run.json`` that is not inside another run's folder (the copy in ``final/`` is the same run)."""
    runs = []
    paths = sorted(Path(root).rglob(RUN_RECORD))
    folders = {path.parent for path in paths}
    for path in paths:
        if any(parent in folders for parent in path.parent.parents):
            continue
        record = read_json(path)
        if not record or (experiment and record.get("experiment") != experiment):
            continue
        runs.append(record | {"path": str(path.parent)})
    return runs
