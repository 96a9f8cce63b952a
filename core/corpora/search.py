"""Semantic search over corpus embeddings: exact for small corpora, a FAISS index for large ones."""

from __future__ import annotations

import numpy as np

from core.corpora.corpus import Corpus
from core.corpora.index import VectorIndex, get_index


def search(
    model,
    query: str,
    corpus: Corpus,
    embeddings: np.ndarray,
    k: int = 5,
    section: str | None = None,
    key: str | None = None,
) -> list[dict]:
    """The ``k`` items of ``corpus`` most similar to ``query``, optionally only from one section.

    Args:
        model: The ``SentenceTransformer`` that made ``embeddings``.
        key: The embeddings' name (``core.corpora.embeddings.embedding_key``); with it a large corpus gets its
            index (built once, see ``core.corpora.index``); without it the search is exact.

    Returns:
        Dicts with the item's fields plus ``score`` (cosine), best first.
    """
    allowed = None
    if section:
        allowed = corpus.section_rows(section)
        if not len(allowed):
            return []
    index = get_index(key, embeddings, shared=corpus.shared) if key else VectorIndex(embeddings, "exact")
    query_embedding = model.encode_query([query], normalize_embeddings=True, convert_to_numpy=True)[0]
    hits = index.search(query_embedding, k, allowed)
    return [corpus.items[row] | {"score": score} for row, score in hits]


def snippet(text: str, limit: int = 220) -> str:
    """The start of ``text``, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
