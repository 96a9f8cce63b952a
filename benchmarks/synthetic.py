"""Synthetic embedding corpora for the speed benchmarks: any size, spread along real embeddings."""

from __future__ import annotations

import numpy as np


def synthetic_corpus(anchors: np.ndarray, size: int, rng, noise: float = 0.03) -> np.ndarray:
    """``size`` normalised vectors spread along the real embeddings: each one a random mix of a real
    passage embedding and one of its 20 nearest neighbours, plus Gaussian noise. Harder for an index than
    clusters around the real points, closer to real data than Gaussian noise."""
    similarities = anchors @ anchors.T
    np.fill_diagonal(similarities, -np.inf)
    neighbours = np.argsort(-similarities, axis=1)[:, : min(20, len(anchors) - 1)]
    first = rng.integers(0, len(anchors), size)
    second = neighbours[first, rng.integers(0, neighbours.shape[1], size)]
    weight = rng.random((size, 1), dtype=np.float32)
    corpus = weight * anchors[first] + (1 - weight) * anchors[second]
    corpus += noise * rng.standard_normal(corpus.shape, dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    return corpus.astype(np.float32)
