"""``python -m benchmarks {speed,first,embed,visitors,calibration} [options]``: the scripts that measure the
project and print figures (each writes JSON and a markdown table; each has its own ``--help``).

    speed        inference backends on this CPU, search, the map, the app's start-up and load
    first        the first minutes: predict on a new model, compare, the app's first and cached starts
    embed        a visitor's upload through the running app: seconds and texts per second
    visitors     many visitors at once on the running app: latency while another uploads, memory
    calibration  the error of the 0–5 similarity reading on held-out pairs
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "speed": "benchmarks.speed",
    "first": "benchmarks.first",
    "embed": "benchmarks.embed",
    "visitors": "benchmarks.visitors",
    "calibration": "benchmarks.calibration",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stdout if argv[:1] in ([], ["-h"], ["--help"]) else sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"Unknown benchmark {argv[0]!r}: use one of {', '.join(COMMANDS)}.", file=sys.stderr)
            return 2
        return 0
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
