"""Corpora for search, the cluster map and duplicates: the bundled news, ``$CORPUS``, or an upload.

Every corpus is a ``Corpus``: an immutable value with its items (dicts with ``id``, ``section``,
``title`` and ``body``; missing titles and sections are empty strings), a fingerprint that keys every
cache derived from it, a display name and its source. The app keeps one per visitor session.

Uploads are read as a stream and refused at row ``MAX_UPLOAD_ROWS + 1``; every problem with a file is
a ``CorpusError`` whose (Spanish) message says what to fix, raised so that nothing of the parse (bytes,
decoded text, rows) outlives it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from core import messages
from core.cache import CACHE
from core.corpora.data import load_news
from core.corpora.text import cap_text, clean_text, thousands
from core.errors import CorpusError
from core.models.fingerprint import data_fingerprint
from core.tables import separator

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
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


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
    """Items and reading notes of a CSV / TSV / JSONL / JSON / TXT file, read as a stream.

    ``max_rows`` ``None`` lifts the size and row limits (a file the operator chose, not a visitor).
    """
    problem = None
    try:
        return _parse(path, name, max_rows)
    except CorpusError as err:
        problem = str(err)
    except csv.Error as err:
        problem = messages.CSV_UNREADABLE.format(name=name, error=err)
    except UnicodeDecodeError:
        problem = messages.NOT_UTF8.format(name=name)
    except ValueError as err:  # e.g. an integer of over 4,300 digits in JSON
        problem = messages.UNREADABLE_VALUE.format(name=name, error=str(err)[:120])
    except RecursionError:
        problem = messages.JSON_TOO_DEEP.format(name=name)
    except OSError as err:
        problem = messages.FILE_UNREADABLE.format(name=name, error=err.strerror or err)
    # Raised here, outside the handlers: the new error carries no context, so nothing of the parse
    # (bytes, decoded text, rows) stays reachable from it.
    raise CorpusError(problem)


def _parse(path: Path, name: str, max_rows: int | None) -> tuple[list[dict], tuple[str, ...]]:
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(messages.UNSUPPORTED_FILE_TYPE.format(name=name))
    size = path.stat().st_size
    if max_rows is not None and size > MAX_UPLOAD_BYTES:
        raise CorpusError(messages.FILE_TOO_LARGE.format(name=name, megabytes=size / 2**20))
    with path.open("rb") as raw:
        if _looks_binary(raw.read(4096)):
            raise CorpusError(messages.BINARY_FILE.format(name=name))
        raw.seek(0)
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return normalise_rows(_rows(stream, suffix, name), name, max_rows)


def _rows(stream: io.TextIOBase, suffix: str, name: str) -> Iterator[object]:
    if suffix == ".txt":
        yield from ({"body": line} for line in stream if line.strip())
    elif suffix in (".json", ".jsonl"):
        yield from (_as_row(item) for item in _json_values(stream, suffix, name))
    else:
        yield from _csv_rows(stream, "\t" if suffix == ".tsv" else _csv_delimiter(stream), name)


def _as_row(item: object) -> object:
    return {"body": item} if isinstance(item, str) else item  # a list of strings is a list of texts


def _json_values(stream: io.TextIOBase, suffix: str, name: str) -> Iterator[object]:
    """The rows of a JSON array (decoded one at a time: a 10 MB array never becomes 260 MB of objects
    at once), of one JSON object, or of JSON Lines."""
    text = stream.read()
    start = _SPACE.match(text).end()
    if suffix == ".json" and text.startswith("[", start):
        yield from _json_array(text, start + 1, name)
        return
    if suffix == ".json" and _is_one_value(text, start):
        yield _DECODER.raw_decode(text, start)[0]  # one object, maybe pretty-printed
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(
                    messages.BAD_JSON_LINE.format(name=name, line=number, error=err.msg)
                ) from None


def _is_one_value(text: str, start: int) -> bool:
    try:
        _, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError:
        return False
    return _SPACE.match(text, end).end() == len(text)


def _json_array(text: str, position: int, name: str) -> Iterator[object]:
    while True:
        position = _SPACE.match(text, position).end()
        if text.startswith("]", position):
            return
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as err:
            raise CorpusError(messages.BAD_JSON.format(name=name, line=err.lineno, error=err.msg)) from None
        yield value
        position = _SPACE.match(text, position).end()
        if text.startswith(",", position):
            position += 1
        elif not text.startswith("]", position):
            line = text.count("\n", 0, position) + 1
            raise CorpusError(messages.JSON_MISSING_COMMA.format(name=name, line=line))


def _csv_delimiter(stream: io.TextIOBase) -> str:
    """The project's one separator rule (``core.tables.separator``) on the header line."""
    header = stream.readline()
    stream.seek(0)
    return separator(header, ".csv")


def _csv_rows(stream: io.TextIOBase, delimiter: str, name: str) -> Iterator[dict]:
    reader = csv.reader(stream, delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return
    header = [clean_text(column).lower() for column in header]
    for row in reader:
        if not any(field.strip() for field in row):
            continue  # blank lines are not rows
        if len(row) > len(header):
            raise CorpusError(
                messages.RAGGED_ROW.format(
                    name=name,
                    line=reader.line_num,
                    fields=len(row),
                    columns=len(header),
                    separator="tabuladores" if delimiter == "\t" else "comas",
                )
            )
        yield dict(zip(header, row, strict=False))


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
        notes.append(messages.TEXTS_CUT.format(count=cut))
    if len(items) < len(dicts):
        notes.append(messages.ROWS_SKIPPED.format(count=len(dicts) - len(items)))
    return items, tuple(notes)


def _looks_binary(head: bytes) -> bool:
    """Several control bytes (other than tab and newlines), over 5% of the start: an image, a PDF, a
    zip. A stray NUL in text is not enough; it is stripped with the other control characters."""
    controls = sum(byte < 9 or 13 < byte < 32 for byte in head)
    return controls >= 4 and controls > 0.05 * len(head)
