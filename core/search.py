"""Semantic search over corpus embeddings: exact for small corpora, a FAISS index for large ones."""

from __future__ import annotations

import numpy as np

from core.index import VectorIndex, get_index


def search(
    model,
    query: str,
    items: list[dict],
    embeddings: np.ndarray,
    k: int = 5,
    section: str | None = None,
    key: str | None = None,
) -> list[dict]:
    """The ``k`` items most similar to ``query``, optionally only from one section.

    Args:
        key: The embeddings' cache key (``core.embeddings.embedding_key``); with it a large corpus gets
            its index (built once, see ``core.index``) and the section filter is remembered; without it
            the search is exact.

    Returns:
        Dicts with the item's fields plus ``score`` (cosine), best first.
    """
    allowed = None
    if section:
        allowed = _section_rows(items, section, key)
        if not len(allowed):
            return []
    index = get_index(key, embeddings) if key else VectorIndex(embeddings, "exact")
    query_embedding = model.encode_query([query], normalize_embeddings=True, convert_to_numpy=True)[0]
    hits = index.search(query_embedding, k, allowed)
    return [items[row] | {"score": score} for row, score in hits]


_SECTION_ROWS: dict[tuple[str, str], np.ndarray] = {}


def _section_rows(items: list[dict], section: str, key: str | None) -> np.ndarray:
    """The rows of ``items`` in ``section``, remembered per corpus key (a scan of 1M items takes ~0.1 s)."""
    if key is not None and (key, section) in _SECTION_ROWS:
        return _SECTION_ROWS[key, section]
    rows = np.array([i for i, item in enumerate(items) if item["section"] == section], dtype=np.int64)
    if key is not None:
        _SECTION_ROWS[key, section] = rows
    return rows


def snippet(text: str, limit: int = 220) -> str:
    """The start of ``text``, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
