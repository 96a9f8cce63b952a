"""Use a trained model: cosine similarity of sentence pairs, or embeddings of sentences.

Examples::

    python -m trainer predict --model builtin:multilingual-e5-small "frase uno" "frase dos"
    python -m trainer predict --model runs/demo/final --file pairs.tsv --output scores.tsv
    python -m trainer predict --model runs/demo/final --embed sentences.txt --output emb.npy
    python -m trainer predict --embed noticias.jsonl --output corpus.parquet   # then CORPUS=corpus.parquet
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from pathlib import Path

from core.cli import Parser
from core.errors import InputError, WorkbenchError
from core.io import write_file_atomically
from core.models.backends import BACKENDS
from core.models.builtin import BUILTIN_E5_SMALL
from core.models.handle import load_handle
from core.models.similarity import score_pairs
from core.tables import TableError, read_table

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        allow_abbrev=False,
        prog="python -m trainer predict",
        description="Score the cosine similarity of sentence pairs, or embed sentences, with a model.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    parser.add_argument(
        "sentences", nargs="*", help="exactly two sentences to compare (or use --file / --embed)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"model spec: a folder, a model.tar.gz, a Hub id or {BUILTIN_E5_SMALL} "
        "(default: $MODEL_ID, else the built-in model)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--file",
        type=Path,
        help="a file of sentence pairs: two sentences per line separated by a tab, or a CSV / TSV / JSONL "
        "table with columns sentence1 and sentence2",
    )
    source.add_argument(
        "--embed",
        type=Path,
        help="sentences to embed: a .txt file (one per line) into a .npy file, or, with --output X.parquet, "
        "a corpus (.txt, .csv, .tsv, .jsonl, .json or a Hub dataset id) into Parquet shards the app serves",
    )
    parser.add_argument(
        "--output", type=Path, help="where to write (scores: stdout if omitted; --embed: FILE.npy)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="inference backend (default: $WORKBENCH_BACKEND, else auto: the best variant already built "
        "and checked on this CPU, else torch fp32; a variant is built only for a job large enough to "
        "repay it)",
    )
    parser.add_argument(
        "--prompt_name",
        default=None,
        help="prompt to apply, e.g. query or document (default: the model's own default)",
    )
    parser.add_argument("--batch_size", type=int, default=32, help="sentences per batch")
    parser.add_argument(
        "--shard_rows",
        type=int,
        default=10_000,
        help="--embed into .parquet: texts per shard (each shard is kept when the job is interrupted)",
    )
    return parser


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Read sentence pairs: a CSV / TSV / JSONL / JSON table with columns ``sentence1`` and ``sentence2``
    (the one reader, ``core.tables``; an STS file works as it is), or header-less lines of two sentences
    separated by a tab. Blank lines are skipped."""
    header = _read_text(path).split("\n", 1)[0].lower()
    if path.suffix.lower() in (".csv", ".json", ".jsonl") or (
        "sentence1" in header and "sentence2" in header
    ):
        return _table_pairs(path)
    pairs = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(field.strip() for field in fields):
            raise InputError(
                f"{path}:{number}: expected two sentences separated by one tab, got {line[:60]!r}"
            )
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise InputError(f"{path} has no sentence pairs: write one pair per line, tab-separated.")
    return pairs


def _table_pairs(path: Path) -> list[tuple[str, str]]:
    try:
        table = read_table(path)
    except TableError as err:
        raise InputError(f"{path} cannot be read as a table: {err}") from None
    columns = {name.strip().lower(): name for name in table.columns}
    if "sentence1" not in columns or "sentence2" not in columns:
        raise InputError(f"{path} needs columns sentence1 and sentence2; it has: {', '.join(table.columns)}.")
    pairs = []
    for row, line in zip(table.rows, table.lines, strict=True):
        a, b = (str(row.get(columns[c]) or "").strip() for c in ("sentence1", "sentence2"))
        if not a or not b:
            raise InputError(f"{path}:{line}: both sentence1 and sentence2 must be non-empty.")
        pairs.append((a, b))
    return pairs


