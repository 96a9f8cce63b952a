"""Search a corpus by what a query means (dense: the model's embeddings), by the words it uses (BM25,
``core.corpora.lexical``), or both (hybrid, the default).

The hybrid fusion is a reciprocal-rank fusion whose BM25 weight depends on the query's shape, measured
on the bundled query sets (``python -m benchmarks fusion``, tuned on half the queries, reported on the
other half):

- a query typed as keywords (at most ``KEYWORD_MAX_WORDS`` content words, stop words at most a quarter
  of its words: names, places, figures, rare terms) weighs BM25 ``KEYWORD_WEIGHT`` times dense: when the
  words occur, the text that has them all is the one meant;
- a query written as a sentence (a headline, a question) ranks by meaning alone: BM25 confidently
  prefers other news that share a headline's names, and an equal-weight fusion follows it (FACTS, issue
  25: MRR@10 0.756 -> 0.173 on headlines whose target says it in other words).

Where the two lists agree the hit says so (``via``: ``both``); a text found only through its words says
``words``, only through its meaning ``meaning``.
"""

from __future__ import annotations

import re

import numpy as np

from core.corpora.corpus import Corpus
from core.corpora.index import VectorIndex, get_index
from core.corpora.lexical import LexicalIndex, lexical_index, stems, stop_words, words

MODES = ("hybrid", "dense", "bm25")
FUSION_K = 10
KEYWORD_WEIGHT = 5.0
KEYWORD_MAX_WORDS = 4
POOL = 100  # candidates taken from each list before fusing


def is_keyword_query(query: str) -> bool:
    """A query typed as keywords (names, terms, figures) rather than written as a sentence."""
    found = [word.lower() for word in words(query)]
    stop = sum(word in stop_words() for word in found)
    return 0 < len(found) - stop <= KEYWORD_MAX_WORDS and stop <= 0.25 * len(found)


def rank(
    query: str,
    dense: list[tuple[int, float]],
    lexical: np.ndarray | None,
    k: int,
    mode: str = "hybrid",
) -> list[tuple[int, float, str]]:
    """The ``k`` best rows as ``(row, fused score, via)``.

    Args:
        dense: The dense side's best ``(row, cosine)``, best first (``POOL`` or more of them).
        lexical: One BM25 score per row (``LexicalIndex.scores``), or None (dense only).
        mode: ``hybrid``, ``dense`` or ``bm25``.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown search mode {mode!r}: use one of {', '.join(MODES)}.")
    dense_rank = {row: position for position, (row, _) in enumerate(dense, 1)}
    lexical_rank: dict[int, int] = {}
    if lexical is not None and mode != "dense":
        matched = np.flatnonzero(lexical > 0)
        if len(matched) > POOL:
            matched = matched[np.argpartition(-lexical[matched], POOL)[:POOL]]
        ordered = matched[np.argsort(-lexical[matched], kind="stable")]
        lexical_rank = {int(row): position for position, row in enumerate(ordered, 1)}
    window = max(k, 10)
    if mode == "dense":
        scored = [(row, 1 / (FUSION_K + position)) for row, position in dense_rank.items()]
    elif mode == "bm25":
        scored = [(row, 1 / (FUSION_K + position)) for row, position in lexical_rank.items()]
    else:
        weight = KEYWORD_WEIGHT if is_keyword_query(query) else 0.0
        scored = [
            (
                row,
                1 / (FUSION_K + dense_rank.get(row, np.inf))
                + weight / (FUSION_K + lexical_rank.get(row, np.inf)),
            )
            for row in dense_rank.keys() | lexical_rank.keys()
        ]
    scored.sort(key=lambda pair: (-pair[1], dense_rank.get(pair[0], np.inf)))
    hits = []
    for row, score in scored[:k]:
        by_meaning = dense_rank.get(row, np.inf) <= window
        by_words = lexical_rank.get(row, np.inf) <= window
        via = "both" if by_meaning and by_words else "words" if by_words else "meaning"
        hits.append((row, float(score), via))
    return hits


def search(
    model,
    query: str,
    corpus: Corpus,
    embeddings: np.ndarray,
    k: int = 5,
    section: str | None = None,
    key: str | None = None,
    mode: str = "hybrid",
    lexical: LexicalIndex | None = None,
) -> list[dict]:
    """The ``k`` items of ``corpus`` that best answer ``query``, optionally only from one section.

    Args:
        model: The ``SentenceTransformer`` that made ``embeddings``.
        key: The embeddings' name (``core.corpora.embeddings.embedding_key``); with it a large corpus gets its
            index (built once, see ``core.corpora.index``); without it the search is exact.
        mode: ``hybrid`` (default), ``dense`` (meaning) or ``bm25`` (words).
        lexical: The corpus' BM25 index; default ``lexical_index(corpus)`` (built once per corpus).

    Returns:
        Dicts with the item's fields plus ``score`` (cosine to the query), ``via`` (``meaning``, ``words``
        or ``both``) and ``terms`` (the query's stems found in the corpus), best first.
    """
    allowed = None
    if section:
        allowed = corpus.section_rows(section)
        if not len(allowed):
            return []
    index = get_index(key, embeddings, shared=corpus.shared) if key else VectorIndex(embeddings, "exact")
    query_embedding = model.encode_query([query], normalize_embeddings=True, convert_to_numpy=True)[0]
    dense = index.search(query_embedding, max(POOL, k), allowed)
    scores = None
    terms: list[str] = []
    if mode != "dense":
        lexical = lexical or lexical_index(corpus)
        terms = lexical.query_terms(query)
        scores = lexical.scores(query, allowed, terms)
    cosine = dict(dense)
    hits = []
    for row, _, via in rank(query, dense, scores, k, mode):
        if row not in cosine:  # found by its words beyond the dense pool: its cosine still shows
            cosine[row] = float(embeddings[row] @ query_embedding)
        hits.append(corpus.items[row] | {"score": cosine[row], "via": via, "terms": terms})
    return hits


def snippet(text: str, limit: int = 220) -> str:
    """The start of ``text``, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def highlight(text: str, terms: list[str], limit: int = 220) -> str:
    """A Markdown snippet of ``text`` with the words whose stem is in ``terms`` in bold, starting near the
    first of them when it lies past ``limit``."""
    spans = _matches(text, set(terms)) if terms else []
    start = 0
    if spans and spans[0][1] > limit:
        start = text.rfind(" ", 0, max(0, spans[0][0] - 40)) + 1
    part = text[start:]
    cut = snippet(part, limit)
    pieces, position = [], 0
    for begin, end in _matches(cut, set(terms)) if terms else []:
        pieces += [markdown_text(cut[position:begin]), f"**{markdown_text(cut[begin:end])}**"]
        position = end
    pieces.append(markdown_text(cut[position:]))
    return ("…" if start else "") + "".join(pieces)


def _matches(text: str, terms: set[str]) -> list[tuple[int, int]]:
    found = list(re.finditer(r"(?u)\b\w\w+\b", text))
    stemmed = stems([match.group() for match in found])
    return [match.span() for match, stem in zip(found, stemmed, strict=True) if stem in terms]


def markdown_text(text: str) -> str:
    """``text`` shown as it is in Markdown (no headings, links or HTML of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text)
