"""Evaluation data: STS sentence pairs and headline -> body retrieval sets, named by a spec.

STS specs: ``bundled:test`` / ``bundled:dev`` (``bundled:train``, for training only: the calibration pairs
that are not held out), ``stsb_multi_mt:es:test`` (``:dev``, ``:train``; other
languages too), or a local ``.tsv`` / ``.csv`` / ``.jsonl`` file with ``sentence1``, ``sentence2`` and a
score (0–5 or 0–1). Retrieval specs: ``bundled``, ``cc-news-es:test``, ``mlsum:es:test``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core.corpora.data import (
    load_news,
    load_news_duplicates,
    load_news_keywords,
    load_sts,
    load_stsb_multi_mt,
)
from core.corpora.text import clean_text
from core.errors import WorkbenchError
from core.models.fingerprint import data_fingerprint
from core.tables import Table, TableError, read_table

STS_SPECS = ("bundled:test", "bundled:dev", "stsb_multi_mt:es:test", "stsb_multi_mt:es:dev")
RETRIEVAL_SPECS = ("bundled", "bundled:keywords", "bundled:retold", "cc-news-es:test", "mlsum:es:test")
RETRIEVAL_FILE_SUFFIXES = (".jsonl", ".csv", ".tsv")
# (query column, passage column) pairs a local retrieval file may use, in order of preference
RETRIEVAL_COLUMNS = (("query", "positive"), ("title", "body"), ("title", "text"), ("output_text", "text"))
SCORE_COLUMNS = ("score", "similarity_score", "label", "puntuación", "puntuacion")
_CC_NEWS_FILES = {
    "train": "train.jsonl",
    "validation": "eval.jsonl",
    "eval": "eval.jsonl",
    "test": "test.jsonl",
}


class DatasetError(WorkbenchError, ValueError):
    """A dataset spec or file that cannot be used; the message says how to fix it."""


@dataclass
class STSDataset:
    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]  # gold scores on the 0–5 scale
    fingerprint: str = ""

    def __post_init__(self):
        self.fingerprint = self.fingerprint or data_fingerprint(
            [self.sentences1, self.sentences2, self.scores]
        )


@dataclass
class RetrievalDataset:
    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    fingerprint: str = field(default="")

    def __post_init__(self):
        relevant = {q: sorted(docs) for q, docs in sorted(self.relevant.items())}
        self.fingerprint = self.fingerprint or data_fingerprint([self.queries, self.corpus, relevant])


def load_sts_dataset(spec: str) -> STSDataset:
    """Load STS pairs named by ``spec`` (see the module docstring)."""
    parts = spec.split(":")
    if parts[0] == "bundled" and len(parts) == 2:
        if parts[1] == "train":
            from core.models.calibration import sts_training_pairs

            return _from_pairs(spec, sts_training_pairs())
        if parts[1] not in ("dev", "test"):
            raise DatasetError(f"Unknown bundled split {parts[1]!r}; use bundled:dev or bundled:test.")
        return _from_pairs(spec, load_sts(parts[1]))
    if parts[0] == "stsb_multi_mt" and len(parts) == 3:
        try:
            pairs = load_stsb_multi_mt(parts[2], parts[1])
        except ValueError as err:
            raise DatasetError(str(err)) from err
        except Exception as err:  # offline or missing on the Hub
            raise DatasetError(
                f"Cannot load {spec} from the Hub ({type(err).__name__}); check your network, or use "
                "bundled:test, which works offline."
            ) from err
        return _from_pairs(spec, pairs)
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".tsv", ".csv", ".jsonl", ".json") or path.exists():
        return _from_pairs(path.name, read_sts_file(path))
    raise DatasetError(
        f"Unknown STS dataset {spec!r}; use one of {', '.join(STS_SPECS)} or a .tsv/.csv/.jsonl file."
    )


class StsFileError(DatasetError):
    """An STS file whose rows do not hold pairs: ``code`` ``columns`` (with ``found``), ``row`` (with
    ``line``) or ``too_few``; each caller words it for its audience."""

    def __init__(self, code: str, name: str, line: int | None = None, found: str = ""):
        self.code, self.name, self.line, self.found = code, name, line, found
        messages = {
            "columns": f"{name} needs columns sentence1, sentence2 and score; it has: {found}.",
            "row": f"{name}: line {line} needs two non-empty sentences and a score from 0 to 5.",
            "too_few": f"{name} needs at least 3 pairs with at least two different scores.",
        }
        super().__init__(messages[code])


def sts_pairs(table: Table, name: str) -> list[dict]:
    """The pairs of an STS table, the one rule for every STS file (the CLI's and the tab's): columns
    ``sentence1``, ``sentence2`` and a score (``SCORE_COLUMNS``), named in any case; a score from 0 to 5,
    or 0 to 1 (rescaled to 0–5), with a decimal point or comma; at least 3 pairs, two scores different.

    Raises:
        StsFileError: What is wrong, and where.
    """
    columns = {str(key).strip().lower(): key for key in table.rows[0]}
    score_key = next((columns[c] for c in SCORE_COLUMNS if c in columns), None)
    if "sentence1" not in columns or "sentence2" not in columns or score_key is None:
        raise StsFileError("columns", name, found=", ".join(sorted(columns))[:200] or "none")
    pairs = []
    for row, line in zip(table.rows, table.lines, strict=True):
        a, b = clean_text(row.get(columns["sentence1"])), clean_text(row.get(columns["sentence2"]))
        score = _number(row.get(score_key))
        if not a or not b or score is None or not 0 <= score <= 5:
            raise StsFileError("row", name, line)
        pairs.append({"sentence1": a, "sentence2": b, "score": score})
    if len(pairs) < 3 or len({p["score"] for p in pairs}) < 2:
        raise StsFileError("too_few", name)
    factor = 5.0 if max(p["score"] for p in pairs) <= 1 else 1.0
    return [p | {"score": p["score"] * factor} for p in pairs]


def read_sts_file(path: Path) -> list[dict]:
    """Read a local STS file (``core.tables.read_table``, then ``sts_pairs``); scores on 0–1 are
    rescaled to 0–5."""
    try:
        return sts_pairs(read_table(path), Path(path).name)
    except TableError as err:
        raise DatasetError(table_problem(err)) from None


def table_problem(err: TableError) -> str:
    """A ``TableError`` in the CLIs' words."""
    path, line = err.path, f" (line {err.line})" if err.line else ""
    return {
        "missing": f"{path} does not exist.",
        "type": f"{path}: use a .csv, .tsv, .jsonl or .json file.",
        "encoding": f"{path} is not UTF-8 text; save it as UTF-8.",
        "empty": f"{path} has no rows; it needs a header and rows of named columns.",
        "json": f"{path}{line} is not valid JSON ({err.detail}).",
        "csv": f"{path}{line} cannot be read as CSV ({err.detail}); quote texts that hold the separator.",
        "not_rows": f"{path}{line}: every row must be an object of named columns.",
        "too_many_rows": f"{path} has more than {err.detail} rows.",
        "too_big": f"{path} is too large ({err.detail} bytes).",
    }.get(err.code, str(err))


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _from_pairs(name: str, pairs: list[dict]) -> STSDataset:
    if not pairs:
        raise DatasetError(f"{name} has no sentence pairs.")
    return STSDataset(
        name=name,
        sentences1=[p["sentence1"] for p in pairs],
        sentences2=[p["sentence2"] for p in pairs],
        scores=[float(p["score"]) for p in pairs],
    )


