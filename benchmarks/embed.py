"""A visitor's upload embedded: seconds and texts per second for N short texts (default 10,000 numbered
bundled headlines), through the app's own upload function with the app's threads and its default backend,
against the path before length-sorted batching (torch fp32, file order, batch 32), measured in one run.

``python -m benchmarks embed [--rows 10000] [--model SPEC] [--skip-baseline]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.speed import machine, save_results
from core.corpus import read_upload
from core.data import load_news


def short_texts_file(folder: Path, rows: int) -> Path:
    """A one-column JSONL file of ``rows`` distinct short texts: the bundled headlines, numbered."""
    import json

    news = load_news()
    path = folder / f"textos-cortos-{rows}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(
                json.dumps({"text": f"{news[i % len(news)]['title']} ({i})"}, ensure_ascii=False) + "\n"
            )
    return path


def baseline(handle, texts: list[str], chunk: int = 256, batch_size: int = 32) -> float:
    """Seconds for the path before this benchmark existed: torch fp32, file order, batch 32."""
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        handle.model.encode_document(
            texts[start : start + chunk], batch_size=batch_size, normalize_embeddings=True
        )
    return time.perf_counter() - started


def measure(rows: int, spec: str | None, skip_baseline: bool) -> dict:
    from core import service
    from core.cache import CACHE
    from core.handle import get_handle

    threads = service.serving_threads()
    handle = service.model_handle(spec)  # the app's default backend ("auto", measured once per CPU)
    with tempfile.TemporaryDirectory() as scratch:
        path = short_texts_file(Path(scratch), rows)
        texts = read_upload(str(path), path.name).passages()
        steps = []
        started = time.perf_counter()
        corpus = service.upload(str(path), path.name, spec, progress=lambda f, desc="": steps.append(f))
        upload_s = time.perf_counter() - started
        CACHE.clear(lambda key: key[0] in ("embeddings", "index"))
    result = {
        "rows": len(corpus),
        "mean_chars": sum(map(len, texts)) / len(texts),
        "threads": threads,
        "upload_threads": getattr(handle.bulk_model[0].model, "threads", threads),
        "backend": handle.backend,
        "upload_s": upload_s,
        "texts_per_s": len(corpus) / upload_s,
        "progress_steps": len(steps),
    }
    if not skip_baseline:
        torch_handle = get_handle(spec, backend="torch")
        torch_handle.model.encode_document(texts[:64])  # warm-up
        result["baseline_s"] = baseline(torch_handle, texts)
        result["speedup"] = result["baseline_s"] / upload_s
    return result


def markdown(results: dict) -> str:
    m, r = results["machine"], results["embed"]
    flags = " ".join(m["vector_flags"]) or "n/a"
    lines = [
        f"{results['date']} · {m['cpu']} · {m['cpus']} CPUs · flags: {flags}\n",
        "| path | texts | backend | threads | seconds | texts/s |",
        "|---|---:|---|---:|---:|---:|",
        f"| app upload (sorted by length, batch 64) | {r['rows']:,} | {r['backend']} | "
        f"{r['upload_threads']} | {r['upload_s']:.1f} | {r['texts_per_s']:.0f} |",
    ]
    if "baseline_s" in r:
        lines.append(
            f"| before (file order, batch 32) | {r['rows']:,} | torch | {r['threads']} | "
            f"{r['baseline_s']:.1f} | {r['rows'] / r['baseline_s']:.0f} |"
        )
        lines.append(f"\nSpeed-up: {r['speedup']:.2f}× (mean text {r['mean_chars']:.0f} characters)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, prog="python -m benchmarks embed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=10_000, help="texts in the upload (default 10000)")
    parser.add_argument(
        "--model", default=None, help="model spec (default: $MODEL_ID, else the built-in model)"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="time only the app's path")
    parser.add_argument("--output", type=Path, default=Path("results/embed.json"), help="JSON output")
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 20_000:
        parser.error("--rows must be between 1 and 20000 (an upload's limit)")
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d")}
    print(f"[embed] {args.rows} texts…", file=sys.stderr, flush=True)
    results["embed"] = measure(args.rows, args.model, args.skip_baseline)
    save_results(results, args.output, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
