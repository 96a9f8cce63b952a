"""Checkpoints: find the latest *complete* one, and decide how a run uses its output folder.

Like ``run_glue``: a folder with checkpoints resumes from the latest one, an explicit
``--resume_from_checkpoint`` wins, and a folder with other files is not overwritten unless asked.
Unlike ``get_last_checkpoint`` alone, every checkpoint is validated first: a process killed while
saving leaves a folder with a truncated or missing file, and that folder is skipped.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

from core.errors import WorkbenchError

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What a run writes before its first checkpoint; a folder holding only these may start afresh.
# what a run writes before its first checkpoint: prepared data, its record, tracking, the evaluators' CSVs
PRE_CHECKPOINT_FILES = {"data", "run.json", "trackio", "eval"}
RUN_OUTPUTS = ("final", "metrics.json", "run.json", "data", "eval")
_TORCH_FILES = ("optimizer.pt", "scheduler.pt")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


class OutputDirError(WorkbenchError, ValueError):
    """The output folder cannot be used as asked; the message says how to fix it."""


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete checkpoint, or ``None`` when it is one."""
    match = _CHECKPOINT.match(path.name)
    if not match or not path.is_dir():
        return "not a checkpoint-N folder"
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "trainer_state.json is missing or unreadable"
    if state.get("global_step") != int(match.group(1)):
        return "trainer_state.json does not match the folder's step"
    weights = [path / name for name in _WEIGHT_FILES if (path / name).is_file()]
    if not weights:
        return "no model weights"
    for weight in weights:
        if weight.suffix == ".safetensors" and not _safetensors_complete(weight):
            return f"{weight.name} is truncated"
    for name in _TORCH_FILES:
        if not _zip_complete(path / name):
            return f"{name} is missing or truncated"
    return None


def _safetensors_complete(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_size))
        data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size >= 8 + header_size + data_end
    except (OSError, struct.error, ValueError, KeyError, TypeError):
        return False


def _zip_complete(path: Path) -> bool:
    """torch.save writes a zip archive; a truncated one has no central directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def checkpoints(output_dir: Path) -> list[Path]:
    """The checkpoint-N folders in ``output_dir``, newest (highest step) first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if _CHECKPOINT.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)), reverse=True)


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint that passes ``checkpoint_problem``; incomplete ones are logged and skipped."""
    for path in checkpoints(output_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("Skipping incomplete checkpoint %s: %s", path, problem)
    return None


def plan_output_dir(output_dir: Path, resume_from_checkpoint: str | None, overwrite: bool) -> Path | None:
    """Decide where training starts and make sure the folder is usable.

    Returns:
        The checkpoint to resume from, or ``None`` to start from scratch.

    Raises:
        OutputDirError: The folder holds a finished run or unrelated files (and ``overwrite`` is off),
            the checkpoint asked for is incomplete, or the folder is not writable.
    """
    if resume_from_checkpoint:
        checkpoint = Path(resume_from_checkpoint)
        problem = checkpoint_problem(checkpoint)
        if problem:
            raise OutputDirError(f"--resume_from_checkpoint {checkpoint} is not usable: {problem}.")
        logger.info("Resuming from %s, as asked", checkpoint)
        _check_writable(output_dir)
        return checkpoint
    if overwrite:
        _clear_run(output_dir)
        _check_writable(output_dir)
        return None
    if (output_dir / "final").exists() and (output_dir / "metrics.json").exists():
        raise OutputDirError(
            f"{output_dir} holds a finished run; choose another --output_dir or pass --overwrite_output_dir."
        )
    latest = last_complete_checkpoint(output_dir)
    if latest is not None and (done := _finished_at(latest)):
        raise OutputDirError(
            f"{output_dir} holds the checkpoints of a run that already finished training ({latest.name}, "
            f"step {done} of {done}); choose another --output_dir, pass --overwrite_output_dir to start "
            f"again, or --resume_from_checkpoint {latest} to continue that run on purpose."
        )
    if latest is not None:
        logger.info("Resuming from the latest complete checkpoint %s", latest)
        _check_writable(output_dir)
        return latest
    others = sorted(
        p.name
        for p in (output_dir.iterdir() if output_dir.is_dir() else [])
        if p.name not in PRE_CHECKPOINT_FILES
        and not _CHECKPOINT.match(p.name)
        # ours, in flight: another rank's staging folder (".data-…") or write test (".write-test-…")
        and not p.name.startswith(".")
    )
    if others:
        raise OutputDirError(
            f"{output_dir} is not empty ({', '.join(others[:3])}) and holds no checkpoint; choose another "
            "--output_dir or pass --overwrite_output_dir."
        )
    _check_writable(output_dir)
    return None


def _finished_at(checkpoint: Path) -> int | None:
    """The step a checkpoint's training ended at, if it was saved at the run's last step."""
    import json

    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    step, last = state.get("global_step"), state.get("max_steps")
    return step if isinstance(step, int) and isinstance(last, int) and last > 0 and step >= last else None


def _clear_run(output_dir: Path) -> None:
    """Remove what a previous run left (checkpoints and run outputs), nothing else."""
    if not output_dir.is_dir():
        return
    for path in output_dir.iterdir():
        if _CHECKPOINT.match(path.name) or path.name in RUN_OUTPUTS:
            logger.info("Removing %s (--overwrite_output_dir)", path)
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _check_writable(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):
            pass
    except OSError as err:
        raise OutputDirError(
            f"Cannot write to {output_dir} ({err.strerror or err}); choose a writable --output_dir."
        ) from err


def wait_for_everyone() -> None:
    """Every rank of a distributed run waits here for the others (a no-op in one process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def lean_run(output_dir: Path, final_dir: Path) -> dict:
    """A finished run keeps what publishing and continuing need: ``final/`` (the model kept, the best
    checkpoint's weights when the best is loaded at the end) and the latest complete checkpoint (with its
    optimizer state, to train on from there); older checkpoints go. Returns the sizes, in bytes."""
    latest = last_complete_checkpoint(output_dir)
    removed = 0
    for path in checkpoints(output_dir):
        if path != latest:
            removed += folder_bytes(path)
            shutil.rmtree(path, ignore_errors=True)
    weights = sum(path.stat().st_size for path in final_dir.glob("*.safetensors"))
    return {
        "run_folder_bytes": folder_bytes(output_dir),
        "final_bytes": folder_bytes(final_dir),
        "weights_bytes": weights,
        "latest_checkpoint": latest.name if latest else None,
        "latest_checkpoint_bytes": folder_bytes(latest) if latest else 0,
        "removed_bytes": removed,
    }