def read_sentences(path: Path) -> list[str]:
    """Read one sentence per line; blank lines are skipped."""
    sentences = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if not sentences:
        raise InputError(f"{path} has no sentences: write one sentence per line.")
    return sentences


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in (
        "core.models.backend_choice",
        "core.models.backends",
    ):  # a variant's build says what it does, per step
        logging.getLogger(name).setLevel(logging.INFO)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise here
    if args.batch_size < 1:
        parser.error("--batch_size must be at least 1")
    if not (args.file or args.embed) and len(args.sentences) != 2:
        parser.error("give exactly two sentences, or --file PAIRS.tsv, or --embed SENTENCES.txt")
    if (args.file or args.embed) and args.sentences:
        parser.error("give sentences on the command line or a file, not both")
    try:
        return _run(args)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.embed and args.output and args.output.suffix == ".parquet":
        return embed_corpus(args)
    if args.embed:
        sentences = read_sentences(args.embed)
        output = args.output or args.embed.with_suffix(".npy")
        if output.suffix != ".npy":
            raise InputError(
                f"--output {output} must end in .npy (an array) or .parquet (an embedded corpus)"
            )
        model = load_handle(args.model, backend=args.backend, texts=len(sentences)).model
        embeddings = model.encode(
            sentences,
            prompt_name=args.prompt_name,
            batch_size=args.batch_size,
            show_progress_bar=len(sentences) > 256,
        )
        write_file_atomically(output, lambda handle: _save_npy(handle, embeddings), binary=True)
        print(f"wrote {embeddings.shape[0]} embeddings of dimension {embeddings.shape[1]} to {output}")
        return 0
    pairs = read_pairs(args.file) if args.file else [tuple(args.sentences)]
    model = load_handle(args.model, backend=args.backend, texts=2 * len(pairs)).model
    scores = score_pairs(model, pairs, args.prompt_name, args.batch_size)
    if not args.file:
        print(f"{scores[0]:.4f}")
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["sentence1", "sentence2", "cosine"])
    writer.writerows((a, b, f"{s:.4f}") for (a, b), s in zip(pairs, scores, strict=True))
    if args.output:
        write_file_atomically(args.output, lambda handle: handle.write(buffer.getvalue()))
        print(f"wrote {len(pairs)} scores to {args.output}")
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


def embed_corpus(args: argparse.Namespace) -> int:
    """``--embed FILE --output corpus.parquet``: a corpus (a .txt/.csv/.tsv/.jsonl/.json file or a Hub
    dataset id) embedded into Parquet shards the app serves as they are (``CORPUS=corpus.parquet``);
    resumable: run it again after an interruption."""
    from tqdm.auto import tqdm

    from core.corpora.corpus import Corpus, load_corpus, parse_corpus_file
    from core.corpora.embeddings import write_embedded

    if args.prompt_name:
        raise InputError(
            "an embedded corpus uses the model's document prompt, as the app does: drop --prompt_name"
        )
    source = args.embed
    if args.shard_rows < 1:
        raise InputError("--shard_rows must be at least 1")
    if not source.exists() and source.suffix.lower() in (".txt", ".csv", ".tsv", ".jsonl", ".json"):
        raise InputError(f"{source} does not exist.")
    if source.exists():
        items, notes = parse_corpus_file(source, source.name, max_rows=None)
        corpus = Corpus.from_items(items, source.name, "env", notes)
    else:
        corpus = load_corpus(str(source))  # a Hub dataset id
    handle = load_handle(args.model, backend=args.backend, texts=len(corpus))
    print(f"embedding {len(corpus)} texts of {corpus.name} with {handle.spec} into {args.output}", flush=True)
    with tqdm(total=len(corpus), unit="texts", disable=None, mininterval=1.0) as bar:
        done = write_embedded(corpus, handle, args.output, args.shard_rows, args.batch_size, bar.update)
    print(
        f"wrote {done['written']} of {done['shards']} shards ({done['kept']} kept from before): "
        f"{done['rows']} texts to {args.output}; serve it with CORPUS={args.output}"
    )
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark is not text (core.tables)
    except FileNotFoundError as err:
        raise InputError(f"{path} does not exist.") from err
    except IsADirectoryError as err:
        raise InputError(f"{path} is a folder; give a text file.") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text; save it as UTF-8.") from err


def _save_npy(handle, embeddings) -> None:
    import numpy as np

    np.save(handle, embeddings)


if __name__ == "__main__":
    sys.exit(main())
