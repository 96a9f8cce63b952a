"""The Spanish data the project ships in ``assets/``: a news corpus and an STS set.

See ``assets/README.md`` for provenance, license and schema.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from core.paths import ASSETS_DIR

NEWS_FILE = ASSETS_DIR / "news_es.jsonl"
NEWS_DUPLICATES_FILE = ASSETS_DIR / "news_es_duplicates.tsv"
STS_FILES = {"dev": ASSETS_DIR / "sts_es_dev.jsonl", "test": ASSETS_DIR / "sts_es_test.jsonl"}
NEWS_FIELDS = ("id", "section", "title", "body")
STS_FIELDS = ("sentence1", "sentence2", "score")


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON Lines file; blank lines are skipped, a broken line names its number."""
    rows = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from err
    return rows


def load_news() -> list[dict]:
    """The bundled news corpus: dicts with ``id``, ``section``, ``title`` and ``body``."""
    return read_jsonl(NEWS_FILE)


def load_news_duplicates() -> list[tuple[str, str]]:
    """Pairs of news ids that tell the same story in different words (ground truth)."""
    with NEWS_DUPLICATES_FILE.open(encoding="utf-8", newline="") as handle:
        return [(row["id_a"], row["id_b"]) for row in csv.DictReader(handle, delimiter="\t")]


def load_sts(split: str = "test") -> list[dict]:
    """The bundled Spanish STS pairs of one split: ``sentence1``, ``sentence2``, ``score`` (0–5)."""
    if split not in STS_FILES:
        raise ValueError(f"Unknown STS split {split!r}; choose one of {sorted(STS_FILES)}.")
    return read_jsonl(STS_FILES[split])
