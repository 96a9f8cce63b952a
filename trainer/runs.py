"""``python -m trainer runs``: the runs of an experiment with their key metrics, best first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli import Parser
from core.runs import find_runs

SORT_KEYS = ("sts-test_spearman_cosine", "retrieval-test_cosine_mrr@10")


def sort_runs(runs: list[dict], key: str) -> list[dict]:
    """Best first by ``key`` in the final test metrics; runs without it (unfinished) last."""

    def value(run):
        metric = (run.get("metrics") or {}).get(key)
        return (metric is None, -(metric or 0.0))

    return sorted(runs, key=value)


def format_runs(runs: list[dict]) -> str:
    header = (
        "| run | experiment | status | model | loss | STS test ρ | MRR@10 before → after "
        "| vs base: paired Δ [95 % CI] | steps | minutes |"
    )
    lines = [header, "|---|---|---|---|---|---:|---:|---|---:|---:|"]
    for run in runs:
        metrics, baseline = run.get("metrics") or {}, run.get("baseline_metrics") or {}
        mrr_before = baseline.get("retrieval-test_cosine_mrr@10")
        mrr_after = metrics.get("retrieval-test_cosine_mrr@10")
        sts = metrics.get("sts-test_spearman_cosine")
        lines.append(
            f"| {run['path']} | {run.get('experiment', '')} | {run.get('status', '?')} | "
            f"{run.get('model', '')} | {run.get('loss', '')} | {_fmt(sts)} | "
            f"{_fmt(mrr_before)} → {_fmt(mrr_after)} | {paired_cell(run.get('paired'))} | "
            f"{run.get('global_step', '')} | "
            f"{_fmt(run.get('seconds', 0) / 60, 1) if run.get('seconds') else ''} |"
        )
    return "\n".join(lines)


def paired_cell(paired: dict | None) -> str:
    """``STS +0.0158 [-0.0047, +0.0436]; MRR +0.0175 [+0.0000, +0.0526]``, a star where significant."""
    parts = []
    for task, label in (("sts", "STS"), ("retrieval", "MRR")):
        if row := (paired or {}).get(task):
            low, high = row["ci95"]
            star = "*" if row.get("significant") else ""
            parts.append(f"{label} {row['delta']:+.4f}{star} [{low:+.4f}, {high:+.4f}]")
    return "; ".join(parts)


def _fmt(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = Parser(allow_abbrev=False, prog="python -m trainer runs", description=__doc__.split("\n")[0][2:])
    parser.add_argument(
        "--root", type=Path, default=Path("runs"), help="folder to search for runs (default: runs)"
    )
    parser.add_argument("--experiment", default=None, help="only runs of this experiment")
    parser.add_argument(
        "--sort_by", default=SORT_KEYS[0], choices=SORT_KEYS, help="test metric that orders the runs"
    )
    parser.add_argument("--json", action="store_true", help="print the run records as JSON")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(
            f"error: {args.root} does not exist; pass --root with the folder that holds your runs.",
            file=sys.stderr,
        )
        return 2
    runs = sort_runs(find_runs(args.root, args.experiment), args.sort_by)
    if not runs:
        which = f" of experiment {args.experiment!r}" if args.experiment else ""
        print(f"No runs{which} under {args.root}.")
        return 0
    print(json.dumps(runs, indent=2, ensure_ascii=False) if args.json else format_runs(runs))
    return 0
