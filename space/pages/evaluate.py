"""The evaluation tab's page: the bundled test set or the visitor's STS file, every model on torch fp32."""

from __future__ import annotations

import gradio as gr
import spaces

from core import messages
from core.corpora.data import STS_FILES
from space import runtime
from space.pages.wiring import EVALUATE_GPU_S, HEAVY, heavy_call


@spaces.GPU(duration=EVALUATE_GPU_S)
def evaluate(sts_file: str | None = None, include_hub: bool = False, progress=gr.Progress()):
    """Evaluate the served models on Spanish STS (Spearman correlation with human 0–5 scores).

    Args:
        sts_file: Your own STS file (CSV, TSV, JSONL or JSON; columns sentence1, sentence2, score on 0–5), as a URL; empty for the bundled test set.
        include_hub: Also evaluate on stsb_multi_mt es test (needs the Hugging Face Hub).

    Returns:
        The results table; two plots; a note on the data; "¿Mejoró el ajuste?" (second model against the first, paired bootstrap CI); the pairs that changed most; a CSV.
    """  # noqa: E501 (an MCP client reads each docstring entry as one line)
    from space.evaluate import evaluate_models  # scipy and the evaluation code: after the page is up

    return heavy_call(evaluate_models, runtime.app_models(), include_hub, sts_file, progress=progress)


def build() -> None:
    with gr.Row():
        sts_file = gr.File(
            label=messages.STS_FILE_LABEL, type="filepath", elem_id="sts-file",
        )  # fmt: skip
        include_hub = gr.Checkbox(label="Incluir stsb_multi_mt es test (necesita el Hub)", value=False)
    gr.Examples([[str(STS_FILES["dev"])]], inputs=[sts_file], label="Ejemplos (los 120 pares de desarrollo)")
    run = gr.Button("Evaluar", variant="primary", elem_id="evaluate")
    note = gr.Markdown(label="Datos", elem_id="evaluation-note")
    table = gr.Dataframe(
        headers=messages.TABLE_COLUMNS, label="Resultados", interactive=False, elem_id="evaluation-table"
    )
    with gr.Row():
        bars, scatter = gr.Plot(label="Spearman con IC"), gr.Plot(label="Predicción frente a referencia")
    verdict = gr.Markdown(label="¿Mejoró el ajuste?", elem_id="improvement")
    changed = gr.Dataframe(
        headers=messages.CHANGED_COLUMNS, label="Los pares que más cambiaron", interactive=False, wrap=True
    )
    download = gr.File(label="Resultados en CSV", elem_id="evaluation-file")
    outputs = [table, bars, scatter, note, verdict, changed, download]
    run.click(evaluate, [sts_file, include_hub], outputs, api_name="evaluate", **HEAVY)
