"""The map and duplicates tabs: the active corpus on a UMAP map (by section or cluster, with a typed
sentence placed on it) and its near-duplicate pairs on the calibrated scale."""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from core import messages
from core.corpora.clusters import cluster_labels, ctfidf_labels, map_sample, place_on_map, umap_projection
from core.corpora.corpus import Corpus, passage_text
from core.corpora.data import load_news_duplicates
from core.corpora.embeddings import embedding_key
from core.corpora.search import snippet
from core.corpora.text import clean_text, decimal, thousands
from core.errors import InputError
from core.models.calibration import shown_reading
from space.checks import checked_text, log_note, number_between, one_of, whole_number
from space.downloads import csv_file
from space.figures import cluster_map as cluster_figure
from space.runtime import Warn, active_corpus, heavy_slot, model_handle, report_progress
from space.search import embeddings_of

logger = logging.getLogger(__name__)


MAP_NEIGHBOURS = 8


MAX_DUPLICATE_TEXTS = 50_000  # paraphrase mining compares every pair: minutes beyond this on 2 cores
QUICK_MINING_TEXTS = 5_000  # duplicates of more texts are mined in the heavy slot (space.runtime)
MIN_MAP_TEXTS = 10  # UMAP, KMeans and HDBSCAN need a few points to mean anything (and to run at all)


COLOR_CHOICES = ("sección", "cluster")


METHOD_CHOICES = ("kmeans", "hdbscan")


DIMENSION_CHOICES = ("2D", "3D")


MAP_EXAMPLES = [
    ["el Barça ficha a un delantero"],
    ["vacuna contra el dengue"],
    ["sube el precio del alquiler"],
]


def cluster_map(
    corpus: Corpus | None,
    color_by: object = "sección",
    method: object = "kmeans",
    k: object = 10,
    dimensions: object = "2D",
    sentence: object = "",
    model_spec: str | None = None,
    warn: Warn = log_note,
    progress=None,
):
    """UMAP of the visitor's corpus, coloured by section or cluster, with a typed sentence placed on it.

    Returns:
        The figure, and the sentence's nearest texts (title, section, cosine), marked on the map too.
    """
    corpus = active_corpus(corpus)
    if len(corpus) < MIN_MAP_TEXTS:
        raise InputError(
            messages.MAP_TOO_SMALL.format(minimum=MIN_MAP_TEXTS, name=corpus.name, count=len(corpus))
        )
    color_by = one_of(color_by, "el color", COLOR_CHOICES)
    method = one_of(method, "el método", METHOD_CHOICES)
    k = whole_number(k, "k", 2, 30)
    dimensions = one_of(dimensions, "la vista", DIMENSION_CHOICES)
    handle = model_handle(model_spec)
    sentence = checked_text(sentence, "la frase", handle, warn) if clean_text(sentence) else ""
    report_progress(progress, 0.1, "Embeddings del corpus")
    embeddings = embeddings_of(handle, corpus, quick=False, progress=progress)
    key = embedding_key(handle, corpus)
    report_progress(progress, 0.5, "Proyección UMAP")
    points = umap_projection(embeddings, key, 3 if dimensions == "3D" else 2, shared=corpus.shared)
    items, name = corpus.items, corpus.name
    rows = map_sample(len(corpus))
    if rows is not None:  # a large corpus: the map shows a fixed sample, and says so
        embeddings, items = embeddings[rows], [corpus.items[row] for row in rows]
        key, name = (
            f"{key}-s{len(rows)}",
            messages.MAP_SAMPLE.format(
                name=corpus.name, shown=thousands(len(rows)), total=thousands(len(corpus))
            ),
        )
    if color_by == "sección":
        colours = [item["section"] or messages.NO_SECTION for item in items]
        title = messages.MAP_BY_SECTION.format(name=name)
    else:
        labels = cluster_labels(embeddings, key, method, k)
        names = ctfidf_labels([passage_text(item) for item in items], labels)
        colours = [f"{label}: {names[int(label)]}" if label >= 0 else messages.NOISE for label in labels]
        title = messages.MAP_BY_CLUSTER.format(name=name, method=method)
    highlight, neighbours = None, []
    if sentence:
        embedding = handle.model.encode_query([sentence], normalize_embeddings=True)[0]
        scores = embeddings @ embedding
        nearest = np.argsort(-scores)[:MAP_NEIGHBOURS]
        neighbours = [
            [
                items[i]["title"] or snippet(items[i]["body"], 120),
                items[i]["section"],
                round(float(scores[i]), 4),
            ]
            for i in nearest
        ]
        highlight = (place_on_map(embedding, embeddings, points), sentence, nearest)
    return cluster_figure(points, list(items), colours, highlight, title), neighbours


