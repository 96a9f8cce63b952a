"""Corpus embeddings: computed once per (model, corpus), held in the process' cache.

A shared corpus' embeddings (the bundled news, ``$CORPUS``) are pinned in memory and kept on disk, so a
restart reads them back; an upload's are evictable and never written to disk. Encoding holds no lock
that another corpus or model waits for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from core.cache import cached_array
from core.corpus import Corpus
from core.paths import cache_dir

logger = logging.getLogger(__name__)
CHUNK = 256  # texts per progress step


def embedding_key(handle, corpus: Corpus) -> str:
    """The name of what is derived from this model's view of this corpus (embeddings, index, maps)."""
    return f"{handle.fingerprint}-{corpus.fingerprint}"


def encode_documents(model, texts: list[str], batch_size: int = 32, progress=None) -> np.ndarray:
    """Normalised float32 document embeddings (the model's document prompt applied).

    Args:
        progress: Optional ``progress(fraction, desc=...)`` callback, called every ``CHUNK`` texts.
    """
    chunks = []
    for start in range(0, len(texts), CHUNK):
        batch = texts[start : start + CHUNK]
        chunks.append(model.encode_document(batch, batch_size=batch_size, normalize_embeddings=True))
        if progress is not None:
            done = min(start + CHUNK, len(texts))
            progress(done / len(texts), desc=f"Calculando embeddings: {done} de {len(texts)} textos")
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 0), np.float32)


def corpus_embeddings(handle, corpus: Corpus, progress: Callable | None = None) -> np.ndarray:
    """Embeddings of ``corpus`` under the model of ``handle``: from memory, else disk (shared corpora
    only), else computed.

    Args:
        handle: A ``core.handle.ModelHandle``.
        corpus: The corpus.
        progress: Optional ``progress(fraction, desc=...)`` callback while encoding.
    """
    key = embedding_key(handle, corpus)

    def compute() -> np.ndarray:
        logger.info("Embedding %d texts of %s with %s", len(corpus), corpus.name, handle.spec)
        return encode_documents(handle.model, corpus.passages(), progress=progress)

    path = cache_dir() / "embeddings" / f"{key}.npy" if corpus.shared else None
    return cached_array(("embeddings", key), compute, path)
