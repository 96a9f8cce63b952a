"""Corpus embeddings, computed once per (model, corpus) and kept on disk and in memory."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np

from core.corpus import corpus_fingerprint, passage_text
from core.fingerprint import model_fingerprint
from core.io import write_file_atomically
from core.paths import cache_dir

logger = logging.getLogger(__name__)
_MEMORY: dict[str, np.ndarray] = {}
_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def cached_model_fingerprint(spec: str) -> str:
    """A model's fingerprint, computed once per process (its files do not change under a running app)."""
    return model_fingerprint(spec)


def embedding_key(spec: str, items: list[dict], corpus_key: str | None = None) -> str:
    return f"{cached_model_fingerprint(spec)}-{corpus_key or corpus_fingerprint(items)}"


def encode_documents(model, texts: list[str], batch_size: int = 32, progress=None) -> np.ndarray:
    """Normalised float32 document embeddings (the model's document prompt applied)."""
    chunks = []
    for start in range(0, len(texts), 256):
        chunks.append(
            model.encode_document(
                texts[start : start + 256], batch_size=batch_size, normalize_embeddings=True
            )
        )
        if progress is not None:
            progress(min(start + 256, len(texts)) / len(texts), desc="Embedding the corpus")
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 0), np.float32)


def corpus_embeddings(
    model, spec: str, items: list[dict], corpus_key: str | None = None, progress=None
) -> np.ndarray:
    """Embeddings of ``items`` under the model named ``spec``: memory, then disk, then computed.

    Args:
        model: The loaded model named by ``spec``.
        spec: The model spec (part of the cache key).
        items: Corpus items (see ``core.corpus``).
        corpus_key: The corpus fingerprint when the caller already has it.
        progress: Optional ``progress(fraction, desc=...)`` callback.
    """
    key = embedding_key(spec, items, corpus_key)
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
        path = cache_dir() / "embeddings" / f"{key}.npy"
        if path.is_file():
            try:
                _MEMORY[key] = np.load(path)
                return _MEMORY[key]
            except (OSError, ValueError):
                logger.warning("Recomputing unreadable cached embeddings %s", path)
        logger.info("Embedding %d documents with %s", len(items), spec)
        embeddings = encode_documents(model, [passage_text(item) for item in items], progress=progress)
        write_file_atomically(path, lambda handle: np.save(handle, embeddings), binary=True)
        _MEMORY[key] = embeddings
        return embeddings
