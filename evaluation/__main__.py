"""``python -m evaluation {sts,retrieval} --model SPEC [--model SPEC ...] --dataset DATASET`` (and
``compare``, ``mteb``; speed lives in ``python -m benchmarks``).

Examples::

    python -m evaluation sts --model builtin:multilingual-e5-small --model runs/demo/final \\
        --dataset bundled:test --output results/
    python -m evaluation retrieval --model builtin:multilingual-e5-small --dataset bundled
    python -m evaluation retrieval --dataset bundled:keywords --dataset bundled:retold \\
        --search dense --search bm25 --search hybrid
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.cli import Parser, dispatch
from core.corpora.search import MODES as SEARCH_MODES
from core.models.backends import FIGURE_BACKEND, FIGURE_BACKEND_HELP, FIGURE_BACKENDS
from core.models.builtin import BUILTIN_E5_SMALL
from core.models.loader import model_path, resolve_spec
from evaluation.datasets import (
    RETRIEVAL_SPECS,
    STS_SPECS,
    load_retrieval_dataset,
    load_sts_dataset,
    with_distractors,
)
from evaluation.report import markdown_table, write_outputs
from evaluation.runner import run_retrieval, run_sts


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of ``sts`` or ``retrieval``."""
    specs = STS_SPECS if command == "sts" else RETRIEVAL_SPECS
    parser = Parser(
        allow_abbrev=False,
        prog=f"python -m evaluation {command}",
        description=COMMANDS[command][1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"model spec, repeat to compare (default: $MODEL_ID, else {BUILTIN_E5_SMALL})",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        help=f"repeatable; one of {', '.join(specs)}"
        + (" or a .tsv/.csv/.jsonl/.json file" if command == "sts" else ""),
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="folder for results.json, results.csv, report.html"
    )
    parser.add_argument("--no-cache", action="store_true", help="recompute even when a cached result exists")
    parser.add_argument(
        "--backend", choices=FIGURE_BACKENDS, default=FIGURE_BACKEND, help=FIGURE_BACKEND_HELP
    )
    if command == "sts":
        parser.add_argument(
            "--bootstrap", type=int, default=1000, help="bootstrap resamples for the CI (default 1000)"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    else:
        parser.add_argument("--limit", type=int, default=None, help="use only the first N query/body pairs")
        parser.add_argument(
            "--search",
            action="append",
            choices=SEARCH_MODES,
            default=None,
            help="repeatable: rank by meaning (dense, the default), by words (bm25) or both (hybrid, the "
            "Space's search)",
        )
        parser.add_argument(
            "--distractors",
            default=None,
            help="extra passages that answer no query: bundled (the bundled bodies) or a JSONL/CSV/TSV file",
        )
    return parser


def sts(argv: list[str]) -> int:
    """``python -m evaluation sts``."""
    return _measure("sts", argv)


def retrieval(argv: list[str]) -> int:
    """``python -m evaluation retrieval``."""
    return _measure("retrieval", argv)


def _measure(command: str, argv: list[str]) -> int:
    parser = build_parser(command)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if command == "sts" and args.bootstrap < 100:
        parser.error("--bootstrap needs at least 100 resamples")
    if command == "retrieval" and args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    specs = [resolve_spec(spec) for spec in (args.model or [None])]
    dataset_specs = args.dataset or ["bundled:test" if command == "sts" else "bundled"]
    for spec in specs:
        model_path(spec)  # fail fast on a path that is not a model, before any work
    if command == "sts":
        datasets = [load_sts_dataset(name) for name in dataset_specs]
        records = [
            run_sts(s, d, args.bootstrap, args.seed, not args.no_cache, args.backend)
            for s in specs
            for d in datasets
        ]
    else:
        datasets = [
            with_distractors(load_retrieval_dataset(name, args.limit), args.distractors)
            for name in dataset_specs
        ]
        records = [
            run_retrieval(s, d, not args.no_cache, args.backend, mode)
            for s in specs
            for d in datasets
            for mode in args.search or ["dense"]
        ]
    print(markdown_table(records))
    if args.output:
        for path in write_outputs(records, args.output):
            print(f"wrote {path}")
    return 0


COMMANDS = {
    "sts": ("evaluation.__main__:sts", "semantic textual similarity: Spearman/Pearson with a bootstrap CI"),
    "retrieval": ("evaluation.__main__:retrieval", "headline -> body retrieval: MRR@10, nDCG@10, recall"),
    "compare": ("evaluation.compare", "is B better than A? the paired difference, its 95% CI and p"),
    "mteb": ("evaluation.mteb_run", "MTEB tasks (Spanish by default), results in mteb's format"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # moved: evaluation/ measures quality, benchmarks/ speed
        print("The speed benchmark moved: python -m benchmarks speed [--quick]", file=sys.stderr)
        return 2
    return dispatch("python -m evaluation", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
