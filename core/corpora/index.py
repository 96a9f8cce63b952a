"""Nearest neighbours over normalised embeddings: exact below a size threshold, a FAISS IVF index above,
a binary index with exact rescoring for the largest corpora.

The choice comes from ``python -m benchmarks speed`` on a 2-core CPU (docs/performance.md): one exact
matrix product costs ~1.6 ms at 10k vectors and ~17 ms at 100k (too slow with query encoding on top), so
corpora from ``INDEX_THRESHOLD`` vectors up get an inverted-file index (``nlist = 4·√n`` lists, 32
probed), built once and kept on disk. From ``BINARY_THRESHOLD`` vectors, an IVF-Flat copy of the vectors
would double the memory, so the index is one bit per dimension (FAISS ``IndexBinaryFlat``, 48 bytes per
vector for 384 dimensions): the ``RESCORE_CANDIDATES`` nearest codes by Hamming distance are rescored
exactly with the float vectors. The bits are the signs of the vectors minus the corpus' mean: every e5
vector shares a large common component, and raw signs lose most neighbours (recall@10 0.51 against 0.95
at 1M synthetic vectors, 1,000 candidates). ``$WORKBENCH_INDEX`` overrides the choice (``auto``,
``exact``, ``ivf``, ``hnsw``, ``binary``) and ``$WORKBENCH_INDEX_THRESHOLD`` the IVF size.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from core.cache import CACHE
from core.cache import on_disk as disk_cached
from core.paths import cache_dir

logger = logging.getLogger(__name__)

INDEX_THRESHOLD = 20_000
BINARY_THRESHOLD = 200_000
RESCORE_CANDIDATES = 2_000
KINDS = ("auto", "exact", "ivf", "hnsw", "binary")
IVF_PROBES = 32
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128


def index_kind(size: int, kind: str | None = None) -> str:
    """The index a corpus of ``size`` vectors gets: ``kind``, else ``$WORKBENCH_INDEX``, else by size."""
    kind = kind or os.environ.get("WORKBENCH_INDEX", "auto")
    if kind not in KINDS:
        raise ValueError(f"Unknown index kind {kind!r}: use one of {', '.join(KINDS)}.")
    if kind != "auto":
        return kind
    if size >= max(BINARY_THRESHOLD, _threshold()):
        return "binary"
    return "ivf" if size >= _threshold() else "exact"


def _threshold() -> int:
    return int(os.environ.get("WORKBENCH_INDEX_THRESHOLD", INDEX_THRESHOLD))


class VectorIndex:
    """Inner-product top-k over a fixed set of normalised float32 vectors.

    Args:
        embeddings: ``(n, d)`` normalised vectors; kept by reference (exact search reads them).
        kind: ``exact``, ``ivf`` or ``hnsw`` (see ``index_kind`` for ``auto``).
        faiss_index: An already built FAISS index for these vectors (read from the cache).
    """

    def __init__(self, embeddings: np.ndarray, kind: str = "auto", faiss_index=None):
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.kind = index_kind(len(self.embeddings), kind)
        self.faiss_index = faiss_index
        if self.kind != "exact" and faiss_index is None:
            self.faiss_index = build_faiss_index(self.embeddings, self.kind)
        self._tensor = None

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best ``(row, score)`` for one query vector, best first, optionally among ``allowed``
        rows only (searched exactly when they are fewer than the index threshold)."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        k = min(k, len(self.embeddings) if allowed is None else len(allowed))
        if k <= 0:
            return []
        if self.kind != "exact":
            _one_thread()
        if self.kind == "binary" and (allowed is None or len(allowed) >= _threshold()):
            hits = self._search_binary(query, k, allowed)
            if len(hits) == k:
                return hits
        elif self.kind != "exact" and (allowed is None or len(allowed) >= _threshold()):
            hits = self._search_faiss(query, k, allowed)
            if len(hits) == k:
                return hits  # an index can come back short under a narrow filter: then search exactly
        return self._search_exact(query, k, allowed)

    def _search_exact(self, query, k, allowed):
        import torch

        if self._tensor is None:
            self._tensor = torch.from_numpy(self.embeddings)  # shares memory, no copy
        if allowed is None:
            scores = self._tensor @ torch.from_numpy(query)
        else:
            scores = self._tensor[torch.from_numpy(allowed)] @ torch.from_numpy(query)
        top = torch.topk(scores, k)
        rows = top.indices.numpy() if allowed is None else allowed[top.indices.numpy()]
        return list(zip(rows.tolist(), top.values.tolist(), strict=True))

    def _search_binary(self, query, k, allowed):
        index, mean = self.faiss_index
        wanted = max(RESCORE_CANDIDATES, 40 * k)
        if allowed is not None:  # a filter keeps part of them: ask for more, by the share it keeps
            wanted = min(len(self.embeddings), int(wanted * len(self.embeddings) / max(1, len(allowed))))
        _, found = index.search(np.packbits(query - mean > 0)[None], min(wanted, len(self.embeddings)))
        candidates = found[0][found[0] >= 0]
        if allowed is not None:
            candidates = candidates[np.isin(candidates, allowed)]
        scores = self.embeddings[candidates] @ query  # exact rescoring of the candidates
        best = np.argsort(-scores, kind="stable")[:k]
        return list(zip(candidates[best].tolist(), scores[best].tolist(), strict=True))

    def _search_faiss(self, query, k, allowed):
        import faiss

        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
            params = (
                faiss.SearchParametersIVF(sel=selector, nprobe=IVF_PROBES)
                if self.kind == "ivf"
                else faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
            )
        scores, rows = self.faiss_index.search(query[None], k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def _one_thread() -> None:
    """Search one query on the calling thread alone. FAISS's OpenMP threads spin for a while after each
    search and took the cores from the next query's encoding: at a million vectors on 2 vCPUs, encoding
    a headline took 82 ms instead of 38, and the binary search itself 19 ms instead of 10
    (docs/search.md). OpenMP's thread count belongs to the calling thread, so a build elsewhere keeps
    its threads."""
    import faiss

    faiss.omp_set_num_threads(1)


def build_faiss_index(embeddings: np.ndarray, kind: str):
    """An IVF-Flat (``nlist = 4·√n``, k-means on up to 40 vectors per list) or HNSW-Flat index; for
    ``binary``, an ``IndexBinaryFlat`` of the centred signs and the centre."""
    import faiss

    size, dimension = embeddings.shape
    if kind == "binary":
        sample = embeddings[np.random.default_rng(0).choice(size, min(size, 50_000), replace=False)]
        mean = sample.mean(axis=0).astype(np.float32)
        index = faiss.IndexBinaryFlat(dimension + (-dimension) % 8)
        for start in range(0, size, 100_000):  # packed in chunks: no full-size boolean copy
            index.add(np.packbits(embeddings[start : start + 100_000] - mean > 0, axis=1))
        return index, mean
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        lists = max(1, min(int(4 * math.sqrt(size)), size // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(size, min(size, 40 * lists), replace=False)
        index.train(embeddings[np.sort(sample)])
        index.nprobe = IVF_PROBES
    index.add(embeddings)
    return index


def get_index(key: str, embeddings: np.ndarray, kind: str | None = None, shared: bool = True) -> VectorIndex:
    """The index of the embeddings named ``key``, from the process' cache, else built.

    Args:
        key: The embeddings' name (``core.corpora.embeddings.embedding_key``).
        embeddings: The vectors.
        kind: See ``index_kind``.
        shared: A shared corpus' index is pinned in memory and a FAISS one kept on disk; otherwise
            (an upload) it is evictable and never written.
    """
    kind = index_kind(len(embeddings), kind)
    if kind == "exact":  # nothing to build: a cached one would only keep evicted embeddings alive
        return VectorIndex(embeddings, "exact")
    if kind == "binary":  # seconds to build, 1/32 of the vectors' memory: built at start, never kept
        index = CACHE.get(
            ("index", f"{key}-binary"),
            lambda: VectorIndex(embeddings, "binary"),
            pinned=shared,
            size=lambda _: embeddings.nbytes // 32,
        )
        return index
    name = f"{key}-{kind}"

    def build() -> VectorIndex:
        return VectorIndex(embeddings, kind, faiss_index=_faiss_index(name, embeddings, kind, shared))

    # the index holds its own copy of the vectors (IVF-Flat, HNSW-Flat)
    return CACHE.get(("index", name), build, pinned=shared, size=lambda _: embeddings.nbytes)


def _faiss_index(name: str, embeddings: np.ndarray, kind: str, on_disk: bool):
    import faiss

    def build():
        logger.info("Building a %s index over %d vectors", kind, len(embeddings))
        return build_faiss_index(np.ascontiguousarray(embeddings, dtype=np.float32), kind)

    if on_disk:
        index, _ = disk_cached(
            cache_dir() / "indexes" / f"{name}.faiss",
            build,
            lambda path: faiss.deserialize_index(np.fromfile(path, dtype=np.uint8)),
            lambda handle, value: handle.write(faiss.serialize_index(value).tobytes()),
            binary=True,
            valid=lambda loaded: loaded.ntotal == len(embeddings),
        )
    else:
        index = build()
    if kind == "ivf":
        index.nprobe = IVF_PROBES
    elif kind == "hnsw":
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def clear_indexes() -> None:
    """Forget the indexes held in memory (the disk cache stays)."""
    CACHE.clear(lambda key: key[0] == "index")
