"""The map and duplicates tabs' pages."""

from __future__ import annotations

import gradio as gr
import spaces

from core import messages
from space import explore as explore_tab
from space.pages.wiring import AS_SENT, EXPLORE, HEAVY_GPU_S, api_only, explore_call


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def cluster_map(
    color_by: str = "sección",
    method: str = "kmeans",
    k: float = 10,
    dimensions: str = "2D",
    sentence: str = "",
    model_spec: str | None = None,
    corpus=None,
    progress=gr.Progress(),
):
    """UMAP map of the session's corpus, by section or cluster; a typed sentence is placed on it and its
    nearest texts are listed (title, section, cosine) and ringed."""
    return explore_call(
        explore_tab.cluster_map, corpus, color_by, method, k, dimensions, sentence, model_spec,
        warn=gr.Warning, progress=progress,
    )  # fmt: skip


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def duplicates(threshold: float = 3.5, model_spec: str | None = None, corpus=None, progress=gr.Progress()):
    """Pairs of near-duplicate texts in the session's corpus whose 0–5 reading reaches a threshold."""
    return explore_call(explore_tab.find_duplicates, corpus, threshold, model_spec, progress=progress)


def build_cluster_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    with gr.Row():
        color_by = gr.Radio(list(explore_tab.COLOR_CHOICES), value="sección", label="Color")
        method = gr.Radio(list(explore_tab.METHOD_CHOICES), value="kmeans", label="Agrupación")
        k = gr.Slider(2, 30, value=10, step=1, label="Grupos (KMeans)")
        dimensions = gr.Radio(list(explore_tab.DIMENSION_CHOICES), value="2D", label="Vista")
    sentence = gr.Textbox(
        label="Sitúa una frase en el mapa (opcional)",
        placeholder=messages.MAP_SENTENCE_EXAMPLE,
        value="",
        elem_id="map-sentence",
    )
    gr.Examples(explore_tab.MAP_EXAMPLES, inputs=[sentence], label="Ejemplos")
    draw = gr.Button("Dibujar mapa", variant="primary", elem_id="draw-map")
    plot = gr.Plot(label="Mapa UMAP", elem_id="cluster-plot")
    neighbours = gr.Dataframe(
        headers=["título", "sección", "coseno"], label="Lo más cercano a tu frase", interactive=False,
        wrap=True, elem_id="neighbours",
    )  # fmt: skip
    inputs = [color_by, method, k, dimensions, sentence, models, corpus]
    draw.click(cluster_map, inputs, [plot, neighbours], api_name="cluster_map", **EXPLORE, **AS_SENT)


def build_duplicates_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    threshold = gr.Slider(0.5, 5, value=3.5, step=0.1, label=messages.DUPLICATES_THRESHOLD)
    gr.Examples([[3.5], [4.0], [4.5]], inputs=[threshold], label="Ejemplos")
    find = gr.Button("Buscar duplicados", variant="primary", elem_id="find-duplicates")
    summary = gr.Markdown(elem_id="duplicates-summary", label="Resumen")
    table = gr.Dataframe(
        headers=explore_tab.DUPLICATE_COLUMNS, label="Pares", interactive=False, wrap=True,
        elem_id="duplicates",
        column_widths=["8%", "10%", "36%", "36%", "10%"],
    )  # fmt: skip
    download = gr.File(label="Pares en CSV (con los textos completos)", elem_id="duplicates-file")
    outputs = [table, summary, download]
    find.click(duplicates, [threshold, models, corpus], outputs, api_name="duplicates", **EXPLORE, **AS_SENT)
