"""Semantic search over corpus embeddings with sentence-transformers' ``semantic_search``."""

from __future__ import annotations

import numpy as np


def search(
    model, query: str, items: list[dict], embeddings: np.ndarray, k: int = 5, section: str | None = None
) -> list[dict]:
    """The ``k`` items most similar to ``query``, optionally only from one section.

    Returns:
        Dicts with the item's fields plus ``score`` (cosine), best first.
    """
    import torch
    from sentence_transformers.util import semantic_search

    indices = np.arange(len(items))
    if section:
        indices = np.array([i for i, item in enumerate(items) if item["section"] == section], dtype=int)
    if not len(indices):
        return []
    query_embedding = model.encode_query([query], convert_to_tensor=True, normalize_embeddings=True)
    corpus = torch.from_numpy(embeddings[indices]).to(query_embedding.device, query_embedding.dtype)
    hits = semantic_search(query_embedding, corpus, top_k=min(k, len(indices)))[0]
    return [items[indices[hit["corpus_id"]]] | {"score": float(hit["score"])} for hit in hits]


def snippet(text: str, limit: int = 220) -> str:
    """The start of ``text``, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
