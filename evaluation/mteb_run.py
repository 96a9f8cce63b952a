"""``python -m evaluation mteb``: run MTEB on a model and write results in mteb's own format.

By default it runs the Spanish benchmark ``MTEB(spa, v1)``, whose tasks download their data from the
Hugging Face Hub; ``--tasks`` picks tasks by name. ``--tasks bundled`` runs two small tasks built from the
data that ships with the workbench (Spanish STS test pairs, news headline -> body retrieval) through
mteb's own task classes, offline. Results land in ``OUTPUT/results/<org__name>/<revision>/<Task>.json``
with ``model_meta.json``: the layout of mteb's result cache, read by ``mteb`` and its leaderboard tools.

Examples::

    python -m evaluation mteb --model runs/demo/final --output results/mteb
    python -m evaluation mteb --model builtin:multilingual-e5-small --tasks bundled --output results/mteb
    python -m evaluation mteb --model my-org/model --tasks STSES SpanishNewsClassification
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from core.cli import Parser
from core.errors import WorkbenchError
from core.models.backend_choice import require_named
from core.models.backends import FIGURE_BACKEND, FIGURE_BACKEND_HELP, FIGURE_BACKENDS, backend_name
from core.models.builtin import BUILTIN_E5_SMALL
from core.models.loader import model_path, resolve_spec

SPANISH_BENCHMARK = "MTEB(spa, v1)"
BUNDLED = "bundled"
BUNDLED_REVISION = "bundled-1"


class MtebError(WorkbenchError, ValueError):
    """A request that cannot run; the message says what to do."""


def bundled_tasks() -> list:
    """Two MTEB tasks over the bundled data, built on mteb's own STS and retrieval task classes."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks import AbsTaskRetrieval, AbsTaskSTS
    from mteb.abstasks.task_metadata import TaskMetadata

    from core.corpora.data import load_news, load_sts

    common = {
        "eval_splits": ["test"],
        "eval_langs": ["spa-Latn"],
        "domains": ["News", "Written"],
        "license": "mit",
        "annotations_creators": "expert-annotated",
        "sample_creation": "created",
        "category": "t2t",
        "modalities": ["text"],
        "reference": "https://github.com/",
        "bibtex_citation": "",
        "dataset": {"path": "workbench/bundled", "revision": BUNDLED_REVISION},
    }

    class WorkbenchSTSes(AbsTaskSTS):
        metadata = TaskMetadata(
            name="WorkbenchSTSes",
            description="Spanish sentence pairs scored 0-5 (the workbench's bundled STS test).",
            type="STS",
            main_score="cosine_spearman",
            **common,
        )
        min_score, max_score = 0, 5

        def load_data(self, num_proc=None, **kwargs):
            pairs = load_sts("test")
            self.dataset = DatasetDict(
                test=Dataset.from_dict(
                    {
                        "sentence1": [p["sentence1"] for p in pairs],
                        "sentence2": [p["sentence2"] for p in pairs],
                        "score": [float(p["score"]) for p in pairs],
                    }
                )
            )
            self.data_loaded = True

    class WorkbenchNewsRetrievalES(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="WorkbenchNewsRetrievalES",
            description="Spanish news: find each headline's own article among all bundled bodies.",
            type="Retrieval",
            main_score="ndcg_at_10",
            **common,
        )

        def load_data(self, num_proc=None, **kwargs):
            news = load_news()
            corpus = Dataset.from_dict(
                {
                    "id": [f"d{i}" for i in range(len(news))],
                    "title": ["" for _ in news],
                    "text": [item["body"] for item in news],
                }
            )
            queries = Dataset.from_dict(
                {"id": [f"q{i}" for i in range(len(news))], "text": [item["title"] for item in news]}
            )
            relevant = {f"q{i}": {f"d{i}": 1} for i in range(len(news))}
            split = {"corpus": corpus, "queries": queries, "relevant_docs": relevant, "top_ranked": None}
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return [WorkbenchSTSes(), WorkbenchNewsRetrievalES()]


