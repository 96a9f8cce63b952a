"""The search tab's page: the query, the results and the full text, the visitor's upload, the
embeddings download."""

from __future__ import annotations

import gradio as gr
import spaces

from core import messages
from space import search as search_tab
from space.pages.wiring import (
    AS_SENT,
    EXPLORE,
    HEAVY,
    HEAVY_GPU_S,
    QUICK,
    QUICK_GPU_S,
    api_only,
    call,
    explore_call,
    heavy_call,
)


@spaces.GPU(duration=QUICK_GPU_S)
def search(
    query: str,
    k: float = 5,
    section: str = "todas",
    model_spec: str | None = None,
    mode: str = "ambos",
    corpus=None,
):
    """Search the Spanish news corpus by meaning, by the words typed, or both: the k best texts.

    Args:
        query: What to look for, in Spanish (a phrase, a question, or names and terms).
        k: How many results, 1 to 50.
        section: Only this section of the corpus (e.g. "economía"), or "todas".
        model_spec: Which served model to use; empty for the first.
        mode: "ambos" (default: words weigh when the query is typed as keywords), "significado" or
            "palabras".

    Returns:
        A table (cosine, section, title, snippet with the query's words in bold, id, how it was found:
        significado, palabras or ambos), best first, and a CSV file with the full texts.
    """
    return call(search_tab.search_corpus, corpus, query, k, section, model_spec, mode, warn=gr.Warning)


@api_only
def read_result(results, corpus, event: gr.SelectData):
    """The full text of the search result the visitor clicked."""
    row = event.index[0] if isinstance(event.index, list | tuple) else event.index
    try:
        item_id = results.iloc[row]["id"]
    except (AttributeError, IndexError, KeyError, TypeError):
        item_id = None
    return search_tab.read_item(corpus, item_id)


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def upload(file_path: str | None, model_spec: str | None = None, progress=gr.Progress()):
    """Make an uploaded CSV / TSV / JSONL / JSON / TXT file this session's corpus (for search, the map and
    duplicates); other visitors keep theirs."""
    corpus = heavy_call(search_tab.upload, file_path, model_spec=model_spec, progress=progress)
    return _corpus_outputs(corpus, search_tab.upload_summary(corpus))


@api_only
def reset_corpus():
    """Go back to the corpus served to everyone (the bundled news unless the Space sets another)."""
    return *_corpus_outputs(None, messages.SHARED_CORPUS), None  # and empty the file box


def _corpus_outputs(corpus, status: str):
    choices = gr.update(choices=search_tab.section_choices(corpus), value=search_tab.ALL_SECTIONS)
    return corpus, status, choices, search_tab.corpus_banner(corpus)


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def embeddings(model_spec: str | None = None, corpus=None, progress=gr.Progress()):
    """The active corpus' embeddings as a Parquet file (id, title, section, embedding)."""
    return explore_call(search_tab.export_embeddings, corpus, model_spec, progress=progress)


def build(corpus: gr.State, models: gr.Dropdown, banner: gr.Markdown, back: gr.Button) -> None:
    with gr.Row():
        query = gr.Textbox(label="Búsqueda", placeholder="p. ej. sequía y embalses", scale=4, elem_id="query")
        k = gr.Slider(1, search_tab.MAX_K, value=5, step=1, label="Resultados")
        section = gr.Dropdown(
            search_tab.section_choices(None),
            value=search_tab.ALL_SECTIONS,
            label="Sección",
            allow_custom_value=True,
        )
    with gr.Row():
        mode = gr.Radio(
            list(search_tab.SEARCH_MODES),
            value="ambos",
            label="Buscar por",
            info=messages.SEARCH_MODES_EXPLAINED,
            elem_id="search-mode",
            scale=3,
        )
        search_button = gr.Button("Buscar", variant="primary", elem_id="search", scale=1)
    gr.Examples(search_tab.SEARCH_EXAMPLES, inputs=[query], label="Ejemplos")
    results = gr.Dataframe(
        headers=search_tab.SEARCH_COLUMNS, label="Resultados", interactive=False, wrap=True,
        elem_id="results",
        datatype=["number", "str", "str", "markdown", "str", "str"],
        column_widths=["8%", "11%", "25%", "40%", "7%", "9%"],
    )  # fmt: skip
    full_text = gr.Markdown(messages.PICK_A_ROW, label="Texto completo", elem_id="full-text")
    results_file = gr.File(label="Resultados en CSV", elem_id="results-file", interactive=False)
    with gr.Accordion(messages.UPLOAD_TITLE, open=False):
        gr.Markdown(messages.UPLOAD_HELP)
        # no file_types: the browser would refuse other types in English; core checks them in Spanish
        upload_file = gr.File(label="Archivo", type="filepath", elem_id="upload")
        status = gr.Markdown(messages.SHARED_CORPUS, elem_id="upload-status", label="Estado")
    with gr.Accordion("Descargar los embeddings del corpus activo (Parquet)", open=False):
        export = gr.Button("Preparar el archivo", elem_id="export-embeddings")
        exported = gr.File(
            label="Embeddings (columnas id, title, section, embedding)", elem_id="embeddings-file"
        )
        export.click(embeddings, [models, corpus], [exported], api_name="embeddings", **EXPLORE)
    corpus_outputs = [corpus, status, section, banner]
    upload_file.upload(upload, [upload_file, models], corpus_outputs, api_name="upload", **HEAVY)
    back.click(reset_corpus, None, [*corpus_outputs, upload_file], api_name="reset_corpus", **QUICK)
    # removing the file goes back too, as a quick event: never queued behind someone's heavy work
    upload_file.clear(reset_corpus, None, [*corpus_outputs, upload_file], api_name=False, **QUICK)
    inputs = [query, k, section, models, mode, corpus]
    search_button.click(search, inputs, [results, results_file], api_name="search", **QUICK, **AS_SENT)
    query.submit(search, inputs, [results, results_file], api_name=False, **QUICK, **AS_SENT)
    results.select(read_result, [results, corpus], full_text, api_name=False, **QUICK)
