"""The first minutes, as a user meets them: each figure timed through the command as typed or the running
app, process start included.

- ``predict``: a new model (the built-in one copied with one extra file: new weights' fingerprint, same
  architecture) scores two sentences with ``trainer predict`` (seconds, peak RSS); then ``--embed`` of N
  real texts with the default backend against ``--backend torch``, process start included, in one run.
- ``compare``: ``evaluation compare`` with the default options and with ``--backend torch``: the same
  delta, CI and p (figures never depend on the speed choice).
- ``start``: ``python -c "import gradio"``; the app on an empty cache (page, first similarity answer);
  then cached restarts (page, first answer).

``python -m benchmarks first [--only predict,compare,start] [--texts 2000] [--restarts 3]``
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import PROJECT_ROOT, first_request, start_app, stop_app
from benchmarks.speed import machine, save_results
from core.cli import Parser

PARTS = ("predict", "compare", "start")


def run(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command as a user types it; returns seconds, the child's peak RSS in MB and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:5])} failed ({done.returncode}): {done.stderr[-400:]}")
    # ru_maxrss of the children is the largest so far: a smaller later child reads as the earlier peak
    return seconds, (peak if peak > before else float("nan")) / 1024, done.stdout + done.stderr


def new_model(folder: Path) -> Path:
    """The built-in model under a new fingerprint (its architecture unchanged): as a fine-tuned model."""
    from core.models.loader import model_path

    target = Path(tempfile.mkdtemp(prefix="new-model-", dir=folder))
    target.rmdir()
    shutil.copytree(model_path("builtin:multilingual-e5-small"), target)
    (target / "NEW.txt").write_text(f"a new model, {time.time()}\n", encoding="utf-8")
    return target


def measure_predict(folder: Path, texts: int) -> dict:
    from benchmarks.embed import real_short_texts

    model = new_model(folder)
    python = [sys.executable, "-m", "trainer", "predict", "--model", str(model)]
    seconds, peak, out = run([*python, "Sube el paro", "Baja el desempleo"])
    result = {"two_sentences_s": seconds, "two_sentences_peak_mb": peak, "two_sentences_output": out.strip()}
    sentences = folder / "frases.txt"
    sentences.write_text("\n".join(real_short_texts(texts)), encoding="utf-8")
    embed = [*python, "--embed", str(sentences), "--output", str(folder / "out.npy")]
    result["embed_torch_s"] = run([*embed, "--backend", "torch"])[0]
    result["embed_default_s"], _, out = run(embed)
    result["embed_default_log"] = [line for line in out.splitlines() if "Backend" in line][:6]
    result["embed_speedup"] = result["embed_torch_s"] / result["embed_default_s"]
    result["texts"] = texts
    return result


def measure_compare(folder: Path) -> dict:
    model = new_model(folder)
    python = [sys.executable, "-m", "evaluation", "compare", "--model", "builtin:multilingual-e5-small",
              "--model", str(model), "--bootstrap", "1000"]  # fmt: skip
    records = {}
    for name, extra in (("default", []), ("torch", ["--backend", "torch"])):
        out = folder / f"compare-{name}"
        run([*python, *extra, "--output", str(out)])
        records[name] = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    keys = ("delta", "ci95", "p_value", "backend_a", "backend_b")
    return {name: {key: record.get(key) for key in keys} for name, record in records.items()} | {
        "identical": all(records["default"][k] == records["torch"][k] for k in keys)
    }


def measure_start(folder: Path, restarts: int) -> dict:
    import_s = min(run([sys.executable, "-c", "import gradio"])[0] for _ in range(3))
    cache = folder / "cache"
    env = {"WORKBENCH_CACHE": str(cache)}
    started = time.perf_counter()
    process, url, page = start_app(env, log=folder / "cold.log")
    try:
        first_request(url, "/similarity")
        cold = {"page_s": page, "first_similarity_s": time.perf_counter() - started}
        _wait_for_line(folder / "cold.log", "Prepared: ", 1800)  # the background work, before restarting
        cold["prepared_s"] = time.perf_counter() - started
        cold["log_prepared"] = re.findall(r"Prepared: .*", (folder / "cold.log").read_text())[:1]
    finally:
        stop_app(process)
    cached = []
    for _ in range(restarts):
        started = time.perf_counter()
        process, url, page = start_app(env)
        try:
            first_request(url, "/similarity")
            cached.append({"page_s": page, "first_similarity_s": time.perf_counter() - started})
        finally:
            stop_app(process)
    return {"import_gradio_s": import_s, "empty_cache": cold, "cached": cached}


def _wait_for_line(log: Path, text: str, timeout: float) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout and text not in log.read_text(errors="replace"):
        time.sleep(1)


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"{results['date']} · {m['cpu']} · {m['cpus']} CPUs · flags: {' '.join(m['vector_flags'])}\n"]
    if p := results.get("predict"):
        lines += [
            "| first steps | figure |",
            "|---|---|",
            f"| `trainer predict` of two sentences, new model | {p['two_sentences_s']:.1f} s, peak "
            f"{p['two_sentences_peak_mb']:,.0f} MB |",
            f"| `trainer predict --embed` {p['texts']:,} texts, `--backend torch` | "
            f"{p['embed_torch_s']:.1f} s |",
            f"| the same, default backend | {p['embed_default_s']:.1f} s ({p['embed_speedup']:.2f}×) |",
        ]
    if c := results.get("compare"):
        d = c["default"]
        lines.append(
            f"| `evaluation compare`, default and `--backend torch` | Δ {d['delta']:+.4f}, CI "
            f"[{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}], p {d['p_value']:.4f} on {d['backend_a']}/"
            f"{d['backend_b']}: {'identical' if c['identical'] else 'DIFFERENT'} |"
        )
    if s := results.get("start"):
        cold, cached = s["empty_cache"], s["cached"]
        pages = ", ".join(f"{r['page_s']:.1f}" for r in cached)
        answers = ", ".join(f"{r['first_similarity_s'] - r['page_s']:.1f}" for r in cached)
        lines += [
            f'| `python -c "import gradio"` | {s["import_gradio_s"]:.1f} s |',
            f"| empty cache: page / first similarity / background work done | {cold['page_s']:.1f} s / "
            f"{cold['first_similarity_s']:.1f} s / {cold['prepared_s']:.0f} s |",
            f"| cached restarts: page (s) | {pages} |",
            f"| cached restarts: first answer after the page (s) | {answers} |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        allow_abbrev=False, prog="python -m benchmarks first", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--texts", type=int, default=2000, help="texts for predict --embed (default 2000)")
    parser.add_argument("--restarts", type=int, default=3, help="cached restarts of the app (default 3)")
    parser.add_argument("--output", type=Path, default=Path("results/first.json"), help="JSON output")
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    if unknown := [part for part in parts if part not in PARTS]:
        parser.error(f"unknown part {unknown[0]!r}: use {', '.join(PARTS)}")
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for part in parts:
            print(f"[first] {part}…", file=sys.stderr, flush=True)
            if part == "predict":
                results[part] = measure_predict(folder, args.texts)
            elif part == "compare":
                results[part] = measure_compare(folder)
            else:
                results[part] = measure_start(folder, args.restarts)
    save_results(results, args.output, markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
