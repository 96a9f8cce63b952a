"""Files a visitor takes away: a results table as CSV, a corpus' embeddings as Parquet.

Each file goes into its own fresh folder under the system's temp directory (the web layer copies it
into its own cache to serve it); folders older than an hour are removed when a new file is written
(at most once a minute), so downloads never pile up.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

KEEP_S = 3600


def exports_dir() -> Path:
    return Path(tempfile.gettempdir()) / "workbench-exports"


def csv_file(name: str, header: list[str], rows: list[list]) -> str:
    """``rows`` as a UTF-8 CSV (with a BOM, so that spreadsheet programs read the accents right)."""
    path = _new_path(name, ".csv")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def embeddings_file(name: str, items, embeddings: np.ndarray) -> str:
    """One row per text (``id``, ``title``, ``section``, ``embedding``) as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    embeddings = np.asarray(embeddings, dtype=np.float32)
    table = pa.table(
        {
            "id": [str(item["id"]) for item in items],
            "title": [item.get("title") or "" for item in items],
            "section": [item.get("section") or "" for item in items],
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(embeddings.reshape(-1)), embeddings.shape[1]
            ),
        }
    )
    path = _new_path(name, ".parquet")
    pq.write_table(table, path)
    return str(path)


def _new_path(name: str, suffix: str) -> Path:
    root = exports_dir()
    root.mkdir(parents=True, exist_ok=True)
    _prune(root)
    folder = Path(tempfile.mkdtemp(dir=root))
    return folder / f"{_safe_name(name)}{suffix}"


def _safe_name(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-.")[:60] or "resultados"


PRUNE_EVERY_S = 60
_last_pruned = [0.0]


def _prune(root: Path) -> None:
    """Remove the folders older than ``KEEP_S``, at most once a minute: every search writes a CSV, and
    looking at thousands of folders on each one cost more than the search (docs/performance.md)."""
    if time.monotonic() - _last_pruned[0] < PRUNE_EVERY_S:
        return
    _last_pruned[0] = time.monotonic()
    cutoff = time.time() - KEEP_S
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # removed by a concurrent request
