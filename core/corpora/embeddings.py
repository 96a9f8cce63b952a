"""Corpus embeddings: computed once per (model, corpus), held in the process' cache.

A shared corpus' embeddings (the bundled news, ``$CORPUS``) are pinned in memory and kept on disk, so a
restart reads them back; an upload's are evictable and never written to disk. Encoding holds no lock
that another corpus or model waits for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.cache import cached_array
from core.corpora.corpus import Corpus
from core.corpora.embedded import (
    SHARD_ROWS,
    check_model,
    job_metadata,
    same_job,
    shard_metadata,
    shard_path,
    write_shard,
)
from core.errors import CorpusError
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


def write_embedded(
    corpus,
    handle,
    output: Path,
    shard_rows: int = SHARD_ROWS,
    batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> dict:
    """Embed ``corpus`` with ``handle``'s model into Parquet shards under ``output``, skipping the shards a
    previous run of the same job completed.

    Args:
        corpus: A ``core.corpora.corpus.Corpus``.
        handle: A ``core.models.handle.ModelHandle``.
        on_progress: Called with the number of texts each finished step added (a progress bar's update).

    Returns:
        ``{"rows", "shards", "written", "kept", "dimension", "output"}``.

    Raises:
        CorpusError: ``output`` holds shards of another job (other model, input or layout).
    """
    from core.models.evaluators import prompt_names

    passages = corpus.passages()  # what the app embeds: the headline and the start of the body
    meta = job_metadata(handle.spec, handle.fingerprint, prompt_names(handle.model)[1], corpus, shard_rows)
    count = meta["shards"]
    output.mkdir(parents=True, exist_ok=True)
    expected = {shard_path(output, index, count).name for index in range(count)}
    for other in output.glob("part-*.parquet"):
        if other.name not in expected or not same_job(shard_metadata(other), meta):
            raise CorpusError(
                f"{output} holds shards of another job ({other.name}: another model, input or shard size); "
                "remove the folder or choose another --output."
            )
    written = kept = 0
    dimension = None
    for index in range(count):
        path = shard_path(output, index, count)
        items = corpus.items[index * shard_rows : (index + 1) * shard_rows]
        if path.is_file():
            kept += 1
            if on_progress:
                on_progress(len(items))
            continue
        done = [0]

        def step(fraction: float, desc: str = "", items=items, done=done) -> None:
            now = int(fraction * len(items))
            if on_progress and now > done[0]:
                on_progress(now - done[0])
            done[0] = now

        texts = passages[index * shard_rows : (index + 1) * shard_rows]
        vectors = encode_documents(handle.model, texts, batch_size, progress=step)
        if on_progress and done[0] < len(items):
            on_progress(len(items) - done[0])
        dimension = vectors.shape[1]
        write_shard(path, items, vectors, meta | {"shard": index})
        written += 1
    return {
        "rows": len(corpus),
        "shards": count,
        "written": written,
        "kept": kept,
        "dimension": dimension,
        "output": str(output),
    }
