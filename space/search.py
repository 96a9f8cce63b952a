"""The search tab: the visitor's upload made their session's corpus, search in the active corpus, a result
read in full, and the corpus' embeddings as a download."""

from __future__ import annotations

import logging

from core import messages
from core.cache import CACHE
from core.corpora.corpus import Corpus, read_upload
from core.corpora.embeddings import corpus_embeddings, embedding_key
from core.corpora.index import get_index
from core.corpora.lexical import lexical_index
from core.corpora.search import highlight, markdown_text, search
from core.corpora.text import thousands
from core.errors import InputError
from core.models.handle import ModelHandle
from space.checks import checked_text, log_note, one_of, whole_number
from space.downloads import csv_file, embeddings_file
from space.runtime import Warn, active_corpus, alone, model_handle

logger = logging.getLogger(__name__)


MAX_K = 50


ALL_SECTIONS = "todas"


SEARCH_EXAMPLES = [["incendios forestales y sequía"], ["inflación y tipos de interés"], ["vacunas"]]


def corpus_banner(corpus: Corpus | None) -> str:
    """One line for the top of the page: which corpus every tab uses now."""
    corpus = active_corpus(corpus)
    where = messages.YOUR_FILE if corpus.source == "upload" else messages.FOR_EVERYONE
    return messages.CORPUS_BANNER.format(name=corpus.name, count=thousands(len(corpus)), where=where)


def section_choices(corpus: Corpus | None) -> list[str]:
    return [ALL_SECTIONS, *active_corpus(corpus).sections]


def upload(path: str | None, name: str | None = None, model_spec: str | None = None, progress=None) -> Corpus:
    """Read a visitor's file into a ``Corpus`` and embed it (with ``progress``), so that search, the map
    and duplicates can use it at once. Nothing is written to disk; nothing shared is locked.

    Raises:
        CorpusError: The file cannot be used; the message says what to fix.
    """
    if not path:
        raise InputError(messages.NO_FILE)
    corpus = read_upload(path, name)
    handle = model_handle(model_spec)
    embeddings = corpus_embeddings(handle, corpus, progress=progress, alone=alone)
    get_index(embedding_key(handle, corpus), embeddings, shared=False)
    lexical_index(corpus)  # the words' index too: the first search does not wait for it
    logger.info("Upload %s: %d texts, fingerprint %s", corpus.name, len(corpus), corpus.fingerprint)
    return corpus


def upload_summary(corpus: Corpus) -> str:
    """What the visitor reads after an upload."""
    text = messages.UPLOAD_SUMMARY.format(name=corpus.name, count=thousands(len(corpus)))
    return " ".join([text, *corpus.notes])


def embeddings_of(handle: ModelHandle, corpus: Corpus, quick: bool, progress=None):
    """The corpus' embeddings; a quick request (search) does not re-encode an evicted upload."""
    if quick and not corpus.shared:
        key = ("embeddings", embedding_key(handle, corpus))
        cached = CACHE.peek(key)
        if cached is None:
            raise InputError(messages.UPLOAD_EVICTED.format(name=corpus.name))
        return cached
    return corpus_embeddings(handle, corpus, progress=progress)


SEARCH_COLUMNS = ["coseno", "sección", "título", "fragmento", "id", "vía"]
# What a visitor picks -> the search mode (core.corpora.search.MODES); the first is the default.
SEARCH_MODES = {"ambos": "hybrid", "significado": "dense", "palabras": "bm25"}
VIA = {"meaning": "significado", "words": "palabras", "both": "ambos"}


def search_corpus(
    corpus: Corpus | None,
    query: object,
    k: object = 5,
    section: object = ALL_SECTIONS,
    model_spec: str | None = None,
    mode: object = "ambos",
    warn: Warn = log_note,
) -> tuple[list[list], str]:
    """Top-k texts of the visitor's corpus for a query, by meaning, by words or both (``SEARCH_MODES``).

    Returns:
        The table (cosine, section, title, snippet with the query's words in bold, id, how it was found)
        and a CSV file of it with the full texts.
    """
    corpus = active_corpus(corpus)
    handle = model_handle(model_spec)
    query = checked_text(query, "la búsqueda", handle, warn)
    k = whole_number(k, "k", 1, MAX_K)
    mode = one_of("ambos" if mode in (None, "") else mode, "el modo de búsqueda", list(SEARCH_MODES))
    section = None if section in (None, "", ALL_SECTIONS) else str(section)
    if section is not None and section not in corpus.sections:
        raise InputError(messages.UNKNOWN_SECTION.format(section=section[:60], name=corpus.name))
    embeddings = embeddings_of(handle, corpus, quick=True)
    hits = search(
        handle.model,
        query,
        corpus,
        embeddings,
        k,
        section,
        key=embedding_key(handle, corpus),
        mode=SEARCH_MODES[mode],
    )
    rows = [
        [
            round(h["score"], 4),
            h["section"],
            h["title"],
            highlight(h["body"], h["terms"]),
            h["id"],
            VIA[h["via"]],
        ]
        for h in hits
    ]
    full = [
        [n, round(h["score"], 4), VIA[h["via"]], h["id"], h["section"], h["title"], h["body"]]
        for n, h in enumerate(hits, 1)
    ]
    header = ["posición", "coseno", "vía", "id", "sección", "título", "texto"]
    return rows, csv_file(f"busqueda-{query[:40]}", header, full)


def read_item(corpus: Corpus | None, item_id: object) -> str:
    """The whole text of one item of the visitor's corpus, as Markdown (a search result opened)."""
    corpus = active_corpus(corpus)
    item = next((item for item in corpus.items if item["id"] == str(item_id)), None)
    if item is None:
        return messages.NO_ROW_CHOSEN
    heading = f"### {markdown_text(item['title'])}\n" if item["title"] else ""
    section = f"*{markdown_text(item['section'])}* · " if item["section"] else ""
    return f"{heading}{section}`{item['id']}`\n\n{markdown_text(item['body'])}"


def export_embeddings(corpus: Corpus | None, model_spec: str | None = None, progress=None) -> str:
    """The active corpus' embeddings as a Parquet file: ``id``, ``title``, ``section``, ``embedding``."""
    corpus = active_corpus(corpus)
    handle = model_handle(model_spec)
    embeddings = embeddings_of(handle, corpus, quick=False, progress=progress)
    return embeddings_file(f"embeddings-{corpus.name}", corpus.items, embeddings)
