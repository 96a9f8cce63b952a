"""The similarity tab's page: two sentences, one against a list, the matrix."""

from __future__ import annotations

import gradio as gr
import spaces

from core import messages
from space import similarity as similarity_tab
from space.pages.wiring import QUICK, QUICK_GPU_S, api_only, call


# Events: each one a thin call into the space package (their docstrings are the API's and the MCP tools')
@spaces.GPU(duration=QUICK_GPU_S)
def similarity(sentence_a: str, sentence_b: str):
    """How similar two Spanish sentences are, on the 0–5 STS scale calibrated per model.

    Args:
        sentence_a: The first sentence.
        sentence_b: The second sentence.

    Returns:
        The 0–5 score (0 different topics, 5 same meaning); the raw cosine; a table, one row per model (model, 0–5, cosine, reading); the reading in words.
    """  # noqa: E501 (an MCP client reads each docstring entry as one line)
    sts, cosine, rows = call(similarity_tab.compare, sentence_a, sentence_b, warn=gr.Warning)
    return sts, cosine, rows, rows[0][3]


def _show_numbers():
    """The numbers appear with the first result: before it, an empty ``gr.Number`` draws a "0"."""
    return gr.update(visible=True), gr.update(visible=True)


@api_only
@spaces.GPU(duration=QUICK_GPU_S)
def rank(sentence: str, candidates: str):
    """One sentence against a list of candidates (one per line), most similar first."""
    return call(similarity_tab.rank, sentence, candidates, warn=gr.Warning)


@api_only
@spaces.GPU(duration=QUICK_GPU_S)
def matrix(sentences: str):
    """Pairwise similarities of up to 20 sentences (one per line), as a heatmap."""
    return call(similarity_tab.matrix, sentences, warn=gr.Warning)


def build() -> None:
    with gr.Row():
        sentence_a = gr.Textbox(label="Frase A", lines=2, elem_id="sentence-a")
        sentence_b = gr.Textbox(label="Frase B", lines=2, elem_id="sentence-b")
    compare_button = gr.Button("Comparar", variant="primary", elem_id="compare")
    with gr.Row():
        # hidden, not "0", until a comparison: a number before anything is typed reads like a result
        sts = gr.Number(None, label="Similitud (0–5)", precision=1, visible=False, elem_id="sts")
        reading = gr.Textbox(label="Lectura", lines=2, interactive=False, elem_id="reading", scale=3)
        cosine = gr.Number(None, label="Coseno", precision=4, visible=False, elem_id="score")
    gr.Markdown(messages.SIMILARITY_EXPLAINED)
    per_model = gr.Dataframe(
        headers=["modelo", "0–5", "coseno", "lectura"], label="Por modelo", interactive=False, wrap=True,
        column_widths=["22%", "8%", "10%", "60%"],
    )  # fmt: skip
    gr.Examples(similarity_tab.PAIR_EXAMPLES, inputs=[sentence_a, sentence_b], label="Ejemplos")
    outputs = [sts, cosine, per_model, reading]
    compare = compare_button.click(
        similarity, [sentence_a, sentence_b], outputs, api_name="similarity", **QUICK
    )
    compare.success(_show_numbers, None, [sts, cosine], api_name=False, queue=False, show_progress="hidden")
    with gr.Accordion("Una frase contra una lista", open=False):
        anchor = gr.Textbox(label="Frase", value=similarity_tab.RANK_EXAMPLE[0])
        candidates = gr.Textbox(
            label="Candidatas (una por línea)", lines=5, value=similarity_tab.RANK_EXAMPLE[1]
        )
        rank_button = gr.Button("Ordenar")
        bars = gr.Plot(label="Ranking")
        ranked = gr.Dataframe(headers=["frase", "coseno"], label="Candidatas ordenadas", interactive=False)
        rank_button.click(rank, [anchor, candidates], [bars, ranked], api_name="rank", **QUICK)
    with gr.Accordion("Matriz de similitud (hasta 20 frases)", open=False):
        sentences = gr.Textbox(label="Frases (una por línea)", lines=6, value=similarity_tab.MATRIX_EXAMPLE)
        matrix_button = gr.Button("Dibujar matriz")
        matrix_plot = gr.Plot(label="Matriz")
        matrix_button.click(matrix, [sentences], [matrix_plot], api_name="matrix", **QUICK)
