"""Fingerprints that key caches: the same model or data gives the same key, any change a new one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.models.loader import model_path, resolve_spec

_WHOLE_FILE_LIMIT = 8 << 20  # hash small files whole; large ones by size, head and tail
_EDGE = 1 << 20


def folder_fingerprint(folder: Path) -> str:
    """Hash of every file's relative path, size and content (head and tail for large files)."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        sha.update(f"{path.relative_to(folder)}\0{size}\0".encode())
        with path.open("rb") as handle:
            if size <= _WHOLE_FILE_LIMIT:
                sha.update(handle.read())
            else:
                sha.update(handle.read(_EDGE))
                handle.seek(-_EDGE, 2)
                sha.update(handle.read(_EDGE))
    return sha.hexdigest()[:16]


def model_fingerprint(spec: str | None = None) -> str:
    """Fingerprint of the model a spec names: its files when local or cached, else the spec itself."""
    source = model_path(resolve_spec(spec))
    folder = Path(source)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source, local_files_only=True))
        except Exception:  # not downloaded yet: the id is all we know
            return "hub-" + hashlib.sha256(source.encode()).hexdigest()[:16]
    return folder_fingerprint(folder)


def data_fingerprint(records) -> str:
    """Hash of JSON-serialisable records (lists of dicts, strings, numbers)."""
    text = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
