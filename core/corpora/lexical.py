"""What people typed: a BM25 index of a corpus' words (``bm25s``, Snowball Spanish stemmer, Spanish stop
words), built once per corpus and held like its embeddings (a shared corpus' index pinned in memory and
kept on disk; an upload's evictable and never written).

The corpus and every query go through the same ``tokenize``; a query word the corpus never uses is
dropped before scoring (``bm25s`` maps query words through the index's vocabulary).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from functools import cache

import numpy as np

from core.cache import CACHE, on_disk
from core.paths import cache_dir

LANGUAGE = "spanish"
LEXICAL_VERSION = 1  # part of the key: bumped when the tokenization or the index format changes
_WORD = re.compile(r"(?u)\b\w\w+\b")
_STEMMER_LOCK = threading.Lock()  # a Snowball stemmer object is not safe to share between threads


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(LANGUAGE)


@cache
def _bm25s():
    """bm25s, whose import sets its own logger to DEBUG (a line for every index built): back to WARNING,
    once (``setLevel`` clears every logger's cache; a query must not pay for it)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@cache
def stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_SPANISH

    return frozenset(STOPWORDS_SPANISH)


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stemmed words of each text, Spanish stop words left out."""
    bm25s = _bm25s()

    with _STEMMER_LOCK:
        return bm25s.tokenize(
            texts, stopwords="es", stemmer=_stemmer(), return_ids=False, show_progress=False
        )


def stems(words: list[str]) -> list[str]:
    with _STEMMER_LOCK:
        return _stemmer().stemWords([word.lower() for word in words])


def words(text: str) -> list[str]:
    """The words of ``text`` as ``tokenize`` sees them, before stemming (for highlighting)."""
    return _WORD.findall(text)


class LexicalIndex:
    """BM25 scores of a query against every text of a corpus."""

    def __init__(self, retriever, size: int | None = None):
        self.retriever = retriever  # None: a corpus without a single indexable word
        self.size = int(retriever.scores["num_docs"]) if retriever is not None else int(size or 0)

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        bm25s = _bm25s()

        tokens = tokenize(texts)
        if not any(tokens):
            return cls(None, len(texts))
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever)

    def query_terms(self, query: str) -> list[str]:
        """The query's stems that occur in the corpus, each once, in the query's order."""
        if self.retriever is None:
            return []
        vocabulary = self.retriever.vocab_dict
        return list(dict.fromkeys(term for term in tokenize([query])[0] if term in vocabulary))

    def scores(
        self, query: str, allowed: np.ndarray | None = None, terms: list[str] | None = None
    ) -> np.ndarray:
        """One BM25 score per text (0 where no query word occurs); rows outside ``allowed`` score 0."""
        terms = self.query_terms(query) if terms is None else terms  # a caller that has them: no second pass
        if not terms:
            return np.zeros(self.size, np.float32)
        mask = None
        if allowed is not None:
            mask = np.zeros(self.size, np.float32)
            mask[allowed] = 1
        return np.asarray(self.retriever.get_scores(terms, weight_mask=mask), dtype=np.float32)

    def save(self, handle) -> None:
        if self.retriever is None:
            np.savez(handle, num_docs=np.int64(self.size), empty=np.int64(1))
            return
        arrays = self.retriever.scores
        np.savez(
            handle,
            data=arrays["data"],
            indices=arrays["indices"],
            indptr=arrays["indptr"],
            num_docs=np.int64(arrays["num_docs"]),
            vocabulary=np.frombuffer(json.dumps(self.retriever.vocab_dict).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path) -> LexicalIndex:
        bm25s = _bm25s()

        with np.load(path) as saved:
            if "empty" in saved:
                return cls(None, int(saved["num_docs"]))
            retriever = bm25s.BM25()
            retriever.scores = {
                "data": saved["data"],
                "indices": saved["indices"],
                "indptr": saved["indptr"],
                "num_docs": int(saved["num_docs"]),
            }
            retriever.vocab_dict = json.loads(saved["vocabulary"].tobytes().decode())
        retriever.unique_token_ids_set = set(retriever.vocab_dict.values())
        retriever.nonoccurrence_array = None  # set by index() for the BM25 variants that need it (not ours)
        return cls(retriever)

    @property
    def nbytes(self) -> int:
        if self.retriever is None:
            return 64
        arrays = self.retriever.scores
        return sum(arrays[name].nbytes for name in ("data", "indices", "indptr")) + 64 * len(
            self.retriever.vocab_dict
        )


def lexical_text(item: dict) -> str:
    """What is indexed of an item: its title and its whole body."""
    return f"{item['title']}\n{item['body']}" if item.get("title") else item["body"]


def lexical_index(corpus) -> LexicalIndex:
    """The corpus' BM25 index: from the process' cache, else from disk (a shared corpus), else built."""

    def build() -> LexicalIndex:
        texts = [lexical_text(item) for item in corpus.items]
        if not corpus.shared:
            return LexicalIndex.build(texts)
        path = cache_dir() / "lexical" / f"{corpus.fingerprint}-l{LEXICAL_VERSION}.npz"
        return on_disk(
            path,
            lambda: LexicalIndex.build(texts),
            LexicalIndex.load,
            lambda handle, index: index.save(handle),
            binary=True,
            valid=lambda index: index.size == len(texts),
        )[0]

    key = ("lexical", corpus.fingerprint, LEXICAL_VERSION)
    return CACHE.get(key, build, pinned=corpus.shared, size=lambda index: index.nbytes)
