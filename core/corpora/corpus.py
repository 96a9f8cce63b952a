"""Corpora for search, the cluster map and duplicates: the bundled news, ``$CORPUS``, or an upload.

Every corpus is a ``Corpus``: an immutable value with its items (dicts with ``id``, ``section``,
``title`` and ``body``; missing titles and sections are empty strings), a fingerprint that keys every
cache derived from it, a display name and its source. The app keeps one per visitor session.

Uploads are read as a stream and refused at row ``MAX_UPLOAD_ROWS + 1``; every problem with a file is
a ``CorpusError`` whose (Spanish) message says what to fix, raised so that nothing of the parse (bytes,
decoded text, rows) outlives it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from core import messages
from core.cache import CACHE
from core.corpora.data import load_news
from core.corpora.embedded import EmbeddedVectors, is_embedded_spec, read_embedded
from core.corpora.text import cap_text, clean_text, counted, thousands
from core.errors import CorpusError
from core.models.fingerprint import data_fingerprint
from core.tables import TableError, iter_rows, looks_binary

CORPUS_ENV = "CORPUS"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_ROWS = 20_000
MAX_TITLE_CHARS = 300
MAX_EMBEDDED_BODY_CHARS = 1200  # ~250 tokens of Spanish news: title plus the start of the body
BODY_COLUMNS = ("body", "text", "content", "passage", "sentence", "summary", "texto", "cuerpo", "contenido")
TITLE_COLUMNS = ("title", "headline", "output_text", "titulo", "título", "titular")
SECTION_COLUMNS = (
    "section",
    "category",
    "topic",
    "label",
    "seccion",
    "sección",
    "categoria",
    "categoría",
    "tema",
)
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".txt")
SOURCES = ("bundled", "env", "upload")


@dataclass(frozen=True, eq=False)
class Corpus:
    """A corpus as the app serves it.

    Attributes:
        items: The texts, as dicts with ``id``, ``section``, ``title``, ``body``.
        fingerprint: Hash of the items: the key of its embeddings, index and maps.
        name: What the page calls it (a file name, ``$CORPUS``, or the bundled news).
        source: ``bundled``, ``env`` (``$CORPUS``) or ``upload`` (one visitor's file).
        notes: What the visitor should know about how the file was read (texts cut, rows skipped).
    """

    items: tuple[dict, ...]
    fingerprint: str
    name: str
    source: str
    notes: tuple[str, ...] = ()
    vectors: EmbeddedVectors | None = None  # an embedded corpus' own embeddings (core.corpora.embedded)

    @classmethod
    def from_items(cls, items: list[dict], name: str, source: str, notes: tuple[str, ...] = ()) -> Corpus:
        if source not in SOURCES:
            raise ValueError(f"Unknown corpus source {source!r}: use one of {SOURCES}.")
        return cls(tuple(items), corpus_fingerprint(items), name, source, notes)

    def __len__(self) -> int:
        return len(self.items)

    def __deepcopy__(self, memo) -> Corpus:
        return self  # immutable: Gradio's per-session copy of a State value can share it

    @property
    def shared(self) -> bool:
        """Served to everyone (its derived results are pinned and kept on disk), not one visitor's."""
        return self.source != "upload"

    @cached_property
    def sections(self) -> list[str]:
        return sorted({item["section"] for item in self.items if item["section"]})

    @cached_property
    def _rows_by_section(self) -> dict[str, np.ndarray]:
        rows: dict[str, list[int]] = {}
        for row, item in enumerate(self.items):
            rows.setdefault(item["section"], []).append(row)
        return {section: np.array(found, dtype=np.int64) for section, found in rows.items()}

    def section_rows(self, section: str) -> np.ndarray:
        """Row numbers of the items in ``section`` (empty when none)."""
        return self._rows_by_section.get(section, np.zeros(0, dtype=np.int64))

    def passages(self) -> list[str]:
        """What is embedded per item: the headline and the start of the body (``embedded_text``)."""
        return [embedded_text(item) for item in self.items]


def passage_text(item: dict) -> str:
    """What is embedded for an item: headline and body together."""
    return f"{item['title']}. {item['body']}" if item["title"] else item["body"]


def embedded_text(item: dict) -> str:
    """The headline and the body's first ``MAX_EMBEDDED_BODY_CHARS`` characters, cut at a word: a news
    item's meaning is in its start, and a 512-token passage costs five times a 100-token one."""
    body = item["body"]
    if len(body) > MAX_EMBEDDED_BODY_CHARS:
        body = body[:MAX_EMBEDDED_BODY_CHARS].rsplit(" ", 1)[0]
    return passage_text({"title": item["title"], "body": body})


def corpus_fingerprint(items: list[dict] | tuple[dict, ...]) -> str:
    return data_fingerprint([[i["id"], i["section"], i["title"], i["body"]] for i in items])


def served_corpus(spec: str | None = None) -> Corpus:
    """The corpus the process serves to everyone, loaded once: ``spec``, else ``$CORPUS``, else the
    bundled news (see ``load_corpus``)."""
    spec = (spec or os.environ.get(CORPUS_ENV, "") or "bundled").strip()
    return CACHE.get(("corpus", spec), lambda: load_corpus(spec), pinned=True)


def load_corpus(spec: str | None = None) -> Corpus:
    """``spec``, else ``$CORPUS``, else the bundled news: ``bundled``, a local file or a Hub dataset id."""
    spec = (spec or os.environ.get(CORPUS_ENV, "") or "bundled").strip()
    if spec == "bundled":
        return Corpus.from_items(load_news(), "noticias incluidas", "bundled")
    if is_embedded_spec(spec):
        items, fingerprint, vectors = read_embedded(spec)
        return Corpus(tuple(items), fingerprint, Path(spec).expanduser().name, "env", (), vectors)
    path = Path(spec).expanduser()
    if path.exists() or path.suffix.lower() in SUFFIXES:
        if not path.is_file():
            raise CorpusError(messages.CORPUS_FILE_MISSING.format(spec=spec))
        items, notes = parse_corpus_file(path, path.name, max_rows=None)
        return Corpus.from_items(items, path.name, "env", notes)
    try:
        from datasets import load_dataset

        rows = load_dataset(spec, split="train")
    except Exception as err:
        raise CorpusError(
            messages.HUB_CORPUS_UNAVAILABLE.format(spec=spec, error=type(err).__name__)
        ) from err
    items, notes = normalise_rows((dict(row) for row in rows), spec, max_rows=None)
    return Corpus.from_items(items, spec, "env", notes)


def read_upload(path: str | Path, name: str | None = None) -> Corpus:
    """One visitor's file as a ``Corpus`` (source ``upload``).

    Raises:
        CorpusError: Too large, not UTF-8 text, an unknown type, broken rows, no text column, too many
            rows or no text at all; the message names the file and what to fix.
    """
    path = Path(path)
    name = name or path.name
    items, notes = parse_corpus_file(path, name)
    return Corpus.from_items(items, name, "upload", notes)


def parse_corpus_file(
    path: Path, name: str, max_rows: int | None = MAX_UPLOAD_ROWS
) -> tuple[list[dict], tuple[str, ...]]:
    """Items and reading notes of a CSV / TSV / JSONL / JSON / TXT file, read as a stream by the one
    reader (``core.tables.iter_rows``; a ``.txt`` holds one text per line).

    ``max_rows`` ``None`` lifts the size and row limits (a file the operator chose, not a visitor).
    """
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(messages.UNSUPPORTED_FILE_TYPE.format(name=name))
    limit = MAX_UPLOAD_BYTES if max_rows is not None else None
    try:
        if suffix == ".txt":
            rows = _text_lines(path, limit)
        else:
            rows = (_as_row(value) for _, value in iter_rows(path, suffix, max_bytes=limit))
        return normalise_rows(rows, name, max_rows)
    except CorpusError as err:
        problem = str(err)
    except TableError as err:
        problem = _table_message(err, name)
    # Raised here, outside the handlers: the new error carries no context, so nothing of the parse
    # (bytes, decoded text, rows) stays reachable from it.
    raise CorpusError(problem)


def _text_lines(path: Path, limit: int | None) -> Iterator[dict]:
    """The lines of a ``.txt`` as texts, with the one reader's checks (size, binary, UTF-8)."""
    problem = None
    try:
        if limit is not None and path.stat().st_size > limit:
            raise TableError("too_big", path, detail=str(path.stat().st_size))
        with path.open("rb") as raw:
            if looks_binary(raw.read(4096)):
                raise TableError("binary", path)
            raw.seek(0)
            for line in io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""):
                if line.strip():
                    yield {"body": line}
        return
    except UnicodeDecodeError:
        problem = TableError("encoding", path)
    except OSError as err:
        problem = TableError("unreadable", path, detail=str(err.strerror or err))
    raise problem


