"""Library versions recorded with runs and results."""

from __future__ import annotations

import sys
from importlib import metadata

LIBRARIES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "datasets",
    "accelerate",
    "huggingface_hub",
    "trackio",
)


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Python and the installed versions of ``names`` (missing packages are left out)."""
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
