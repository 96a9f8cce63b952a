"""Dense, BM25 and hybrid search on the bundled query sets, each query's reciprocal rank paired.

The hybrid's constants (``core.corpora.search``: ``KEYWORD_WEIGHT``, ``FUSION_K``, the keyword-query
shape) were chosen on the even-numbered queries of the three sets; the odd-numbered ones are held out.
The table gives MRR@10 on both halves and, on the held-out half, hybrid minus the better of dense and
BM25 with its paired 95 % CI.

    python -m benchmarks fusion [--model SPEC] [--output results/]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.cli import Parser
from core.io import write_file_atomically
from core.models.cpu import cpu_info

SETS = ("bundled", "bundled:retold", "bundled:keywords")
MODES = ("dense", "bm25", "hybrid")


def measure(spec: str | None = None) -> dict:
    from core.models.handle import get_handle
    from evaluation.datasets import load_retrieval_dataset
    from evaluation.metrics import paired_mean_difference, reciprocal_ranks_by_search

    model = get_handle(spec, backend="torch").model
    rows = []
    for name in SETS:
        dataset = load_retrieval_dataset(name)
        ranks = reciprocal_ranks_by_search(model, dataset, MODES)
        row = {"dataset": name, "queries": len(dataset.queries), "corpus": len(dataset.corpus)}
        for half, start in (("tuned", 0), ("held_out", 1)):
            for mode in MODES:
                part = ranks[mode][start::2]
                row[f"{mode}_{half}"] = sum(part) / len(part)
        held = {mode: ranks[mode][1::2] for mode in MODES}
        best = max(("dense", "bm25"), key=lambda mode: sum(held[mode]))
        difference = paired_mean_difference(held[best], held["hybrid"], 2000, 0)
        row |= {"best_single": best, "hybrid_minus_best": difference["difference"], "ci95": difference["ci"]}
        rows.append(row)
    return {
        "model": spec or "default",
        "rows": rows,
        "machine": cpu_info(),
        "date": time.strftime("%Y-%m-%d"),
    }


def markdown(result: dict) -> str:
    lines = [
        f"Search on the bundled sets, {result['date']}, model {result['model']}, "
        f"CPU {result['machine']['cpu']} ({', '.join(result['machine']['vector_flags'])})",
        "",
        "| queries | n | corpus | dense | BM25 | hybrid | dense (held out) | BM25 (held out) "
        "| hybrid (held out) | hybrid − best single, held out [95 % CI] |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        low, high = row["ci95"]
        lines.append(
            f"| {row['dataset']} | {row['queries']} | {row['corpus']} | {row['dense_tuned']:.3f} | "
            f"{row['bm25_tuned']:.3f} | {row['hybrid_tuned']:.3f} | {row['dense_held_out']:.3f} | "
            f"{row['bm25_held_out']:.3f} | {row['hybrid_held_out']:.3f} | "
            f"{row['hybrid_minus_best']:+.3f} vs {row['best_single']} [{low:+.3f}, {high:+.3f}] |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks fusion", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model spec (default: $MODEL_ID, else the built-in)")
    parser.add_argument("--output", type=Path, default=None, help="folder for fusion.json")
    args = parser.parse_args(argv)
    result = measure(args.model)
    print(markdown(result))
    if args.output:
        text = json.dumps(result, indent=2, default=float)
        print(
            f"wrote {write_file_atomically(args.output / 'fusion.json', lambda handle: handle.write(text))}"
        )
    return 0