def _as_row(item: object) -> object:
    return {"body": item} if isinstance(item, str) else item  # a list of strings is a list of texts


def _table_message(err: TableError, name: str) -> str:
    """The Spanish for a ``TableError`` of the one reader: what is wrong and what to fix."""
    facts = {"name": name, "line": err.line, "error": err.detail}
    if err.code == "too_big":
        return messages.FILE_TOO_LARGE.format(name=name, megabytes=int(err.detail) / 2**20)
    if err.code == "ragged":
        return messages.RAGGED_ROW.format(
            **facts,
            fields=err.facts["fields"],
            columns=err.facts["columns"],
            separator="tabuladores" if err.facts["delimiter"] == "\t" else "comas",
        )
    if err.code == "missing":
        return messages.FILE_UNREADABLE.format(name=name, error="no existe")
    if err.code == "json" and err.line is not None and not err.facts.get("array"):
        return messages.BAD_JSON_LINE.format(**facts)
    wording = {
        "type": messages.UNSUPPORTED_FILE_TYPE,
        "binary": messages.BINARY_FILE,
        "encoding": messages.NOT_UTF8,
        "json": messages.BAD_JSON,
        "json_comma": messages.JSON_MISSING_COMMA,
        "too_deep": messages.JSON_TOO_DEEP,
        "value": messages.NUMBER_TOO_LONG,
        "csv": messages.CSV_UNREADABLE,
        "field_too_long": messages.FIELD_TOO_LONG,
        "unreadable": messages.FILE_UNREADABLE,
    }
    return wording.get(err.code, messages.FILE_UNREADABLE).format(**facts)


