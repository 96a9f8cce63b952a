"""Where the project keeps what it builds: the user cache and the bundled assets."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"
CACHE_ENV = "WORKBENCH_CACHE"
SPACE_STORAGE = Path("/data")  # where a Hugging Face Space mounts its persistent storage, when it has some


def cache_dir() -> Path:
    """The cache folder: ``$WORKBENCH_CACHE``; else, on a Space with persistent storage, ``/data`` (what
    is built survives restarts there); else ``$XDG_CACHE_HOME`` or ``~/.cache``; per project."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if space_storage() is not None:
        return SPACE_STORAGE / "spanish-embeddings-workbench"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spanish-embeddings-workbench"


def space_storage() -> Path | None:
    """The Space's persistent storage when this runs on a Space (``$SPACE_ID`` set) that has it mounted
    and writable; ``None`` elsewhere (a local ``/data`` folder is never taken over)."""
    if os.environ.get("SPACE_ID") and SPACE_STORAGE.is_dir() and os.access(SPACE_STORAGE, os.W_OK):
        return SPACE_STORAGE
    return None