def load_retrieval_dataset(spec: str, limit: int | None = None) -> RetrievalDataset:
    """Headlines as queries, bodies as the corpus. ``limit`` keeps the first N pairs."""
    if spec == "bundled":
        return _bundled_retrieval(limit)
    if spec == "bundled:keywords":
        return _bundled_keywords(limit)
    if spec == "bundled:retold":
        return _bundled_retold(limit)
    path = Path(spec).expanduser()
    if path.suffix.lower() in RETRIEVAL_FILE_SUFFIXES:
        queries, passages = zip(*_retrieval_file_pairs(path), strict=True)
        return _pairs_retrieval(path.name, queries, passages, limit)
    parts = spec.split(":")
    try:
        if parts[0] == "cc-news-es" and len(parts) == 2:
            from datasets import load_dataset

            if parts[1] not in _CC_NEWS_FILES:
                raise DatasetError(f"cc-news-es has no split {parts[1]!r}; use train, validation or test.")
            url = f"hf://datasets/LeoCordoba/CC-NEWS-ES-titles/{_CC_NEWS_FILES[parts[1]]}"
            rows = load_dataset("json", data_files=url, split="train")
            return _pairs_retrieval(spec, rows["output_text"], rows["text"], limit)
        if parts[0] == "mlsum" and len(parts) == 3:
            from datasets import load_dataset

            rows = load_dataset("mteb/mlsum", parts[1], split=parts[2])
            return _pairs_retrieval(spec, rows["title"], rows["text"], limit)
    except DatasetError:
        raise
    except Exception as err:
        raise DatasetError(
            f"Cannot load {spec} from the Hub ({type(err).__name__}); check your network, or use bundled, "
            "which works offline."
        ) from err
    raise DatasetError(f"Unknown retrieval dataset {spec!r}; use one of {', '.join(RETRIEVAL_SPECS)}.")


