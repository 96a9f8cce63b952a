"""``python -m evaluation {sts,retrieval} --model SPEC [--model SPEC ...] --dataset DATASET`` (and
``compare``, ``mteb``; speed lives in ``python -m benchmarks``).

Examples::

    python -m evaluation sts --model builtin:multilingual-e5-small --model runs/demo/final \\
        --dataset bundled:test --output results/
    python -m evaluation retrieval --model builtin:multilingual-e5-small --dataset bundled
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from core.models.backends import FIGURE_BACKEND, FIGURE_BACKEND_HELP, FIGURE_BACKENDS, BackendError
from core.models.builtin import BUILTIN_E5_SMALL
from core.models.loader import ModelLoadError, model_path, resolve_spec
from evaluation.datasets import (
    RETRIEVAL_SPECS,
    STS_SPECS,
    DatasetError,
    load_retrieval_dataset,
    load_sts_dataset,
)
from evaluation.report import markdown_table, write_outputs
from evaluation.runner import run_retrieval, run_sts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m evaluation",
        description="Evaluate sentence-embedding models on Spanish STS and news retrieval.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{sts,retrieval,compare,mteb}")
    sts = commands.add_parser(
        "sts", allow_abbrev=False, help="semantic textual similarity: Spearman/Pearson with a bootstrap CI"
    )
    retrieval = commands.add_parser(
        "retrieval", allow_abbrev=False, help="headline -> body retrieval: MRR@10, nDCG@10, recall"
    )
    # listed here for --help; main() hands them to their own parsers before this one runs
    for name, text in (
        ("compare", "is B better than A? the paired difference, its 95%% CI and p (own --help)"),
        ("mteb", "MTEB tasks (Spanish by default), results in mteb's format (own --help)"),
    ):
        commands.add_parser(name, help=text, add_help=False)
    for sub, specs in ((sts, STS_SPECS), (retrieval, RETRIEVAL_SPECS)):
        sub.add_argument(
            "--model",
            action="append",
            default=None,
            help=f"model spec, repeat to compare (default: $MODEL_ID, else {BUILTIN_E5_SMALL})",
        )
        sub.add_argument(
            "--dataset",
            action="append",
            default=None,
            help=f"repeatable; one of {', '.join(specs)}"
            + (" or a .tsv/.csv/.jsonl file" if sub is sts else ""),
        )
        sub.add_argument(
            "--output", type=Path, default=None, help="folder for results.json, results.csv, report.html"
        )
        sub.add_argument("--no-cache", action="store_true", help="recompute even when a cached result exists")
        sub.add_argument(
            "--backend",
            choices=FIGURE_BACKENDS,
            default=FIGURE_BACKEND,
            help=FIGURE_BACKEND_HELP,
        )
    sts.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for the CI (default 1000)"
    )
    sts.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    retrieval.add_argument("--limit", type=int, default=None, help="use only the first N query/body pairs")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # moved: evaluation/ measures quality, benchmarks/ speed
        print("The speed benchmark moved: python -m benchmarks speed [--quick]", file=sys.stderr)
        return 2
    if argv[:1] == ["mteb"]:  # its own parser: MTEB tasks, results in mteb's format
        from evaluation.mteb_run import main as mteb_main

        return mteb_main(argv[1:])
    if argv[:1] == ["compare"]:  # its own parser: is B better than A, pair by pair
        from evaluation.compare import main as compare_main

        return compare_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if args.command == "sts" and args.bootstrap < 100:
        parser.error("--bootstrap needs at least 100 resamples")
    if args.command == "retrieval" and args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    specs = [resolve_spec(spec) for spec in (args.model or [None])]
    dataset_specs = args.dataset or ["bundled:test" if args.command == "sts" else "bundled"]
    try:
        for spec in specs:
            model_path(spec)  # fail fast on a path that is not a model, before any work
        if args.command == "sts":
            datasets = [load_sts_dataset(name) for name in dataset_specs]
            records = [
                run_sts(s, d, args.bootstrap, args.seed, not args.no_cache, args.backend)
                for s in specs
                for d in datasets
            ]
        else:
            datasets = [load_retrieval_dataset(name, args.limit) for name in dataset_specs]
            records = [run_retrieval(s, d, not args.no_cache, args.backend) for s in specs for d in datasets]
    except (DatasetError, ModelLoadError, BackendError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(records))
    if args.output:
        for path in write_outputs(records, args.output):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
