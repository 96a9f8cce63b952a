"""The page's introduction and the about tab: the served models, the active corpus and how to call the
Space from code and from an MCP client."""

from __future__ import annotations

import json
import logging
import os

from core import messages
from core.corpora.corpus import Corpus
from core.corpora.text import counted, thousands
from space.runtime import active_corpus, app_models, model_handle

logger = logging.getLogger(__name__)


def model_card_url(spec: str) -> str | None:
    """Where a model's card can be read: its Hub page (the built-in model is multilingual-e5-small)."""
    from core.models.loader import hub_id

    return f"https://huggingface.co/{repo}" if (repo := hub_id(spec)) else None


def code_url() -> str | None:
    """The project's code: ``$WORKBENCH_CODE_URL``, else the Space's own files when run on a Space."""
    if url := os.environ.get("WORKBENCH_CODE_URL"):
        return url
    if space := os.environ.get("SPACE_ID"):
        return f"https://huggingface.co/spaces/{space}/tree/main"
    return None


def introduction() -> str:
    """What the page is, what each tab does, and where to read more (Markdown, under the title)."""
    specs = app_models()
    cards = [f"[`{s}`]({url})" if (url := model_card_url(s)) else f"`{s}`" for s in specs]
    code = f" · [código]({url})" if (url := code_url()) else ""
    return messages.INTRODUCTION.format(
        plural="s" if len(specs) > 1 else "", models=", ".join(cards), code=code
    )


def about(corpus: Corpus | None = None) -> str:
    """The served models (as a table, with their training summary), the active corpus, and how to call
    the Space from code and from an MCP client (Markdown)."""
    lines = [
        "## Modelos",
        "| modelo | dimensión | longitud máxima | prompts | inferencia | entrenamiento |",
        "|---|---:|---:|---|---|---|",
    ]
    for spec in app_models():
        handle = model_handle(spec)
        model = handle.model
        prompts = ", ".join(f"{name}: «{text}»" for name, text in (model.prompts or {}).items()) or "ninguno"
        url = model_card_url(spec)
        name = f"[`{spec}`]({url})" if url else f"`{spec}`"
        lines.append(
            f"| {name} | {model.get_embedding_dimension()} | {model.max_seq_length} tokens | {prompts} | "
            f"{handle.backend} | {_training_summary(spec)} |"
        )
    corpus = active_corpus(corpus)
    host = os.environ.get("SPACE_HOST", "<usuario>-<space>.hf.space")
    where = messages.YOUR_FILE if corpus.source == "upload" else messages.THE_SHARED_CORPUS
    sections = counted(len(corpus.sections), "sección", "secciones")
    lines += [
        "",
        messages.ABOUT_CALIBRATION,
        "## Corpus",
        messages.ABOUT_CORPUS.format(
            name=corpus.name, where=where, count=thousands(len(corpus)), sections=sections
        ),
        "## Desde código",
        "```python",
        "from gradio_client import Client",
        "",
        f'client = Client("{os.environ.get("SPACE_ID", "<usuario>/<space>")}")  # o la URL de este servidor',
        "puntuacion, coseno, por_modelo, lectura = client.predict(",
        '    "El Gobierno aprueba los presupuestos", "El Ejecutivo da luz verde a las cuentas",',
        '    api_name="/similarity",',
        ")",
        'tabla, csv = client.predict("sequía y embalses", 5, "todas", api_name="/search")',
        "```",
        "## Como servidor MCP",
        messages.ABOUT_MCP,
        "```json",
        json.dumps({"mcpServers": {"embeddings-es": {"url": f"https://{host}/gradio_api/mcp/"}}}),
        "```",
    ]
    return "\n".join(lines)


def _training_summary(spec: str) -> str:
    from pathlib import Path

    from core.models.loader import model_path
    from core.runs import model_records

    summary, _ = model_records(Path(model_path(spec)))
    test, base = summary.get("test") or {}, summary.get("baseline_test") or {}
    key = "sts-test_spearman_cosine"
    if key in test:
        before = f"{base[key]:.4f} → " if key in base else ""
        return messages.TRAINING_SUMMARY.format(
            before=before, after=f"{test[key]:.4f}", steps=summary.get("global_step")
        )
    return messages.NO_TRAINING_SUMMARY
