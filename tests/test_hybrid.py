"""Search by meaning, by words, or both: the fusion gains where the words match and never loses where
they do not, measured on the bundled query sets with the built-in model."""

from __future__ import annotations

import numpy as np
import pytest

from core.corpora.corpus import Corpus
from core.corpora.lexical import LexicalIndex, lexical_index
from core.corpora.search import highlight, is_keyword_query, rank


@pytest.fixture(scope="module")
def builtin():
    from core.models.handle import get_handle

    return get_handle("builtin:multilingual-e5-small", backend="torch").model


@pytest.mark.parametrize(
    ("query", "keywords"),
    [
        ("Francisca Araya Tapia", True),
        ("incendios forestales y sequía", True),
        ("vacunas", True),
        ("Chubut 1.900 ballenatos", True),
        ("El Gobierno aprueba la subida del salario mínimo para el año que viene", False),
        ("¿qué pasa con la sequía en los embalses de Andalucía?", False),
        ("de la el", False),  # stop words only: nothing to look up
    ],
)
def test_the_query_shape(query, keywords):
    assert is_keyword_query(query) is keywords


def test_a_sentence_ranks_by_meaning_and_keywords_by_their_words():
    dense = [(0, 0.9), (1, 0.8), (2, 0.7)]
    lexical = np.array([0.0, 0.0, 1.0, 9.0], np.float32)  # row 3: the only text with all the words
    sentence = rank("la noticia que cuenta lo que pasó en el pueblo", dense, lexical, 3)
    assert [row for row, _, _ in sentence] == [0, 1, 2]  # BM25 has no say in a sentence
    typed = rank("Lemes Sauce fideicomiso", dense, lexical, 3)
    # the text both lists hold first, then the one only the words find, then meaning alone
    assert [(row, via) for row, _, via in typed] == [(2, "both"), (3, "words"), (0, "meaning")]
    assert [row for row, _, _ in rank("x", dense, lexical, 3, "dense")] == [0, 1, 2]
    assert [row for row, _, _ in rank("x", dense, lexical, 3, "bm25")] == [3, 2]
    with pytest.raises(ValueError, match="Unknown search mode"):
        rank("x", dense, lexical, 3, "magic")


def test_the_fusion_keeps_meaning_and_finds_every_keyword_target(builtin):
    """Hybrid within 0.02 of the better single list on each set; no keyword query misses its target."""
    from evaluation.datasets import load_retrieval_dataset
    from evaluation.metrics import reciprocal_ranks_by_search

    means = {}
    for name in ("bundled:retold", "bundled:keywords"):
        ranks = reciprocal_ranks_by_search(builtin, load_retrieval_dataset(name), ("dense", "bm25", "hybrid"))
        means[name] = {mode: float(np.mean(values)) for mode, values in ranks.items()}
        assert means[name]["hybrid"] >= max(means[name]["dense"], means[name]["bm25"]) - 0.02, means
        if name == "bundled:keywords":
            assert min(ranks["hybrid"]) >= 1 / 3, "a keyword query's target fell below rank 3"
    assert means["bundled:keywords"]["dense"] < means["bundled:keywords"]["hybrid"] - 0.05  # words help
    assert means["bundled:retold"]["bm25"] < means["bundled:retold"]["hybrid"]  # and meaning does too


def test_matched_words_are_bold_and_the_snippet_starts_near_them():
    text = "Primera frase sin nada. " * 20 + "Los incendios forestales arrasan Galicia."
    terms = LexicalIndex.build([text]).query_terms("incendio forestal")
    shown = highlight(text, terms)
    assert "**incendios** **forestales**" in shown and shown.startswith("…")
    assert highlight("a *b* [c](d)", []) == r"a \*b\* \[c\]\(d\)"  # the text's own Markdown is shown as is


def test_a_shared_corpus_keeps_its_words_index_on_disk(isolated_cache):
    items = [
        {"id": str(i), "section": "", "title": "", "body": f"texto número {i} sobre Cofete"} for i in range(5)
    ]
    corpus = Corpus.from_items(items, "prueba", "env")
    first = lexical_index(corpus)
    saved = list((isolated_cache / "lexical").glob("*.npz"))
    assert len(saved) == 1 and first.scores("Cofete").min() > 0
    loaded = LexicalIndex.load(saved[0])
    assert np.allclose(loaded.scores("Cofete número"), first.scores("Cofete número"))