DUPLICATE_COLUMNS = ["0–5", "coseno", "texto A", "texto B", "sección"]


def find_duplicates(
    corpus: Corpus | None, threshold: object = 3.5, model_spec: str | None = None, progress=None
) -> tuple[list[list], str, str]:
    """Near-duplicate texts of the visitor's corpus (paraphrase mining), read on the calibrated 0–5
    scale: ``threshold`` 3.5 keeps pairs that share the main idea (on the bundled news: 46 pairs, 45 of
    them among the 50 known retold stories, with the built-in model), 4.5 those that say practically the
    same (22 pairs, all known).

    Returns:
        The table (0–5, cosine, text A, text B, section), a summary, and a CSV with ids and full texts.
    """
    import torch
    from sentence_transformers.util import paraphrase_mining_embeddings

    corpus = active_corpus(corpus)
    if len(corpus) > MAX_DUPLICATE_TEXTS:
        raise InputError(
            messages.DUPLICATES_TOO_LARGE.format(
                name=corpus.name, count=thousands(len(corpus)), maximum=thousands(MAX_DUPLICATE_TEXTS)
            )
        )
    threshold = number_between(threshold, "El umbral", 0, 5)
    handle = model_handle(model_spec)
    scale = handle.calibration
    cosine = scale.cosine_for(threshold)
    embeddings = torch.from_numpy(embeddings_of(handle, corpus, quick=False, progress=progress))
    # mining compares every pair: beyond a few thousand texts it is heavy work, in the heavy slot
    with heavy_slot(progress) if len(corpus) > QUICK_MINING_TEXTS else contextlib.nullcontext():
        pairs = [p for p in paraphrase_mining_embeddings(embeddings, top_k=5) if p[0] >= cosine]
    items = corpus.items
    readings = scale.many([score for score, _, _ in pairs]) if pairs else []
    rows = [
        [shown_reading(sts), round(score, 4), items[i]["title"] or snippet(items[i]["body"], 120),
         items[j]["title"] or snippet(items[j]["body"], 120), items[i]["section"]]
        for (score, i, j), sts in zip(pairs[:500], readings, strict=False)
    ]  # fmt: skip
    full = [
        [shown_reading(sts), round(score, 4), items[i]["id"], items[j]["id"], passage_text(items[i]),
         passage_text(items[j])]
        for (score, i, j), sts in zip(pairs, readings, strict=True)
    ]  # fmt: skip
    summary = messages.DUPLICATES_FOUND.format(
        count=thousands(len(pairs)), threshold=decimal(threshold), cosine=decimal(cosine, 3), name=corpus.name
    )
    header = ["0–5", "coseno", "id A", "id B", "texto A", "texto B"]
    download = csv_file(f"duplicados-{corpus.name}", header, full)
    return rows, summary + _known_duplicates_note(corpus, pairs), download


def _known_duplicates_note(corpus: Corpus, pairs) -> str:
    if corpus.source != "bundled":
        return ""
    ids = [item["id"] for item in corpus.items]
    found = {frozenset((ids[i], ids[j])) for _, i, j in pairs}
    known = [frozenset(pair) for pair in load_news_duplicates()]
    return messages.KNOWN_DUPLICATES.format(known=len(known), found=sum(p in found for p in known))
