"""``python -m trainer prepare``: turn news into clean (anchor, positive) training pairs.

Sources: the bundled corpus (title -> body, the default), a Hub dataset (``LeoCordoba/CC-NEWS-ES-titles``
through its jsonl files, ``mteb/mlsum`` config ``es``, or any other id) or a local CSV / JSONL / Parquet
file. Steps: pick and rename the columns, normalise whitespace, drop empty rows and exact duplicate
pairs, drop pairs longer than the token limits of the base model's tokenizer, then a seeded
train / dev / test split. The result is a ``datasets`` folder plus ``stats.json``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import WorkbenchError
from core.io import save_dir_atomically
from core.models.loader import ModelLoadError, model_path, resolve_spec

logger = logging.getLogger(__name__)

CC_NEWS_ES = "LeoCordoba/CC-NEWS-ES-titles"
MLSUM = "mteb/mlsum"
# Known sources: how to read them and which columns hold the headline (anchor) and the text (positive).
KNOWN_SOURCES = {
    "bundled": {"anchor": "title", "positive": "body"},
    CC_NEWS_ES: {
        "anchor": "output_text",
        "positive": "text",
        "files": {
            "train": "train.jsonl",
            "validation": "eval.jsonl",
            "eval": "eval.jsonl",
            "test": "test.jsonl",
        },
    },
    MLSUM: {"anchor": "title", "positive": "text", "config": "es"},
}
LOCAL_BUILDERS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_SPACES = re.compile(r"\s+")


class PrepareError(WorkbenchError, ValueError):
    """Bad data or arguments for ``prepare``; the message says how to fix it."""


@dataclass
class PrepareArguments:
    dataset: str = field(
        default="bundled",
        metadata={
            "help": f"bundled (the news corpus in assets/), a Hub id ({CC_NEWS_ES}, {MLSUM}, ...) "
            "or a local .csv/.tsv/.jsonl/.parquet file."
        },
    )
    output_dir: str = field(
        default="data/prepared", metadata={"help": "Folder to write the prepared dataset to."}
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config (mlsum: es)."})
    split: str = field(default="train", metadata={"help": "Split of the source to read."})
    anchor_column: str | None = field(
        default=None, metadata={"help": "Column with the anchor / query text (e.g. the headline)."}
    )
    positive_column: str | None = field(
        default=None, metadata={"help": "Column with the positive text (e.g. the news body)."}
    )
    score_column: str | None = field(
        default=None, metadata={"help": "Optional column with a similarity score (0–1 or 0–5), for cosent."}
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "Model spec whose tokenizer measures lengths (default: $MODEL_ID, else the built-in)."
        },
    )
    max_anchor_tokens: int = field(
        default=32, metadata={"help": "Keep anchors shorter than this many tokens."}
    )
    max_positive_tokens: int = field(
        default=256, metadata={"help": "Keep positives shorter than this many tokens."}
    )
    dev_size: float = field(
        default=0.1, metadata={"help": "Dev split: a fraction (< 1) or a number of rows."}
    )
    test_size: float = field(
        default=0.1, metadata={"help": "Test split: a fraction (< 1) or a number of rows."}
    )
    max_rows: int | None = field(
        default=None, metadata={"help": "Read at most this many rows of the source."}
    )
    seed: int = field(default=42, metadata={"help": "Seed of the split."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output folder."})

    def __post_init__(self):
        for name in ("dev_size", "test_size"):
            if getattr(self, name) < 0:
                raise PrepareError(f"--{name} must not be negative.")
        if self.max_anchor_tokens < 2 or self.max_positive_tokens < 2:
            raise PrepareError("--max_anchor_tokens and --max_positive_tokens must be at least 2.")
        if self.max_rows is not None and self.max_rows < 1:
            raise PrepareError("--max_rows must be at least 1.")


def load_source(args: PrepareArguments):
    """Read the source as one ``datasets.Dataset``."""
    from datasets import Dataset, load_dataset

    if args.dataset == "bundled":
        from core.corpora.data import load_news

        return Dataset.from_list(load_news())
    path = Path(args.dataset).expanduser()
    if path.suffix.lower() in LOCAL_BUILDERS or path.exists():
        return _load_local(path)
    known = KNOWN_SOURCES.get(args.dataset, {})
    try:
        if "files" in known:
            if args.split not in known["files"]:
                raise PrepareError(
                    f"{args.dataset} has no split {args.split!r}; use train, validation or test."
                )
            url = f"hf://datasets/{args.dataset}/{known['files'][args.split]}"
            return load_dataset("json", data_files=url, split="train")
        return load_dataset(args.dataset, args.dataset_config or known.get("config"), split=args.split)
    except PrepareError:
        raise
    except Exception as err:  # offline, unknown id, missing config or split...
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise PrepareError(
            f"Cannot load dataset {args.dataset!r} from the Hub ({type(err).__name__}: {reason}). Check the "
            "id, --dataset_config, --split and your network, or prepare a local CSV/JSONL/Parquet file."
        ) from err


def _load_local(path: Path):
    """A local file through ``datasets`` (memory-mapped Arrow: training files can be far larger than
    anything the Space takes in), with the separator and byte-order-mark rules of ``core.tables``."""
    from datasets import load_dataset

    from core.tables import separator

    if not path.is_file():
        raise PrepareError(f"{path} does not exist; give a .csv, .tsv, .jsonl or .parquet file.")
    builder = LOCAL_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise PrepareError(f"{path}: unknown file type; use .csv, .tsv, .jsonl or .parquet.")
    if path.stat().st_size == 0:
        raise PrepareError(f"{path} is empty.")
    kwargs = {}
    if builder == "csv":  # the project's one separator rule (core.tables): a Spanish spreadsheet writes ";"
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
        kwargs = {"delimiter": separator(header, path.suffix.lower()), "encoding": "utf-8-sig"}
    try:
        return load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except Exception as err:
        raise PrepareError(
            f"Cannot read {path} as {builder}: {str(err).strip().splitlines()[0][:200]}"
        ) from err


def known_shape(columns: list[str]) -> dict:
    """The columns of a known source that a local file has: the seed's CC-NEWS-ES-titles jsonl files
    (``output_text`` headline, ``text`` article), an MLSUM export (``title``, ``text``) or the bundled
    corpus (``title``, ``body``); empty when none fits (then ``anchor`` / ``positive`` or the flags)."""
    for source in (CC_NEWS_ES, MLSUM, "bundled"):
        shape = KNOWN_SOURCES[source]
        if {shape["anchor"], shape["positive"]} <= set(columns):
            return shape
    return {}


def select_columns(data, args: PrepareArguments):
    """Keep the anchor / positive (/ score) columns, renamed to ``anchor``, ``positive``, ``score``."""
    known = KNOWN_SOURCES.get(args.dataset) or known_shape(data.column_names)
    mapping = {
        args.anchor_column or known.get("anchor", "anchor"): "anchor",
        args.positive_column or known.get("positive", "positive"): "positive",
    }
    if args.score_column:
        mapping[args.score_column] = "score"
    missing = [name for name in mapping if name not in data.column_names]
    if missing:
        raise PrepareError(
            f"Column(s) {', '.join(missing)} not found in {args.dataset}; its columns are: "
            f"{', '.join(data.column_names)}. Name them with --anchor_column / --positive_column."
        )
    if len(set(mapping)) < len(mapping):
        raise PrepareError("--anchor_column and --positive_column must be different columns.")
    data = data.select_columns(list(mapping)).rename_columns({k: v for k, v in mapping.items() if k != v})
    return data.select_columns(list(mapping.values()))


def _normalise(batch):
    return {
        key: [_SPACES.sub(" ", str(value or "")).strip() for value in values] if key != "score" else values
        for key, values in batch.items()
    }


def _not_duplicate():
    seen: set[int] = set()

    def keep(batch):
        flags = []
        for anchor, positive in zip(batch["anchor"], batch["positive"], strict=True):
            key = hash((anchor, positive))
            flags.append(key not in seen)
            seen.add(key)
        return flags

    return keep


def _token_counter(tokenizer):
    def count(batch):
        return {
            "anchor_tokens": [len(ids) for ids in tokenizer(batch["anchor"], verbose=False)["input_ids"]],
            "positive_tokens": [len(ids) for ids in tokenizer(batch["positive"], verbose=False)["input_ids"]],
        }

    return count


def _normalise_scores(data):
    scores = np.asarray(data["score"], dtype=float)
    if np.isnan(scores).any() or scores.min() < 0 or scores.max() > 5:
        raise PrepareError("The score column must hold numbers from 0 to 1 or from 0 to 5.")
    if scores.max() > 1:
        data = data.map(lambda batch: {"score": [s / 5.0 for s in batch["score"]]}, batched=True)
    return data


def _split(data, args: PrepareArguments):
    from datasets import DatasetDict

    def size(value):
        return int(value) if value >= 1 else max(1, round(value * len(data))) if value > 0 else 0

    n_dev, n_test = size(args.dev_size), size(args.test_size)
    if n_dev + n_test >= len(data):
        raise PrepareError(
            f"Only {len(data)} rows are left, too few for {n_dev} dev and {n_test} test rows: "
            "lower --dev_size / --test_size or loosen the filters."
        )
    shuffled = data.shuffle(seed=args.seed)
    return DatasetDict(
        train=shuffled.select(range(n_dev + n_test, len(shuffled))),
        dev=shuffled.select(range(n_test, n_test + n_dev)),
        test=shuffled.select(range(n_test)),
    )


def _percentiles(values) -> dict[str, int]:
    values = np.asarray(values)
    if not len(values):
        return {}
    return {f"p{q}": int(np.percentile(values, q)) for q in (50, 90, 99)} | {"max": int(values.max())}


def load_tokenizer(spec: str | None):
    from transformers import AutoTokenizer

    source = model_path(resolve_spec(spec))
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as err:
        raise ModelLoadError(
            f"Cannot load the tokenizer of {resolve_spec(spec)!r} ({type(err).__name__}); check the model "
            "spec and your network, or use builtin:multilingual-e5-small, which works offline."
        ) from err


def prepare(args: PrepareArguments):
    """Run every step and return ``(DatasetDict, stats)``; nothing is written."""
    tokenizer = load_tokenizer(args.tokenizer)
    data = load_source(args)
    steps = []

    def step(name, new_data):
        steps.append({"step": name, "rows_in": len(data), "rows_out": len(new_data)})
        return new_data

    if args.max_rows is not None and len(data) > args.max_rows:
        data = step("max_rows", data.select(range(args.max_rows)))
    data = step("select_columns", select_columns(data, args))
    data = step("normalise_whitespace", data.map(_normalise, batched=True, desc="Normalising whitespace"))
    data = step(
        "drop_empty",
        data.filter(
            lambda b: [bool(a and p) for a, p in zip(b["anchor"], b["positive"], strict=True)],
            batched=True,
            desc="Dropping empty rows",
        ),
    )
    data = step(
        "drop_duplicate_pairs", data.filter(_not_duplicate(), batched=True, desc="Dropping duplicate pairs")
    )
    data = data.map(_token_counter(tokenizer), batched=True, desc="Counting tokens")
    data = step(
        "token_length",
        data.filter(
            lambda b: [
                a < args.max_anchor_tokens and p < args.max_positive_tokens
                for a, p in zip(b["anchor_tokens"], b["positive_tokens"], strict=True)
            ],
            batched=True,
            desc="Filtering by token length",
        ),
    )
    if len(data) == 0:
        raise PrepareError(
            f"No rows are left after filtering {args.dataset}: check the columns, or raise "
            "--max_anchor_tokens / --max_positive_tokens."
        )
    lengths = {
        "anchor_tokens": _percentiles(data["anchor_tokens"]),
        "positive_tokens": _percentiles(data["positive_tokens"]),
    }
    data = data.remove_columns(["anchor_tokens", "positive_tokens"])
    if "score" in data.column_names:
        data = _normalise_scores(data)
    splits = _split(data, args)
    stats = {
        "source": args.dataset,
        "tokenizer": resolve_spec(args.tokenizer),
        "steps": steps,
        "lengths": lengths,
        "splits": {name: len(split) for name, split in splits.items()},
        "columns": splits["train"].column_names,
        "arguments": asdict(args),
    }
    return splits, stats


def save_prepared(splits, stats: dict, output_dir: Path, overwrite: bool = False) -> Path:
    """Write the dataset and ``stats.json`` into ``output_dir`` atomically (temp folder, then rename)."""
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise PrepareError(f"{output_dir} already exists; choose another --output_dir or pass --overwrite.")

    def save(folder: str) -> None:
        splits.save_to_disk(folder)
        (Path(folder) / "stats.json").write_text(
            json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8"
        )

    save_dir_atomically(save, output_dir)
    return output_dir


def format_report(stats: dict) -> str:
    lines = [f"Prepared {stats['source']} (token lengths by {stats['tokenizer']})", ""]
    lines += ["| step | rows in | rows out |", "|---|---:|---:|"]
    lines += [f"| {s['step']} | {s['rows_in']:,} | {s['rows_out']:,} |" for s in stats["steps"]]
    lines += ["", "| tokens | p50 | p90 | p99 | max |", "|---|---:|---:|---:|---:|"]
    for name, pct in stats["lengths"].items():
        lines.append(f"| {name} | {pct['p50']} | {pct['p90']} | {pct['p99']} | {pct['max']} |")
    lines += ["", "splits: " + ", ".join(f"{k} {v:,}" for k, v in stats["splits"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from transformers import HfArgumentParser

    from core.cli import short_error

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = HfArgumentParser(PrepareArguments, allow_abbrev=False, prog="python -m trainer prepare")
    parser.error = lambda message: short_error(parser, message)
    parser.description = __doc__.split("\n\n")[0]
    try:
        args, unknown = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True)
        if unknown:  # argparse's own message and exit code 2, not a ValueError traceback
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        output_dir = Path(args.output_dir)
        if output_dir.exists() and any(output_dir.iterdir()) and not args.overwrite:
            raise PrepareError(
                f"{output_dir} already exists; choose another --output_dir or pass --overwrite."
            )
        splits, stats = prepare(args)
        save_prepared(splits, stats, output_dir, args.overwrite)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(stats))
    print(f"\nwrote {output_dir}")
    return 0
