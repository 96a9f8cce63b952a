"""One reader for the tabular files people bring: CSV, TSV, JSON lines and JSON arrays.

Every place that reads such a file (the evaluation's STS and retrieval files, the evaluation tab's STS
upload, the search tab's corpus upload, ``$CORPUS``) goes through ``iter_rows`` (a stream) or
``read_table`` (the rows in a list): UTF-8 with or without a byte-order mark, one separator rule, row
numbers as the person sees them in an editor, and a row cap checked while reading. Problems raise
``TableError`` with a ``code`` and the facts (line, detail); each caller words them for its audience (the
CLIs in English, the Space in Spanish) and keeps its own columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import WorkbenchError

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
CODES = (
    "missing",  # no such file
    "type",  # a suffix other than SUFFIXES
    "too_big",  # over max_bytes (detail: the size in bytes)
    "binary",  # an image, a PDF, a zip
    "encoding",  # not UTF-8
    "empty",  # nothing but blank space
    "json",  # invalid JSON (line, detail: the parser's reason)
    "json_comma",  # a JSON array without a comma or ']' between two values (line)
    "too_deep",  # JSON nested past the parser's limit
    "value",  # a value no parser takes (a 5,000-digit number)
    "csv",  # the CSV parser gave up (line, detail)
    "field_too_long",  # one CSV field longer than FIELD_LIMIT (line: where its row starts)
    "ragged",  # a CSV row with more fields than the header (line, fields, columns, delimiter)
    "not_rows",  # a value that is not a row of named columns (line)
    "too_many_rows",  # over max_rows (detail: the cap)
    "unreadable",  # the operating system could not read it (detail)
)
FIELD_LIMIT = 128 * 1024  # a longer CSV field is almost always a quote left open
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


class TableError(WorkbenchError):
    """A file that cannot be read as a table; ``code`` is one of ``CODES``, ``facts`` holds the rest."""

    def __init__(self, code: str, path: Path, line: int | None = None, detail: str = "", **facts):
        self.code, self.path, self.line, self.detail, self.facts = code, Path(path), line, detail, facts
        where = f" (line {line})" if line else ""
        super().__init__(f"{self.path.name}: {code}{where}{': ' + detail if detail else ''}")


@dataclass
class Table:
    """The rows of a file (dicts of column -> value) and the line each starts on."""

    rows: list[dict]
    lines: list[int] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [str(name) for name in self.rows[0]] if self.rows else []


def separator(header: str, suffix: str) -> str:
    """The CSV separator: a tab for ``.tsv``; otherwise the header's most frequent of tab, ``;`` and ``,``
    (a spreadsheet in a Spanish locale writes ``;``), comma on a tie."""
    if suffix == ".tsv":
        return "\t"
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","


def read_table(path: Path | str, max_rows: int | None = None, max_bytes: int | None = None) -> Table:
    """Read a CSV / TSV / JSONL / JSON file into rows of named columns.

    Args:
        path: The file; its suffix says the format (``.json`` holds an array of objects, one object, or
            JSON lines).
        max_rows: More rows than this raise ``too_many_rows`` (the file is not read further).
        max_bytes: A larger file raises ``too_big`` before it is read.

    Raises:
        TableError: See ``CODES``.
    """
    path = Path(path)
    table = Table([], [])
    for line, row in iter_rows(path, max_bytes=max_bytes):
        if not isinstance(row, dict):
            raise TableError("not_rows", path, line)
        table.rows.append(row)
        table.lines.append(line)
        if max_rows is not None and len(table.rows) > max_rows:
            raise TableError("too_many_rows", path, detail=str(max_rows))
    if not table.rows:
        raise TableError("empty", path)
    return table


def iter_rows(
    path: Path | str, suffix: str | None = None, max_bytes: int | None = None
) -> Iterator[tuple[int, object]]:
    """Stream ``(line, value)`` from a CSV / TSV / JSONL / JSON file; a caller stops when it has enough.

    CSV rows are dicts keyed by the header; JSON values are yielded as they are (an object is a row,
    anything else is for the caller to take or refuse). A JSON array is decoded one value at a time: a
    10 MB array never becomes hundreds of MB of objects at once. Blank lines and rows are skipped.

    Args:
        path: The file.
        suffix: The format, when the file's own name does not say it (an upload keeps a temp name).
        max_bytes: A larger file raises ``too_big`` before it is read.

    Raises:
        TableError: See ``CODES``; raised outside the parser's handlers, so that nothing of the parse
            (bytes, decoded text, rows) stays reachable from it.
    """
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    problem = None
    try:
        yield from _iter_rows(path, suffix, max_bytes)
        return
    except TableError as err:
        problem = err
    except UnicodeDecodeError:
        problem = TableError("encoding", path)
    except RecursionError:
        problem = TableError("too_deep", path)
    except ValueError:  # an integer of over 4,300 digits in JSON
        problem = TableError("value", path)
    except OSError as err:
        problem = TableError("unreadable", path, detail=str(err.strerror or err))
    raise problem


def _iter_rows(path: Path, suffix: str, max_bytes: int | None) -> Iterator[tuple[int, object]]:
    if not path.is_file():
        raise TableError("missing", path)
    if suffix not in SUFFIXES:
        raise TableError("type", path, detail=suffix or "no suffix")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TableError("too_big", path, detail=str(size))
    with path.open("rb") as raw:
        if looks_binary(raw.read(4096)):
            raise TableError("binary", path)
        raw.seek(0)
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        if suffix in (".json", ".jsonl"):
            yield from _json_values(stream.read(), path, suffix)
        else:
            yield from _csv_rows(stream, path, suffix)


def _json_values(text: str, path: Path, suffix: str) -> Iterator[tuple[int, object]]:
    start = _SPACE.match(text).end()
    if start == len(text):
        return
    if suffix == ".json" and text.startswith("[", start):
        yield from _json_array(text, start + 1, path)
        return
    if suffix == ".json" and _is_one_value(text, start):
        yield text.count("\n", 0, start) + 1, _DECODER.raw_decode(text, start)[0]  # maybe pretty-printed
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                raise TableError("json", path, number, err.msg) from None


def _is_one_value(text: str, start: int) -> bool:
    try:
        _, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError:
        return False
    return _SPACE.match(text, end).end() == len(text)


def _json_array(text: str, position: int, path: Path) -> Iterator[tuple[int, object]]:
    while True:
        position = _SPACE.match(text, position).end()
        if text.startswith("]", position):
            return
        line = text.count("\n", 0, position) + 1
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as err:
            raise TableError("json", path, err.lineno, err.msg, array=True) from None
        yield line, value
        position = _SPACE.match(text, position).end()
        if text.startswith(",", position):
            position += 1
        elif not text.startswith("]", position):
            raise TableError("json_comma", path, text.count("\n", 0, position) + 1)


def _csv_rows(stream: io.TextIOBase, path: Path, suffix: str) -> Iterator[tuple[int, dict]]:
    delimiter = separator(stream.readline(), suffix)
    stream.seek(0)
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(stream, delimiter=delimiter)
    start = 1
    try:
        header = next(reader, None)
        if not header:
            return
        header = [column.strip() for column in header]
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if not any(value.strip() for value in row):
                continue  # blank lines are not rows
            if len(row) > len(header):  # the separator inside an unquoted text
                raise TableError(
                    "ragged", path, start, fields=len(row), columns=len(header), delimiter=delimiter
                )
            yield start, dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
    except csv.Error as err:
        if "field limit" in str(err):
            raise TableError("field_too_long", path, start) from None
        raise TableError("csv", path, reader.line_num, str(err)[:120]) from None


def looks_binary(head: bytes) -> bool:
    """Several control bytes (other than tab and newlines), over 5% of the start: an image, a PDF, a
    zip. A stray NUL in text is not enough; callers strip it with the other control characters."""
    controls = sum(byte < 9 or 13 < byte < 32 for byte in head)
    return controls >= 4 and controls > 0.05 * len(head)