def normalise_rows(
    rows, name: str, max_rows: int | None = MAX_UPLOAD_ROWS
) -> tuple[list[dict], tuple[str, ...]]:
    """Map rows with any of the usual column names onto ``id, section, title, body``, cleaned and cut.

    Raises:
        CorpusError: More than ``max_rows`` rows, no text column, or no text at all.
    """
    dicts: list[dict] = []
    for row in rows:
        if isinstance(row, dict):
            dicts.append({str(key).strip().lower(): value for key, value in row.items()})  # "Text" is "text"
            if max_rows is not None and len(dicts) > max_rows:
                raise CorpusError(messages.TOO_MANY_ROWS.format(name=name, maximum=thousands(max_rows)))
    if not dicts:
        raise CorpusError(messages.NO_ROWS.format(name=name, columns=", ".join(BODY_COLUMNS)))
    columns = {column for row in dicts[:100] for column in row}
    body = next((c for c in BODY_COLUMNS if c in columns), None)
    if body is None:
        raise CorpusError(
            messages.NO_TEXT_COLUMN.format(
                name=name, columns=", ".join(BODY_COLUMNS), found=", ".join(sorted(columns))[:300]
            )
        )
    title = next((c for c in TITLE_COLUMNS if c in columns), None)
    section = next((c for c in SECTION_COLUMNS if c in columns), None)
    items, cut = [], 0
    for index, row in enumerate(dicts):
        text, was_cut = cap_text(clean_text(row.get(body)))
        if text:
            cut += was_cut
            items.append(
                {
                    "id": clean_text(row.get("id"))[:200] or str(index),
                    "section": clean_text(row.get(section))[:100] if section else "",
                    "title": cap_text(clean_text(row.get(title)), MAX_TITLE_CHARS)[0] if title else "",
                    "body": text,
                }
            )
    if not items:
        raise CorpusError(messages.EMPTY_TEXT_COLUMN.format(name=name, column=body))
    notes = []
    if cut:
        notes.append(
            messages.TEXTS_CUT.format(
                count=counted(cut, "texto largo", "textos largos"),
                verb="recortó" if cut == 1 else "recortaron",
            )
        )
    if len(items) < len(dicts):
        skipped = len(dicts) - len(items)
        notes.append(
            messages.ROWS_SKIPPED.format(
                count=counted(skipped, "fila", "filas"), verb="omitió" if skipped == 1 else "omitieron"
            )
        )
    return items, tuple(notes)
