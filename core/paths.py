"""Where the project keeps what it builds: the user cache and the bundled assets."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"
CACHE_ENV = "WORKBENCH_CACHE"


def cache_dir() -> Path:
    """The cache folder: ``$WORKBENCH_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, per project."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spanish-embeddings-workbench"
