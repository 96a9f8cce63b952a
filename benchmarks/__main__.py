"""``python -m benchmarks COMMAND [options]``: the scripts that measure the project and print figures (each
writes JSON and a markdown table; each has its own ``--help``)."""

from __future__ import annotations

import sys

from core.cli import dispatch

COMMANDS = {
    "speed": (
        "benchmarks.speed",
        "inference backends on this CPU, search, the map, the app's start-up and load",
    ),
    "first": (
        "benchmarks.first",
        "the first minutes: predict on a new model, compare, first and cached starts",
    ),
    "embed": ("benchmarks.embed", "a visitor's upload through the running app: seconds and texts per second"),
    "visitors": ("benchmarks.visitors", "many visitors at once on the running app: latency, memory"),
    "keywords": (
        "benchmarks.keywords",
        "rebuild the bundled keyword-query set",
    ),
    "fusion": (
        "benchmarks.fusion",
        "dense, BM25 and hybrid search on the bundled query sets",
    ),
    "served": ("benchmarks.served", "large embedded corpora served by the app: RSS, /search p50/p95, recall"),
    "abuse": (
        "benchmarks.abuse",
        "oversized bodies, a flooding client, unknown endpoints: memory, 503s, log",
    ),
    "calibration": ("benchmarks.calibration", "the error of the 0–5 similarity reading on held-out pairs"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m benchmarks", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
