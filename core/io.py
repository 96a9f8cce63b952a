"""Writing files and folders so that an interrupted write never leaves half a result behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_file_atomically(path: Path, write: Callable, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only; a result is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    """The process' umask, read without changing it (``os.umask`` sets it, racing other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def save_dir_atomically(save: Callable[[str], object], target: Path, replace: bool = True) -> Path:
    """Call ``save(folder)`` on a temporary folder beside ``target``, then rename it into place.

    Args:
        save: Writes the folder's content into the path it is given (which does not exist yet).
        target: The final folder.
        replace: Remove an existing ``target`` first; otherwise an existing one is an error.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        staged = Path(tmp) / target.name
        save(str(staged))
        if target.exists():
            if not replace:
                raise FileExistsError(target)
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def read_json(path: Path) -> dict:
    """A JSON file's content, or ``{}`` when it is missing or unreadable (an optional record)."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