def _bundled_retrieval(limit: int | None) -> RetrievalDataset:
    """Every bundled headline asks for its own body and for the body of its retelling, if any."""
    news = load_news()[:limit] if limit else load_news()
    ids = {item["id"] for item in news}
    relevant = {item["id"]: {item["id"]} for item in news}
    for id_a, id_b in load_news_duplicates():
        if id_a in ids and id_b in ids:
            relevant[id_a].add(id_b)
            relevant[id_b].add(id_a)
    return RetrievalDataset(
        name="bundled",
        queries={item["id"]: item["title"] for item in news},
        corpus={item["id"]: item["body"] for item in news},
        relevant=relevant,
    )


def _bundled_keywords(limit: int | None) -> RetrievalDataset:
    """Queries typed as keywords (``assets/news_es_keywords.jsonl``) against every bundled body; a
    retelling of the target (``news_es_duplicates.tsv``) counts as relevant too."""
    news = load_news()
    rows = load_news_keywords()[:limit] if limit else load_news_keywords()
    retold = {}
    for id_a, id_b in load_news_duplicates():
        retold.setdefault(id_a, set()).add(id_b)
        retold.setdefault(id_b, set()).add(id_a)
    return RetrievalDataset(
        name="bundled:keywords",
        queries={f"k{i}": row["query"] for i, row in enumerate(rows)},
        corpus={item["id"]: item["body"] for item in news},
        relevant={f"k{i}": {row["id"], *retold.get(row["id"], ())} for i, row in enumerate(rows)},
    )


def _bundled_retold(limit: int | None) -> RetrievalDataset:
    """A story's headline asks for its retelling, a body that says the same in other words
    (``news_es_duplicates.tsv``); the first telling's own body is left out of the corpus."""
    news = load_news()
    pairs = load_news_duplicates()[:limit] if limit else load_news_duplicates()
    firsts = {id_a for id_a, _ in load_news_duplicates()}
    titles = {item["id"]: item["title"] for item in news}
    return RetrievalDataset(
        name="bundled:retold",
        queries={id_a: titles[id_a] for id_a, _ in pairs},
        corpus={item["id"]: item["body"] for item in news if item["id"] not in firsts},
        relevant={id_a: {id_b} for id_a, id_b in pairs},
    )


def _pairs_retrieval(name: str, titles, bodies, limit: int | None) -> RetrievalDataset:
    titles, bodies = list(titles), list(bodies)
    if limit:
        titles, bodies = titles[:limit], bodies[:limit]
    return RetrievalDataset(
        name=name,
        queries={f"q{i}": t for i, t in enumerate(titles)},
        corpus={f"d{i}": b for i, b in enumerate(bodies)},
        relevant={f"q{i}": {f"d{i}"} for i in range(len(titles))},
    )


def _read_rows(path: Path) -> list[dict]:
    try:
        return read_table(path).rows
    except TableError as err:
        raise DatasetError(table_problem(err)) from None


def _retrieval_file_pairs(path: Path) -> list[tuple[str, str]]:
    """(query, relevant passage) pairs of a local JSONL / CSV / TSV file: news items (``title``,
    ``body``) or explicit pairs (``query``, ``positive``)."""
    rows = _read_rows(path)
    columns = set(rows[0])
    names = next((pair for pair in RETRIEVAL_COLUMNS if set(pair) <= columns), None)
    if names is None:
        raise DatasetError(
            f"{path} needs columns query and positive, or title and body; "
            f"it has: {', '.join(sorted(columns))}."
        )
    pairs = [(str(row[names[0]] or "").strip(), str(row[names[1]] or "").strip()) for row in rows]
    pairs = [(query, passage) for query, passage in pairs if query and passage]
    if not pairs:
        raise DatasetError(f"{path} has no row with both {names[0]} and {names[1]}.")
    return pairs


def with_distractors(dataset: RetrievalDataset, spec: str | None) -> RetrievalDataset:
    """``dataset`` with extra passages that answer no query: ``bundled`` (the bundled news bodies) or a
    local JSONL / CSV / TSV file (column ``body``, ``text``, ``passage`` or ``positive``)."""
    if not spec:
        return dataset
    if spec == "bundled":
        texts = [item["body"] for item in load_news()]
    else:
        path = Path(spec).expanduser()
        rows = _read_rows(path)
        column = next((c for c in ("body", "text", "passage", "positive") if c in rows[0]), None)
        if column is None:
            raise DatasetError(f"{path} needs a body, text, passage or positive column for its distractors.")
        texts = [str(row[column] or "").strip() for row in rows]
    present = set(dataset.corpus.values())
    extra = {f"distractor{i}": text for i, text in enumerate(texts) if text and text not in present}
    return RetrievalDataset(
        name=f"{dataset.name}+{Path(spec).name if spec != 'bundled' else 'bundled'}",
        queries=dataset.queries,
        corpus=dataset.corpus | extra,
        relevant=dataset.relevant,
    )
