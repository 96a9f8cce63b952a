"""A visitor's upload embedded, through the path visitors use: the running app (``python app.py``), the
file sent with ``gradio_client`` to ``/upload``, timed from the send to the answer. The texts are real,
short and of several lengths: the bundled STS sentences, headlines and the sentences of the bundled news
bodies (two joined where more texts are asked than there are sentences). The same texts are then encoded
in-process through ``space.search.upload`` on the backend the app served, in one run: the ratio is
what the app path adds.

``python -m benchmarks embed [--rows 10000] [--model SPEC] [--skip-baseline]``
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import _client, start_app, stop_app
from benchmarks.speed import machine, save_results
from core.cli import Parser
from core.corpora.data import load_news, load_sts

READY_LINE = re.compile(r"Prepared: |Warm-up failed")  # the warm-up's last line


def real_short_texts(rows: int) -> list[str]:
    """``rows`` distinct real Spanish texts of several lengths (sentences, headlines, joined pairs)."""
    sentences = [p[key] for split in ("dev", "test", "calibration") for p in load_sts(split)
                 for key in ("sentence1", "sentence2")]  # fmt: skip
    for item in load_news():
        sentences.append(item["title"])
        sentences += [part.strip() for part in re.split(r"(?<=[.!?])\s+", item["body"]) if len(part) > 20]
    distinct = list(dict.fromkeys(sentences))
    texts, i = list(distinct[:rows]), 0
    while len(texts) < rows:  # more than there are sentences: join two, a longer text
        texts.append(f"{distinct[i % len(distinct)]} {distinct[(i * 7 + 3) % len(distinct)]}")
        i += 1
    return texts


def _wait_for(log: Path, pattern: re.Pattern, timeout: float) -> bool:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if log.is_file() and pattern.search(log.read_text(encoding="utf-8", errors="replace")):
            return True
        time.sleep(1)
    return False


def in_process(texts: list[str], spec: str | None, backend: str) -> float:
    """Seconds for ``space.search.upload`` of the same texts in this process, on the backend the app
    served, with the app's threads: what the app path adds is the ratio to this."""
    import os

    from space import runtime
    from space import search as search_tab

    os.environ["WORKBENCH_BACKEND"] = backend if backend != "?" else "auto"
    runtime.serving_threads()
    runtime.model_handle(spec).model.encode_document(texts[:64])  # first calls allocate
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "textos.jsonl"
        path.write_text(
            "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts), encoding="utf-8"
        )
        started = time.perf_counter()
        search_tab.upload(str(path), path.name, spec)
        return time.perf_counter() - started


def measure(rows: int, spec: str | None, skip_baseline: bool) -> dict:
    from gradio_client import handle_file

    texts = real_short_texts(rows)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"textos-{rows}.jsonl"
        path.write_text(
            "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts), encoding="utf-8"
        )
        log = Path(scratch) / "app.log"
        process, url, _ = start_app({"MODEL_ID": spec} if spec else None, log=log)
        try:
            prepared = _wait_for(log, READY_LINE, 1200)  # visitors' normal case: the warm-up is over
            client = _client(url)
            started = time.perf_counter()
            status = client.predict(handle_file(str(path)), api_name="/upload")[0]
            upload_s = time.perf_counter() - started
            about = client.predict(api_name="/about")
        finally:
            stop_app(process)
    backend = re.search(r"\| (torch|torch-bf16|onnx-int8|openvino) \|", about)
    result = {
        "rows": rows,
        "mean_chars": sum(map(len, texts)) / len(texts),
        "backend": backend.group(1) if backend else "?",
        "warm_up_finished": prepared,
        "upload_s": upload_s,
        "texts_per_s": rows / upload_s,
        "status": status,
    }
    if not skip_baseline:  # the same file through the app's own upload function, in this process
        result["in_process_s"] = in_process(texts, spec, result["backend"])
        result["app_over_in_process"] = upload_s / result["in_process_s"]
    return result


def markdown(results: dict) -> str:
    m, r = results["machine"], results["embed"]
    flags = " ".join(m["vector_flags"]) or "n/a"
    lines = [
        f"{results['date']} · {m['cpu']} · {m['cpus']} CPUs · flags: {flags}\n",
        "| path | texts | backend | seconds | texts/s |",
        "|---|---:|---|---:|---:|",
        f"| upload through the running app (gradio_client) | {r['rows']:,} | {r['backend']} | "
        f"{r['upload_s']:.1f} | {r['texts_per_s']:.0f} |",
    ]
    if "in_process_s" in r:
        lines.append(
            f"| the same texts through `space.search.upload` in-process | {r['rows']:,} | {r['backend']} | "
            f"{r['in_process_s']:.1f} | {r['rows'] / r['in_process_s']:.0f} |"
        )
        lines.append(f"\nThe app path takes {r['app_over_in_process']:.2f}× the in-process time")
    lines.append(f"(mean text {r['mean_chars']:.0f} characters)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        allow_abbrev=False, prog="python -m benchmarks embed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=10_000, help="texts in the upload (default 10000)")
    parser.add_argument(
        "--model", default=None, help="model spec (default: $MODEL_ID, else the built-in model)"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="time only the app path, not in-process")
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
