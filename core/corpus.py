"""News corpora for search, clustering and duplicate detection: the bundled one, a file, or a Hub dataset.

Every corpus becomes a list of dicts with ``id``, ``section``, ``title`` and ``body``; a corpus without
titles or sections gets empty strings there.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from core.data import load_news
from core.fingerprint import data_fingerprint

CORPUS_ENV = "CORPUS"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_ROWS = 20_000
BODY_COLUMNS = ("body", "text", "content", "passage", "sentence", "summary")
TITLE_COLUMNS = ("title", "headline", "output_text")
SECTION_COLUMNS = ("section", "category", "topic", "label")
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".txt")


class CorpusError(ValueError):
    """A corpus that cannot be used; the message says how to fix it."""


def load_corpus(spec: str | None = None) -> list[dict]:
    """``spec``, else ``$CORPUS``, else the bundled news: a local file, a Hub dataset id or ``bundled``."""
    spec = (spec or os.environ.get(CORPUS_ENV, "") or "bundled").strip()
    if spec == "bundled":
        return load_news()
    path = Path(spec).expanduser()
    if path.exists() or path.suffix.lower() in SUFFIXES:
        if not path.is_file():
            raise CorpusError(f"Corpus file {spec} does not exist.")
        return parse_corpus_bytes(path.read_bytes(), path.name, max_rows=None)
    try:
        from datasets import load_dataset

        rows = load_dataset(spec, split="train")
    except Exception as err:
        raise CorpusError(
            f"Cannot load corpus {spec!r} from the Hub ({type(err).__name__}); check CORPUS, or unset it "
            "to use the bundled news."
        ) from err
    return normalise_rows([dict(row) for row in rows], spec)


def parse_corpus_bytes(data: bytes, name: str, max_rows: int | None = MAX_UPLOAD_ROWS) -> list[dict]:
    """Parse an uploaded CSV / TSV / JSONL / JSON / TXT file into corpus items.

    Raises:
        CorpusError: Too large, not UTF-8 text, unknown type, no usable column, or no rows.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(f"{name}: unsupported file type; upload a .csv, .tsv, .jsonl or .txt file.")
    if max_rows is not None and len(data) > MAX_UPLOAD_BYTES:
        raise CorpusError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is 10 MB.")
    if b"\x00" in data[:4096]:
        raise CorpusError(f"{name} is a binary file, not text; upload UTF-8 text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{name} is not UTF-8 text; save it as UTF-8 and upload it again.") from err
    if suffix == ".txt":
        rows = [{"body": line.strip()} for line in text.splitlines() if line.strip()]
    elif suffix in (".jsonl", ".json"):
        rows = _parse_json(text, name)
    else:
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
    items = normalise_rows(rows, name)
    if max_rows is not None and len(items) > max_rows:
        raise CorpusError(f"{name} has {len(items):,} rows; the limit is {max_rows:,}.")
    return items


def _parse_json(text: str, name: str) -> list:
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            return json.loads(stripped)
        return [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise CorpusError(f"{name}: line {err.lineno} is not valid JSON.") from err


def normalise_rows(rows: list, name: str) -> list[dict]:
    """Map rows with any of the usual column names onto ``id, section, title, body``."""
    dicts = [row for row in rows if isinstance(row, dict)]
    if not dicts:
        raise CorpusError(f"{name} has no rows; it needs a text column ({', '.join(BODY_COLUMNS)}).")
    columns = set().union(*(row.keys() for row in dicts[:100]))
    body = next((c for c in BODY_COLUMNS if c in columns), None)
    if body is None:
        raise CorpusError(
            f"{name} has no text column; name one of: {', '.join(BODY_COLUMNS)} "
            f"(found: {', '.join(sorted(columns))})."
        )
    title = next((c for c in TITLE_COLUMNS if c in columns), None)
    section = next((c for c in SECTION_COLUMNS if c in columns), None)
    items = []
    for index, row in enumerate(dicts):
        text = " ".join(str(row.get(body) or "").split())
        if text:
            items.append(
                {
                    "id": str(row.get("id") or index),
                    "section": str(row.get(section) or "") if section else "",
                    "title": " ".join(str(row.get(title) or "").split()) if title else "",
                    "body": text,
                }
            )
    if not items:
        raise CorpusError(f"{name}: every row's {body!r} is empty.")
    return items


def passage_text(item: dict) -> str:
    """What is embedded for an item: headline and body together."""
    return f"{item['title']}. {item['body']}" if item["title"] else item["body"]


def corpus_fingerprint(items: list[dict]) -> str:
    return data_fingerprint([[i["id"], i["section"], i["title"], i["body"]] for i in items])
