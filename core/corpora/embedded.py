"""Embedded corpora: texts, their fields and one embedding column in Parquet shards, written once
(``python -m trainer predict --embed FILE --output corpus.parquet``) and served without re-embedding
(``CORPUS=corpus.parquet``).

The output is a folder of shards (``part-00000-of-00004.parquet``; any Parquet reader opens the folder,
``datasets.load_dataset("parquet", data_dir=...)`` included). Each shard is written to a temporary name
and renamed when complete, so a killed job resumes where it stopped: a shard already there with the same
model, input and layout is kept. Every shard's schema metadata (``workbench``) records the model, its
fingerprint, the document prompt, the embedded text's rule and the input's fingerprint: a corpus made by
another model is refused where it would be served.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CorpusError

logger = logging.getLogger(__name__)

FORMAT = 1
META_KEY = b"workbench"
SHARD_ROWS = 10_000
FIELDS = ("id", "section", "title", "body")


@dataclass(frozen=True)
class EmbeddedVectors:
    """The embeddings a corpus was shipped with, and who made them."""

    embeddings: np.ndarray
    model: str
    model_fingerprint: str
    prompt: str | None


def is_embedded_spec(spec: str) -> bool:
    """A ``$CORPUS`` value naming an embedded corpus: a ``.parquet`` file or folder."""
    return spec.rstrip("/").lower().endswith(".parquet")


def shard_path(output: Path, index: int, count: int) -> Path:
    return output / f"part-{index:05d}-of-{count:05d}.parquet"


def job_metadata(model: str, fingerprint: str, prompt: str | None, corpus, shard_rows: int) -> dict:
    """What every shard of one embedding job records (``META_KEY``)."""
    return {
        "format": FORMAT,
        "model": model,
        "model_fingerprint": fingerprint,
        "prompt": prompt,
        "embedded_text": "title. body (first 1,200 characters, cut at a word)",
        "normalized": True,
        "corpus_fingerprint": corpus.fingerprint,
        "rows": len(corpus),
        "shard_rows": shard_rows,
        "shards": max(1, -(-len(corpus) // shard_rows)),
    }


def write_shard(path: Path, items, vectors: np.ndarray, meta: dict) -> None:
    """One shard: the items' fields and their vectors, written under a temporary name and renamed (a
    shard is there complete, or not at all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dimension = vectors.shape[1]
    columns = {field: pa.array([item[field] for item in items], pa.string()) for field in FIELDS}
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, dimension)
    table = pa.table(columns).replace_schema_metadata(
        {META_KEY: json.dumps(meta | {"dimension": dimension}).encode()}
    )
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)


def shard_metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
        return json.loads(raw) if raw else {}
    except Exception:  # a broken shard is another job's as far as resuming goes
        return {}


def same_job(found: dict, meta: dict) -> bool:
    keys = ("format", "model_fingerprint", "corpus_fingerprint", "shard_rows", "shards")
    return all(found.get(key) == meta[key] for key in keys)


def read_embedded(spec: str) -> tuple[list[dict], str, EmbeddedVectors]:
    """An embedded corpus (a folder of shards, or one ``.parquet`` file): its items, its fingerprint and
    its vectors (``core.corpora.corpus.load_corpus`` makes the ``Corpus``); nothing is encoded.

    Raises:
        CorpusError: Missing, incomplete, unreadable, or not written by this project.
    """
    import pyarrow.parquet as pq

    from core import messages

    path = Path(spec).expanduser()
    shards = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path] if path.is_file() else []
    if not shards:
        raise CorpusError(messages.EMBEDDED_MISSING.format(spec=spec))
    metas = [shard_metadata(shard) for shard in shards]
    first = metas[0]
    if first.get("format") != FORMAT or any(not same_job(meta, first) for meta in metas):
        raise CorpusError(messages.EMBEDDED_FOREIGN.format(spec=spec))
    if len(shards) != first["shards"]:
        raise CorpusError(
            messages.EMBEDDED_INCOMPLETE.format(spec=spec, found=len(shards), total=first["shards"])
        )
    tables = [pq.read_table(shard) for shard in shards]
    items, vectors = [], []
    for table in tables:
        fields = {field: table.column(field).to_pylist() for field in FIELDS}
        items += [dict(zip(FIELDS, row, strict=True)) for row in zip(*fields.values(), strict=True)]
        column = table.column("embedding").combine_chunks()
        vectors.append(column.values.to_numpy(zero_copy_only=False).reshape(len(table), -1))
    embeddings = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
    embedded = EmbeddedVectors(embeddings, first["model"], first["model_fingerprint"], first.get("prompt"))
    return items, first["corpus_fingerprint"], embedded


def check_model(corpus, handle) -> None:
    """Refuse to serve ``corpus``'s vectors to queries of another model.

    Raises:
        CorpusError: In Spanish (what the visitor or operator reads): which model made it, what to do.
    """
    from core import messages

    vectors = corpus.vectors
    if vectors is not None and vectors.model_fingerprint != handle.fingerprint:
        raise CorpusError(messages.EMBEDDED_BY_OTHER_MODEL.format(name=corpus.name, model=vectors.model))
