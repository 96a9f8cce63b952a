"""The cluster map: UMAP projections (cached on disk), KMeans / HDBSCAN clusters, c-TF-IDF labels."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter

import numpy as np

from core.cache import CACHE, cached_array
from core.paths import cache_dir

logger = logging.getLogger(__name__)
# Frequent Spanish function words, left out of cluster labels.
SPANISH_STOPWORDS = frozenset(
    """a al algo algunas algunos ante antes aquel aquella aquellos as así aun aunque bajo bien cada
    casi como con contra cual cuales cuando cuya de del desde donde dos durante e el ella ellas
    ellos en entre era eran es esa esas ese eso esos esta estaba estaban están este esto estos fue
    fueron ha había han hasta hay la las le les lo los más me mientras mismo muy ni no nos o otra
    otras otro otros para pero poco por porque que quien se sea según ser si sido sin sobre son su
    sus también tanto te tiene tienen todo todos tras tres un una uno unos y ya año años ayer hoy
    mil millones cerca parte pasado pasada primer primera nuevo nueva será dijo unas
    anterior explicó afirmó aseguró señaló indicó añadió según dice dicen""".split()  # noqa: SIM905
)


MAX_MAP_POINTS = 20_000  # UMAP of more points takes minutes on 2 cores, and a browser draws them slowly


def map_sample(size: int) -> np.ndarray | None:
    """The rows a map of ``size`` texts shows: None (all) up to ``MAX_MAP_POINTS``, else a fixed random
    sample of that many, in corpus order (the same on every start)."""
    if size <= MAX_MAP_POINTS:
        return None
    return np.sort(np.random.default_rng(0).choice(size, MAX_MAP_POINTS, replace=False))


def umap_projection(
    embeddings: np.ndarray, key: str, dimensions: int = 2, shared: bool = True, seed: int = 42
) -> np.ndarray:
    """UMAP of ``embeddings`` (cosine metric) into 2 or 3 dimensions, held in the process' cache; of the
    ``map_sample`` rows only when there are more than ``MAX_MAP_POINTS``.

    Args:
        key: The embeddings' name (``core.corpora.embeddings.embedding_key``).
        shared: A shared corpus' map is pinned and kept on disk; an upload's is evictable, memory only.
    """
    rows = map_sample(len(embeddings))
    name = f"{key}-{dimensions}d" + ("" if rows is None else f"-s{len(rows)}")

    def fit() -> np.ndarray:
        import umap

        points = embeddings if rows is None else embeddings[rows]
        neighbours = max(2, min(15, len(points) - 1))
        reducer = umap.UMAP(
            n_components=dimensions, n_neighbors=neighbours, metric="cosine", random_state=seed
        )
        return reducer.fit_transform(points).astype(np.float32)

    return cached_array(("umap", name), fit, cache_dir() / "umap" / f"{name}.npy" if shared else None)


def cluster_labels(embeddings: np.ndarray, key: str, method: str, k: int) -> np.ndarray:
    """KMeans (``k`` clusters) or HDBSCAN labels of ``embeddings``, computed once per key and setting
    (evictable: a visitor can ask for 29 settings of k)."""
    name = ("clusters", key, method, k if method == "kmeans" else 0)

    def fit() -> np.ndarray:
        return hdbscan_labels(embeddings) if method == "hdbscan" else kmeans_labels(embeddings, k)

    return CACHE.get(name, fit)


def place_on_map(
    embedding: np.ndarray, embeddings: np.ndarray, points: np.ndarray, k: int = 10
) -> np.ndarray:
    """Where a new sentence lands: the similarity-weighted mean of its nearest neighbours' map positions."""
    scores = embeddings @ embedding
    nearest = np.argsort(-scores)[: min(k, len(scores))]
    weights = np.clip(scores[nearest], 1e-6, None) ** 4
    return (points[nearest] * weights[:, None]).sum(axis=0) / weights.sum()


def kmeans_labels(embeddings: np.ndarray, k: int, seed: int = 42) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = max(2, min(k, len(embeddings)))
    return KMeans(n_clusters=k, random_state=seed, n_init=4).fit_predict(embeddings)


def hdbscan_labels(embeddings: np.ndarray, min_cluster_size: int = 8) -> np.ndarray:
    """Density clusters; -1 marks noise."""
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(
        min_cluster_size=max(2, min_cluster_size, len(embeddings) // 50), metric="cosine"
    ).fit_predict(embeddings)


def ctfidf_labels(texts: list[str], labels, top_n: int = 3) -> dict[int, str]:
    """Label each cluster with its most distinctive words and two-word phrases (class-based TF-IDF, as
    in BERTopic), accents folded, Spanish function words left out; a phrase hides its own words."""
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    documents = [" ".join(t for t, label in zip(texts, labels, strict=True) if label == c) for c in classes]
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), strip_accents="unicode", lowercase=True, token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
        stop_words=sorted(_fold(word) for word in SPANISH_STOPWORDS), min_df=1,
    )  # fmt: skip
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(float)
    except ValueError:  # nothing but stop words
        return {int(c): "ruido" if c == -1 else f"grupo {c}" for c in classes}
    terms = vectorizer.get_feature_names_out()
    spelling = _spellings(texts)
    frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    average_words = counts.sum() / len(classes)
    weights = frequency * np.log(1 + average_words / np.maximum(counts.sum(axis=0), 1))
    names = {}
    for row, label in enumerate(classes):
        chosen: list[str] = []
        for column in np.argsort(-weights[row]):
            term = terms[column]
            if weights[row, column] <= 0 or len(chosen) == top_n:
                break
            if any(term in other or other in term for other in chosen):
                continue  # "sequia" beside "sequia extrema" says nothing new
            chosen.append(term)
        shown = [" ".join(spelling.get(word, word) for word in term.split()) for term in chosen]
        names[int(label)] = "ruido" if label == -1 else " · ".join(shown) or f"grupo {label}"
    return names


def _spellings(texts: list[str]) -> dict[str, str]:
    """Folded word -> its most frequent written form ("espana" -> "españa")."""
    seen = Counter(word for text in texts for word in re.findall(r"[^\W\d_]{3,}", text.lower()))
    spelling: dict[str, str] = {}
    for word, _ in seen.most_common():
        spelling.setdefault(_fold(word), word)
    return spelling


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
