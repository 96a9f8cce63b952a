"""The Spanish data the project ships in ``assets/``: a news corpus and an STS set.

See ``assets/README.md`` for provenance, license and schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.paths import ASSETS_DIR
from core.tables import TableError, read_table

logger = logging.getLogger(__name__)

NEWS_FILE = ASSETS_DIR / "news_es.jsonl"
NEWS_DUPLICATES_FILE = ASSETS_DIR / "news_es_duplicates.tsv"
NEWS_KEYWORDS_FILE = ASSETS_DIR / "news_es_keywords.jsonl"
STS_FILES = {
    "dev": ASSETS_DIR / "sts_es_dev.jsonl",
    "test": ASSETS_DIR / "sts_es_test.jsonl",
    "calibration": ASSETS_DIR / "sts_es_calibration.jsonl",
}
NEWS_FIELDS = ("id", "section", "title", "body")
STS_FIELDS = ("sentence1", "sentence2", "score")


def read_bundled(path: str | Path) -> list[dict]:
    """Read a bundled file (JSON Lines, or the duplicates' TSV) with the project's one reader
    (``core.tables``); a broken line names its number."""
    try:
        return read_table(path).rows
    except TableError as err:
        raise ValueError(f"{path}:{err.line}: not valid ({err.code}: {err.detail})") from err


def load_news() -> list[dict]:
    """The bundled news corpus: dicts with ``id``, ``section``, ``title`` and ``body``."""
    return read_bundled(NEWS_FILE)


def load_news_duplicates() -> list[tuple[str, str]]:
    """Pairs of news ids that tell the same story in different words (ground truth)."""
    return [(row["id_a"], row["id_b"]) for row in read_bundled(NEWS_DUPLICATES_FILE)]


def load_news_keywords() -> list[dict]:
    """Keyword queries (``query``: names, places, figures, rare terms) and the news ``id`` each asks for."""
    return read_bundled(NEWS_KEYWORDS_FILE)


def load_sts(split: str = "test") -> list[dict]:
    """The bundled Spanish STS pairs of one split: ``sentence1``, ``sentence2``, ``score`` (0–5)."""
    if split not in STS_FILES:
        raise ValueError(f"Unknown STS split {split!r}; choose one of {sorted(STS_FILES)}.")
    return read_bundled(STS_FILES[split])


STSB_HUB_ID = "PhilipMay/stsb_multi_mt"
STSB_HUB_SPLITS = {"dev": "dev", "test": "test", "train": "train"}


def load_stsb_multi_mt(split: str = "test", language: str = "es") -> list[dict]:
    """``PhilipMay/stsb_multi_mt`` from the Hub, as dicts with ``sentence1``, ``sentence2``, ``score`` (0–5).

    Raises:
        OSError / ConnectionError / ValueError: The Hub cannot be reached or the split does not exist.
    """
    from datasets import load_dataset

    if split not in STSB_HUB_SPLITS:
        raise ValueError(f"stsb_multi_mt has no split {split!r}; choose one of {sorted(STSB_HUB_SPLITS)}.")
    data = load_dataset(STSB_HUB_ID, name=language, split=STSB_HUB_SPLITS[split])
    return [
        {
            "sentence1": row["sentence1"],
            "sentence2": row["sentence2"],
            "score": float(row["similarity_score"]),
        }
        for row in data
    ]


def load_sts_with_fallback(split: str) -> tuple[list[dict], str]:
    """Spanish STS pairs: ``stsb_multi_mt`` es when the Hub answers, else the bundled set.

    Returns:
        The pairs and the name of the source they came from (``stsb_multi_mt:es:<split>`` or
        ``bundled:<split>``), so that callers can report which one they used.
    """
    from core.hub import offline_unless_reachable

    reason = offline_unless_reachable()
    if reason is not None:  # one probe decided: no download attempt, no retries
        why = "offline mode" if reason == "offline" else "the Hub does not answer"
        logger.info("Spanish STS %s: the bundled set (%s).", split, why)
        return load_sts(split), f"bundled:{split}"
    try:
        return load_stsb_multi_mt(split), f"stsb_multi_mt:es:{split}"
    except Exception as err:  # gated, renamed: the bundled set is the documented fallback
        logger.warning(
            "stsb_multi_mt es %s is not reachable (%s); using the bundled Spanish STS %s set.",
            split,
            type(err).__name__,
            split,
        )
        return load_sts(split), f"bundled:{split}"
