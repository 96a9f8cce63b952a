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
from core.corpora.corpus import Corpus
from core.corpora.embedded import check_model
from core.paths import cache_dir

logger = logging.getLogger(__name__)
CHUNK = 512  # texts per progress step
BATCH_SIZE = 64  # texts of similar length per forward pass (they are sorted by length first)
EMBEDDING_VERSION = 2  # part of the key: bumped when what is embedded changes (2: passages cut, sorted)


def embedding_key(handle, corpus: Corpus) -> str:
    """The name of what is derived from this model's view of this corpus (embeddings, index, maps)."""
    return f"{handle.fingerprint}-{corpus.fingerprint}-e{EMBEDDING_VERSION}"


def encode_documents(
    model, texts: list[str], batch_size: int = BATCH_SIZE, progress=None, engine: Callable | None = None
) -> np.ndarray:
    """Normalised float32 document embeddings (the model's document prompt applied), in input order.

    The texts are encoded longest first, in batches of similar length (a batch is padded to its longest
    text: sorting saves most of the padding of a mixed corpus), ``CHUNK`` texts per step.

    Args:
        progress: Optional ``progress(fraction, desc=...)`` callback after each step; the fraction counts
            characters, so that the long texts first do not make the rest look slow.
        engine: Optional ``engine()`` giving the model for the next step (``corpus_embeddings``: every
            core while nothing else runs); default ``model`` throughout.
    """
    if not texts:
        return np.zeros((0, 0), np.float32)
    lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))
    order = np.argsort(-lengths, kind="stable")
    total, done = int(lengths.sum()) or 1, 0
    out: np.ndarray | None = None
    for start in range(0, len(texts), CHUNK):
        rows = order[start : start + CHUNK]
        chunk = (engine() if engine is not None else model).encode_document(
            [texts[i] for i in rows], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        if out is None:
            out = np.empty((len(texts), chunk.shape[1]), np.float32)
        out[rows] = chunk
        done += int(lengths[rows].sum())
        if progress is not None:
            count = min(start + CHUNK, len(texts))
            progress(done / total, desc=f"Calculando embeddings: {count} de {len(texts)} textos")
    return out


def corpus_embeddings(
    handle, corpus: Corpus, progress: Callable | None = None, alone: Callable[[], bool] | None = None
) -> np.ndarray:
    """Embeddings of ``corpus`` under the model of ``handle``: from memory, else disk (shared corpora
    only), else computed.

    Args:
        handle: A ``core.models.handle.ModelHandle``.
        corpus: The corpus.
        progress: Optional ``progress(fraction, desc=...)`` callback while encoding.
        alone: Optional ``alone()``: True while no other request runs, so that each step may use every
            core (``handle.bulk_model``); otherwise the serving model (one thread on the Space).
    """
    if corpus.vectors is not None:  # an embedded corpus: its own vectors, if this model made them
        check_model(corpus, handle)
        return corpus.vectors.embeddings
    key = embedding_key(handle, corpus)

    def compute() -> np.ndarray:
        logger.info("Embedding %d texts of %s with %s", len(corpus), corpus.name, handle.spec)
        engine = (lambda: handle.bulk_model if alone() else handle.model) if alone is not None else None
        return encode_documents(handle.model, corpus.passages(), progress=progress, engine=engine)

    path = cache_dir() / "embeddings" / f"{key}.npy" if corpus.shared else None
    return cached_array(("embeddings", key), compute, path)
