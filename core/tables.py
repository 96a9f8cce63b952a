"""One reader for the tabular files people bring: CSV, TSV, JSON lines and JSON arrays.

Every place that reads such a file (the evaluation's STS and retrieval files, the evaluation tab's STS
upload) goes through ``read_table``: UTF-8 with or without a byte-order mark, one separator rule, row
numbers as the person sees them in an editor, and a row cap checked while reading. Problems raise
``TableError`` with a ``code`` and the facts (line, detail); each caller words them for its audience (the
CLIs in English, the Space in Spanish) and keeps its own columns.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import WorkbenchError

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


class TableError(WorkbenchError):
    """A file that cannot be read as a table. ``code`` is one of ``missing``, ``type``, ``too_big``,
    ``encoding``, ``empty``, ``json``, ``csv``, ``not_rows``, ``too_many_rows``."""

    def __init__(self, code: str, path: Path, line: int | None = None, detail: str = ""):
        self.code, self.path, self.line, self.detail = code, path, line, detail
        where = f" (line {line})" if line else ""
        super().__init__(f"{path.name}: {code}{where}{': ' + detail if detail else ''}")


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
    """Read a CSV / TSV / JSONL / JSON file into rows.

    Args:
        path: The file; its suffix says the format (``.json`` holds an array of objects, or JSON lines).
        max_rows: More rows than this raise ``too_many_rows`` (the file is not read further).
        max_bytes: A larger file raises ``too_big`` before it is read.

    Raises:
        TableError: The file is missing, of another type, too big, not UTF-8, empty, not valid JSON or
            CSV, holds something other than rows of named columns, or has too many rows.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise TableError("missing", path)
    if suffix not in SUFFIXES:
        raise TableError("type", path, detail=suffix or "no suffix")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise TableError("too_big", path, detail=str(path.stat().st_size))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise TableError("encoding", path, detail=str(err)[:80]) from None
    if not text.strip():
        raise TableError("empty", path)
    table = _json_rows(text, path, suffix) if suffix in (".jsonl", ".json") else _csv_rows(text, path, suffix)
    if not table.rows:
        raise TableError("empty", path)
    bad = next(
        (line for row, line in zip(table.rows, table.lines, strict=True) if not isinstance(row, dict)), None
    )
    if bad is not None:
        raise TableError("not_rows", path, bad)
    if max_rows is not None and len(table.rows) > max_rows:
        raise TableError("too_many_rows", path, detail=str(max_rows))
    return table


def _json_rows(text: str, path: Path, suffix: str) -> Table:
    if suffix == ".json" and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise TableError("json", path, getattr(err, "lineno", None), str(err)[:120]) from None
        return Table(rows, list(range(1, len(rows) + 1)))
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as err:
            raise TableError("json", path, number, str(err)[:120]) from None
        lines.append(number)
    return Table(rows, lines)


def _csv_rows(text: str, path: Path, suffix: str) -> Table:
    delimiter = separator(text.split("\n", 1)[0], suffix)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows, lines = [], []
    try:
        for row in reader:
            if None in row:  # more fields than the header: the separator inside an unquoted text
                raise TableError(
                    "csv", path, reader.line_num, f"more fields than the header's ({delimiter!r})"
                )
            if any(value not in (None, "") for value in row.values()):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as err:
        raise TableError("csv", path, reader.line_num, str(err)[:120]) from None
    return Table(rows, lines)
