"""``python -m evaluation compare``: is model B better than model A? The paired difference B − A on the
same pairs (STS: Spearman) or the same queries (retrieval: MRR@10), with a BCa bootstrap 95 % CI and a
two-sided p-value, said in plain words.

Examples::

    python -m evaluation compare --model builtin:multilingual-e5-small --model runs/demo/final \\
        --dataset bundled:test --output results/compare
    python -m evaluation compare --task retrieval --model A --model B --dataset noticias.jsonl \\
        --distractors bundled
    python -m evaluation compare --task retrieval --model builtin:multilingual-e5-small \\
        --model builtin:multilingual-e5-small --search dense --search hybrid --dataset bundled:keywords
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from core.cli import Parser
from core.corpora.search import MODES as SEARCH_MODES
from core.errors import WorkbenchError
from core.io import write_file_atomically
from core.models.backend_choice import require_named
from core.models.backends import FIGURE_BACKEND, FIGURE_BACKEND_HELP, FIGURE_BACKENDS
from core.models.handle import get_handle
from core.models.loader import model_path, resolve_spec
from evaluation.datasets import load_retrieval_dataset, load_sts_dataset, with_distractors
from evaluation.metrics import paired_mean_difference, paired_spearman_difference, reciprocal_ranks
from evaluation.runner import run_sts


def compare_sts(
    spec_a: str,
    spec_b: str,
    dataset_spec: str,
    n_resamples: int = 2000,
    seed: int = 0,
    backend: str = FIGURE_BACKEND,
) -> dict:
    """Spearman (cosine) of B minus that of A on the same STS pairs, both models on ``backend``."""
    dataset = load_sts_dataset(dataset_spec)
    a, b = (run_sts(spec, dataset, backend=backend) for spec in (spec_a, spec_b))
    result = paired_spearman_difference(a["predictions"], b["predictions"], dataset.scores, n_resamples, seed)
    record = comparison_record("spearman_cosine", "sts", spec_a, spec_b, dataset.name, result)
    return record | {"backend_a": a["backend"], "backend_b": b["backend"]}


def compare_retrieval(
    spec_a: str,
    spec_b: str,
    dataset_spec: str,
    distractors=None,
    n_resamples: int = 2000,
    seed: int = 0,
    backend: str = FIGURE_BACKEND,
    search: tuple[str, str] = ("dense", "dense"),
) -> dict:
    """MRR@10 of B minus that of A on the same queries (each query's reciprocal rank, paired), both
    models on ``backend``, each side ranking by its own ``search`` (the same model twice with two
    searches compares the searches)."""
    dataset = with_distractors(load_retrieval_dataset(dataset_spec), distractors)
    require_named(backend)
    handles = [get_handle(spec, backend=backend) for spec in (spec_a, spec_b)]
    a, b = (reciprocal_ranks(h.model, dataset, search=mode) for h, mode in zip(handles, search, strict=True))
    result = paired_mean_difference(a, b, n_resamples, seed)
    record = comparison_record("mrr@10", "retrieval", spec_a, spec_b, dataset.name, result)
    used = {"backend_a": handles[0].backend, "backend_b": handles[1].backend}
    modes = {"search_a": search[0], "search_b": search[1]}
    return record | {"corpus_size": len(dataset.corpus)} | used | modes


def comparison_record(metric: str, task: str, spec_a: str, spec_b: str, dataset: str, result: dict) -> dict:
    """One comparison as `compare.json` holds it (B − A, 95 % CI, p-value, n)."""
    low, high = result["ci"]
    return {
        "task": task,
        "metric": metric,
        "model_a": spec_a,
        "model_b": spec_b,
        "dataset": dataset,
        "a": result["first"],
        "b": result["second"],
        "delta": result["difference"],
        "ci95": [low, high],
        "p_value": result["p_value"],
        "n": result["n"],
        "n_resamples": result["n_resamples"],
        "significant": bool(low > 0 or high < 0),
    }


def verdict(record: dict) -> str:
    """The answer in one paragraph."""
    low, high = record["ci95"]
    searches = (
        f" (search: A {record['search_a']}, B {record['search_b']})"
        if record.get("search_a", "dense") != record.get("search_b", "dense")
        else f" (search: {record['search_a']})"
        if "search_a" in record
        else ""
    )
    numbers = (
        f"{record['metric']} on {record['dataset']}{searches}: A {record['a']:.4f}, B {record['b']:.4f}; "
        f"B − A = {record['delta']:+.4f} (95 % CI [{low:+.4f}, {high:+.4f}], p = {record['p_value']:.3g}, "
        f"n = {record['n']}, paired BCa bootstrap"
        + (
            f"; both on {record['backend_a']})."
            if record.get("backend_a") == record.get("backend_b")
            else ")."
        )
    )
    if low > 0:
        return f"{numbers}\nB is better than A."
    if high < 0:
        return f"{numbers}\nB is worse than A."
    return f"{numbers}\nNo significant difference: the interval includes 0."


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        allow_abbrev=False,
        prog="python -m evaluation compare",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    parser.add_argument("--model", action="append", required=True, help="model A, then model B (twice)")
    parser.add_argument("--task", choices=("sts", "retrieval"), default="sts", help="default sts")
    parser.add_argument(
        "--dataset",
        default=None,
        help="an STS spec or file (default bundled:test), or a retrieval spec or a local JSONL/CSV/TSV of "
        "(title, body) or (query, positive) (default bundled)",
    )
    parser.add_argument(
        "--distractors", default=None, help="retrieval only: bundled, or a JSONL/CSV/TSV file"
    )
    parser.add_argument(
        "--search",
        action="append",
        choices=SEARCH_MODES,
        default=None,
        help="retrieval only: dense (default), bm25 or hybrid; once for both sides, or twice (A, then B) "
        "like --model",
    )
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--backend", choices=FIGURE_BACKENDS, default=FIGURE_BACKEND, help=FIGURE_BACKEND_HELP
    )
    parser.add_argument("--output", type=Path, default=None, help="folder for compare.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.model) != 2:
        parser.error("give exactly two models: --model A --model B")
    if args.bootstrap < 100:
        parser.error("--bootstrap needs at least 100 resamples")
    if args.distractors and args.task != "retrieval":
        parser.error("--distractors is for --task retrieval")
    if args.search and args.task != "retrieval":
        parser.error("--search is for --task retrieval")
    if args.search and len(args.search) > 2:
        parser.error("give --search once (both sides) or twice (A, then B)")
    search = tuple(args.search * 2)[:2] if args.search else ("dense", "dense")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec_a, spec_b = (resolve_spec(spec) for spec in args.model)
    try:
        for spec in (spec_a, spec_b):
            model_path(spec)  # fail fast on a path that is not a model
        if args.task == "sts":
            record = compare_sts(
                spec_a, spec_b, args.dataset or "bundled:test", args.bootstrap, args.seed, args.backend
            )
        else:
            record = compare_retrieval(
                spec_a,
                spec_b,
                args.dataset or "bundled",
                args.distractors,
                args.bootstrap,
                args.seed,
                args.backend,
                search,
            )
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"A: {spec_a}\nB: {spec_b}\n{verdict(record)}")
    if args.output:
        text = json.dumps(record, indent=2, ensure_ascii=False)
        print(f"wrote {write_file_atomically(args.output / 'compare.json', lambda h: h.write(text))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