def select_tasks(names: list[str] | None) -> list:
    import mteb

    if names == [BUNDLED]:
        return bundled_tasks()
    try:
        if not names:
            return list(mteb.get_benchmark(SPANISH_BENCHMARK).tasks)
        return list(mteb.get_tasks(tasks=names))
    except (KeyError, ValueError) as err:
        raise MtebError(
            f"Unknown MTEB task ({err}); list Spanish ones with `mteb.get_tasks(languages=['spa'])`."
        ) from err


def wrap_model(spec: str, backend: str = "torch"):
    """Our loaded model as an mteb encoder: the model's own query/document prompts, and a name and
    revision that identify it in the results (its Hub id, else ``local/<folder>`` and its fingerprint)."""
    import mteb

    from core.models.fingerprint import model_fingerprint
    from core.models.handle import load_handle
    from core.models.loader import hub_id

    model = load_handle(spec, backend=require_named(backend)).model
    prompts = {}
    if "query" in model.prompts:
        prompts["query"] = model.prompts["query"]
    document = next((model.prompts[p] for p in ("document", "passage", "corpus") if p in model.prompts), None)
    if document is not None:
        prompts["document"] = document
    wrapper = mteb.models.SentenceTransformerEncoderWrapper(model, model_prompts=prompts or None)
    if spec == BUILTIN_E5_SMALL:
        name = "local/multilingual-e5-small-q4"  # rebuilt from 4-bit weights: not the Hub model's scores
    else:
        name = hub_id(spec) or f"local/{Path(model_path(spec)).name}"
    revision = model_fingerprint(spec)[:12]
    wrapper.workbench_backend = backend_name(model)
    wrapper.mteb_model_meta = wrapper.mteb_model_meta.model_copy(update={"name": name, "revision": revision})
    return wrapper


def run(spec: str, task_names: list[str] | None, output: Path, batch_size: int = 16,
        backend: str = "torch") -> list[dict]:  # fmt: skip
    """Evaluate; returns one row per task (name, main score, its value, the backend) and writes mteb's
    result files."""
    import mteb

    tasks = select_tasks(task_names)
    wrapper = wrap_model(spec, backend)
    cache = mteb.ResultCache(output)
    results = mteb.evaluate(
        wrapper, tasks, cache=cache, encode_kwargs={"batch_size": batch_size}, overwrite_strategy="always"
    )
    rows = []
    for task_result in results.task_results:
        scores = task_result.scores.get("test") or next(iter(task_result.scores.values()))
        main = task_result.get_score() if hasattr(task_result, "get_score") else scores[0]["main_score"]
        rows.append({"task": task_result.task_name, "main_score": float(main), "n_subsets": len(scores),
                     "backend": wrapper.workbench_backend})  # fmt: skip
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        allow_abbrev=False,
        prog="python -m evaluation mteb",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    parser.add_argument(
        "--model", default=None, help=f"model spec (default: $MODEL_ID, else {BUILTIN_E5_SMALL})"
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help=f"MTEB task names, or `{BUNDLED}` for the offline tasks from the bundled data "
        f"(default: the benchmark {SPANISH_BENCHMARK}, which needs the Hub)",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder of mteb's result files")
    parser.add_argument("--batch_size", type=int, default=16, help="encoding batch size (default 16)")
    parser.add_argument(
        "--backend", choices=FIGURE_BACKENDS, default=FIGURE_BACKEND, help=FIGURE_BACKEND_HELP
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MTEB_CACHE", str(args.output / ".mteb-cache"))
    spec = resolve_spec(args.model)
    try:
        model_path(spec)
        if args.tasks != [BUNDLED]:
            from core.hub import hub_unreachable

            if hub_unreachable():
                raise MtebError(
                    "The Hugging Face Hub cannot be reached (or HF_HUB_OFFLINE is set), and MTEB's tasks "
                    f"download their data from it. Check the network, or run the offline tasks with "
                    f"--tasks {BUNDLED}."
                )
        rows = run(spec, args.tasks, args.output, args.batch_size, args.backend)
    except WorkbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("| task | main score | backend |\n|---|---:|---|")
    for row in rows:
        print(f"| {row['task']} | {row['main_score']:.4f} | {row['backend']} |")
    print(f"mteb results: {args.output / 'results'}")
    (args.output / "summary.json").write_text(
        json.dumps({"model": spec, "backend": args.backend, "tasks": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
