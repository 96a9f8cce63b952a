"""The Gradio Space: Spanish sentence similarity, semantic search, cluster map, duplicates, evaluation.

``python app.py`` runs it locally and on a Hugging Face Space. Models come from ``$MODEL_ID`` (one) or
``$MODELS`` (a comma list of up to 3), else the built-in offline model; the corpus served to everyone
from ``$CORPUS`` (a Hub dataset id or a local file), else the bundled news. A visitor's upload becomes
their session's corpus, used by every tab.

This file builds the page and wires events to the plain functions of ``core.service`` and
``evaluation.live``; their ``WorkbenchError`` becomes a ``gr.Error`` the visitor reads (one log line,
no traceback).
"""

from __future__ import annotations

import logging
import os

import gradio as gr
import spaces

from core import messages, service
from core.data import STS_FILES
from core.errors import ModelLoadError, WorkbenchError
from core.logs import quiet_logs

logger = logging.getLogger(__name__)

# How the app is launched, here and in the tests: uploads up to 10 MB; also an MCP server; tables in the
# page's own font, not monospace; the footer without "Runs" (Gradio's run history link is not translated).
LAUNCH = {
    "max_file_size": "10mb",
    "mcp_server": True,
    "css": ".gradio-container table, .gradio-container table *, .gradio-container .body-cell, "
    ".gradio-container .body-cell * { font-family: var(--font) !important; }",
    "footer_links": ["api", "gradio", "settings"],
}
SESSION_TTL_S = 3600  # an idle visitor's corpus is dropped after this (README, "Many visitors at once")
# Two vCPUs: quick requests (similarity, search) run two at a time; heavy ones (upload, map, duplicates,
# evaluation) one at a time in their own group, so they never take the quick requests' places.
QUICK = {"concurrency_id": "quick", "concurrency_limit": 2}
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}
# ZeroGPU: the longest each kind of event may hold a GPU (seconds; a shorter duration queues sooner). Every
# decorated event runs the model; the decorator is a no-op off ZeroGPU (README, "Deploy the Space").
QUICK_GPU_S, HEAVY_GPU_S, EVALUATE_GPU_S = 15, 120, 300


def _call(function, *args, **kwargs):
    """``function(...)``, its ``WorkbenchError`` turned into a message for the visitor. Raised outside the
    handler, so the error keeps no frame of the failed work alive (a rejected upload's bytes)."""
    message = None
    try:
        with service.job():  # counted: a long job uses every core only while nothing else runs
            return function(*args, **kwargs)
    except ModelLoadError as err:  # the Space's configuration, not the visitor: the details go to the log
        logger.error("%s: a model could not be loaded: %s", function.__name__, err)
        message = messages.MODEL_UNAVAILABLE.format(spec=", ".join(service.app_models()))
    except WorkbenchError as err:
        message = str(err)
    logger.info("%s refused: %s", function.__name__, message)
    raise gr.Error(message, print_exception=False)


def _as_sent(component):
    """Let the component's value reach the function as sent: ``core.service`` checks it and answers in
    Spanish, where Gradio's own check is English, or a stack trace for text in a slider. (An instance
    attribute, not a subclass: Gradio writes a ``.pyi`` beside any module that subclasses a component;
    for components whose choices an event updates, ``allow_custom_value`` does the same.)"""
    component.preprocess = lambda payload: payload
    return component


def api_only(function):
    """Keep an event in the API but out of the MCP server's tools: Gradio 6.31 lists as tools the events
    whose function has no ``_mcp_type`` or ``"tool"``. The tools are similarity, search and evaluate;
    the rest need the page (an upload, a session's corpus) or only make sense beside it."""
    function._mcp_type = "api-only"
    return function


# Events: each one a thin call into core.service (their docstrings are the API's and the MCP tools')
@spaces.GPU(duration=QUICK_GPU_S)
def similarity(sentence_a: str, sentence_b: str):
    """How similar two Spanish sentences are, on the 0–5 STS scale calibrated per model.

    Args:
        sentence_a: The first sentence.
        sentence_b: The second sentence.

    Returns:
        The 0–5 score (0 different topics, 5 same meaning); the raw cosine; a table, one row per model (model, 0–5, cosine, reading); the reading in words.
    """  # noqa: E501 (an MCP client reads each docstring entry as one line)
    sts, cosine, rows = _call(service.compare, sentence_a, sentence_b, warn=gr.Warning)
    return sts, cosine, rows, rows[0][3]


@api_only
@spaces.GPU(duration=QUICK_GPU_S)
def rank(sentence: str, candidates: str):
    """One sentence against a list of candidates (one per line), most similar first."""
    return _call(service.rank, sentence, candidates, warn=gr.Warning)


@api_only
@spaces.GPU(duration=QUICK_GPU_S)
def matrix(sentences: str):
    """Pairwise similarities of up to 20 sentences (one per line), as a heatmap."""
    return _call(service.matrix, sentences, warn=gr.Warning)


@spaces.GPU(duration=QUICK_GPU_S)
def search(query: str, k: float = 5, section: str = "todas", model_spec: str | None = None, corpus=None):
    """Search the Spanish news corpus by meaning: the k texts closest to a query.

    Args:
        query: What to look for, in Spanish (a phrase or a question).
        k: How many results, 1 to 50.
        section: Only this section of the corpus (e.g. "economía"), or "todas".
        model_spec: Which served model to use; empty for the first.

    Returns:
        A table (cosine, section, title, snippet, id), best first, and a CSV file with the full texts.
    """
    return _call(service.search_corpus, corpus, query, k, section, model_spec, warn=gr.Warning)


@api_only
def read_result(results, corpus, event: gr.SelectData):
    """The full text of the search result the visitor clicked."""
    row = event.index[0] if isinstance(event.index, list | tuple) else event.index
    try:
        item_id = results.iloc[row]["id"]
    except (AttributeError, IndexError, KeyError, TypeError):
        item_id = None
    return service.read_item(corpus, item_id)


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def upload(file_path: str | None, model_spec: str | None = None, progress=gr.Progress()):
    """Make an uploaded CSV / TSV / JSONL / JSON / TXT file this session's corpus (for search, the map and
    duplicates); other visitors keep theirs."""
    corpus = _call(service.upload, file_path, model_spec=model_spec, progress=progress)
    return _corpus_outputs(corpus, service.upload_summary(corpus))


@api_only
def reset_corpus():
    """Go back to the corpus served to everyone (the bundled news unless the Space sets another)."""
    return *_corpus_outputs(None, "Usando el corpus de todos."), None  # and empty the file box


def _corpus_outputs(corpus, status: str):
    choices = gr.update(choices=service.section_choices(corpus), value=service.ALL_SECTIONS)
    return corpus, status, choices, service.corpus_banner(corpus)


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def embeddings(model_spec: str | None = None, corpus=None, progress=gr.Progress()):
    """The active corpus' embeddings as a Parquet file (id, title, section, embedding)."""
    return _call(service.export_embeddings, corpus, model_spec, progress=progress)


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
    return _call(
        service.cluster_map, corpus, color_by, method, k, dimensions, sentence, model_spec,
        warn=gr.Warning, progress=progress,
    )  # fmt: skip


@api_only
@spaces.GPU(duration=HEAVY_GPU_S)
def duplicates(threshold: float = 3.5, model_spec: str | None = None, corpus=None, progress=gr.Progress()):
    """Pairs of near-duplicate texts in the session's corpus whose 0–5 reading reaches a threshold."""
    return _call(service.find_duplicates, corpus, threshold, model_spec, progress=progress)


@spaces.GPU(duration=EVALUATE_GPU_S)
def evaluate(sts_file: str | None = None, include_hub: bool = False, progress=gr.Progress()):
    """Evaluate the served models on Spanish STS (Spearman correlation with human 0–5 scores).

    Args:
        sts_file: Your own STS file (CSV, TSV, JSONL or JSON; columns sentence1, sentence2, score on 0–5), as a URL; empty for the bundled test set.
        include_hub: Also evaluate on stsb_multi_mt es test (needs the Hugging Face Hub).

    Returns:
        The results table; two plots; a note on the data; "¿Mejoró el ajuste?" (second model against the first, paired bootstrap CI); the pairs that changed most; a CSV.
    """  # noqa: E501 (an MCP client reads each docstring entry as one line)
    from evaluation.live import evaluate_models  # scipy and the evaluation code: after the page is up

    return _call(evaluate_models, service.app_models(), include_hub, sts_file, progress=progress)


@api_only
def about(corpus=None) -> str:
    """The served models (dimension, max length, prompts, backend, training) and the active corpus."""
    return _call(service.about, corpus)


@api_only
def loading_state():
    """Hide the "loading" line once the warm-up is over, and stop asking."""
    message = service.loading_message()
    return gr.update(value=message or "", visible=bool(message)), gr.Timer(active=bool(message))


# Layout: one small builder per tab ----------------------------------------------------------------------
def build_similarity_tab() -> None:
    with gr.Row():
        sentence_a = gr.Textbox(label="Frase A", lines=2, elem_id="sentence-a")
        sentence_b = gr.Textbox(label="Frase B", lines=2, elem_id="sentence-b")
    compare_button = gr.Button("Comparar", variant="primary", elem_id="compare")
    with gr.Row():
        sts = gr.Number(None, label="Similitud (0–5)", precision=1, elem_id="sts")
        reading = gr.Textbox(label="Lectura", interactive=False, elem_id="reading", scale=3)
        cosine = gr.Number(None, label="Coseno", precision=4, elem_id="score")
    gr.Markdown(
        "La lectura de 0 (temas distintos) a 5 (mismo significado) está calibrada con pares puntuados por "
        "personas. El coseno es la medida en bruto del modelo: en e5 casi todo queda entre 0,7 y 1, porque "
        "sus vectores apuntan todos en direcciones parecidas; por eso no se lee como un porcentaje."
    )
    per_model = gr.Dataframe(
        headers=["modelo", "0–5", "coseno", "lectura"], label="Por modelo", interactive=False, wrap=True,
        column_widths=["22%", "8%", "10%", "60%"],
    )  # fmt: skip
    gr.Examples(service.PAIR_EXAMPLES, inputs=[sentence_a, sentence_b], label="Ejemplos")
    outputs = [sts, cosine, per_model, reading]
    compare_button.click(similarity, [sentence_a, sentence_b], outputs, api_name="similarity", **QUICK)
    with gr.Accordion("Una frase contra una lista", open=False):
        anchor = gr.Textbox(label="Frase", value=service.RANK_EXAMPLE[0])
        candidates = gr.Textbox(label="Candidatas (una por línea)", lines=5, value=service.RANK_EXAMPLE[1])
        rank_button = gr.Button("Ordenar")
        bars = gr.Plot(label="Ranking")
        ranked = gr.Dataframe(headers=["frase", "coseno"], label="Candidatas ordenadas", interactive=False)
        rank_button.click(rank, [anchor, candidates], [bars, ranked], api_name="rank", **QUICK)
    with gr.Accordion("Matriz de similitud (hasta 20 frases)", open=False):
        sentences = gr.Textbox(label="Frases (una por línea)", lines=6, value=service.MATRIX_EXAMPLE)
        matrix_button = gr.Button("Dibujar matriz")
        matrix_plot = gr.Plot(label="Matriz")
        matrix_button.click(matrix, [sentences], [matrix_plot], api_name="matrix", **QUICK)


def build_search_tab(corpus: gr.State, models: gr.Dropdown, banner: gr.Markdown, back: gr.Button) -> None:
    with gr.Row():
        query = gr.Textbox(label="Búsqueda", placeholder="p. ej. sequía y embalses", scale=4, elem_id="query")
        k = _as_sent(gr.Slider(1, service.MAX_K, value=5, step=1, label="Resultados"))
        section = gr.Dropdown(
            service.section_choices(None),
            value=service.ALL_SECTIONS,
            label="Sección",
            allow_custom_value=True,
        )
    search_button = gr.Button("Buscar", variant="primary", elem_id="search")
    gr.Examples(service.SEARCH_EXAMPLES, inputs=[query], label="Ejemplos")
    results = gr.Dataframe(
        headers=service.SEARCH_COLUMNS, label="Resultados", interactive=False, wrap=True, elem_id="results",
        column_widths=["9%", "12%", "27%", "44%", "8%"],
    )  # fmt: skip
    full_text = gr.Markdown(
        "*Pulsa una fila para leer el texto completo.*", label="Texto completo", elem_id="full-text"
    )
    results_file = gr.File(label="Resultados en CSV", elem_id="results-file", interactive=False)
    with gr.Accordion(
        "Tu propio corpus (CSV / TSV / JSONL / JSON / TXT, hasta 10 MB y 20.000 filas)", open=False
    ):
        gr.Markdown(
            "Una columna de texto (`text`, `texto`, `body`…) y, si quieres, `title`/`título` y "
            "`section`/`sección`; CSV con comas o con punto y coma. "
            "Tu archivo pasa a ser el corpus de todas las pestañas, solo para ti."
        )
        # no file_types: the browser would refuse other types in English; core checks them in Spanish
        upload_file = gr.File(label="Archivo", type="filepath", elem_id="upload")
        status = gr.Markdown("Usando el corpus de todos.", elem_id="upload-status", label="Estado")
    with gr.Accordion("Descargar los embeddings del corpus activo (Parquet)", open=False):
        export = gr.Button("Preparar el archivo", elem_id="export-embeddings")
        exported = gr.File(
            label="Embeddings (columnas id, title, section, embedding)", elem_id="embeddings-file"
        )
        export.click(embeddings, [models, corpus], [exported], api_name="embeddings", **HEAVY)
    corpus_outputs = [corpus, status, section, banner]
    upload_file.upload(upload, [upload_file, models], corpus_outputs, api_name="upload", **HEAVY)
    back.click(reset_corpus, None, [*corpus_outputs, upload_file], api_name="reset_corpus", **QUICK)
    # removing the file goes back too, as a quick event: never queued behind someone's heavy work
    upload_file.clear(reset_corpus, None, [*corpus_outputs, upload_file], api_name=False, **QUICK)
    inputs = [query, k, section, models, corpus]
    search_button.click(search, inputs, [results, results_file], api_name="search", **QUICK)
    query.submit(search, inputs, [results, results_file], api_name=False, **QUICK)
    results.select(read_result, [results, corpus], full_text, api_name=False, **QUICK)


def build_cluster_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    with gr.Row():
        color_by = _as_sent(gr.Radio(list(service.COLOR_CHOICES), value="sección", label="Color"))
        method = _as_sent(gr.Radio(list(service.METHOD_CHOICES), value="kmeans", label="Agrupación"))
        k = _as_sent(gr.Slider(2, 30, value=10, step=1, label="Grupos (KMeans)"))
        dimensions = _as_sent(gr.Radio(list(service.DIMENSION_CHOICES), value="2D", label="Vista"))
    sentence = gr.Textbox(
        label="Sitúa una frase en el mapa (opcional)",
        placeholder="p. ej. el Barça ficha a un delantero",
        value="",
        elem_id="map-sentence",
    )
    gr.Examples(service.MAP_EXAMPLES, inputs=[sentence], label="Ejemplos")
    draw = gr.Button("Dibujar mapa", variant="primary", elem_id="draw-map")
    plot = gr.Plot(label="Mapa UMAP", elem_id="cluster-plot")
    neighbours = gr.Dataframe(
        headers=["título", "sección", "coseno"], label="Lo más cercano a tu frase", interactive=False,
        wrap=True, elem_id="neighbours",
    )  # fmt: skip
    inputs = [color_by, method, k, dimensions, sentence, models, corpus]
    draw.click(cluster_map, inputs, [plot, neighbours], api_name="cluster_map", **HEAVY)


def build_duplicates_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    threshold = _as_sent(
        gr.Slider(
            0.5, 5, value=3.5, step=0.1, label="Umbral en la escala 0–5 (3,5: comparten la idea principal)"
        )
    )
    gr.Examples([[3.5], [4.0], [4.5]], inputs=[threshold], label="Ejemplos")
    find = gr.Button("Buscar duplicados", variant="primary", elem_id="find-duplicates")
    summary = gr.Markdown(elem_id="duplicates-summary", label="Resumen")
    table = gr.Dataframe(
        headers=service.DUPLICATE_COLUMNS, label="Pares", interactive=False, wrap=True, elem_id="duplicates",
        column_widths=["8%", "10%", "36%", "36%", "10%"],
    )  # fmt: skip
    download = gr.File(label="Pares en CSV (con los textos completos)", elem_id="duplicates-file")
    outputs = [table, summary, download]
    find.click(duplicates, [threshold, models, corpus], outputs, api_name="duplicates", **HEAVY)


def build_evaluation_tab() -> None:
    with gr.Row():
        sts_file = gr.File(
            label="Tu archivo STS (opcional): sentence1, sentence2, score de 0 a 5; hasta 2 MB y 5.000 pares",
            type="filepath", elem_id="sts-file",
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


def build_demo() -> gr.Blocks:
    """The whole app, ready to ``launch()``."""
    specs = service.app_models()
    # Files visitors upload are removed an hour after upload (checked every 10 minutes).
    with gr.Blocks(title="Embeddings de frases en español", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Embeddings de frases en español")
        gr.Markdown(service.introduction(), elem_id="introduction")
        loading = gr.Markdown(service.loading_message() or "", visible=False, elem_id="loading")
        with gr.Row(equal_height=True):  # on every tab: which corpus, and the way back
            banner = gr.Markdown(service.corpus_banner(None), elem_id="corpus-banner")
            back = gr.Button("Volver al corpus de noticias", size="sm", scale=0, elem_id="reset-corpus")
        corpus = gr.State(None, time_to_live=SESSION_TTL_S)  # this visitor's corpus; None: the served one
        models = gr.Dropdown(
            specs, value=specs[0], label="Modelo", visible=len(specs) > 1, allow_custom_value=True
        )
        with gr.Tab("Similitud"):
            build_similarity_tab()
        with gr.Tab("Búsqueda semántica"):
            build_search_tab(corpus, models, banner, back)
        with gr.Tab("Mapa de clusters"):
            build_cluster_tab(corpus, models)
        with gr.Tab("Duplicados"):
            build_duplicates_tab(corpus, models)
        with gr.Tab("Evaluación"):
            build_evaluation_tab()
        with gr.Tab("Acerca de"):
            info = gr.Markdown(elem_id="about", label="Acerca de")
            demo.load(about, [corpus], info, api_name="about", **QUICK)
        timer = gr.Timer(1.5)  # while the models load: say so, then stop asking
        timer.tick(loading_state, None, [loading, timer], api_name=False, show_progress="hidden")
        demo.load(loading_state, None, [loading, timer], api_name=False, show_progress="hidden")
    # The queue is the only way in: no direct POST /gradio_api/run/... that would skip its limits.
    demo.queue(default_concurrency_limit=2, max_size=64, api_open=False)
    return demo


def main() -> None:
    quiet_logs()
    host = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    logger.info(
        "Serving http://%s:%d with %s (backend %s); MCP server at /gradio_api/mcp/",
        "localhost" if host == "0.0.0.0" else host, port, ", ".join(service.app_models()),
        os.environ.get("WORKBENCH_BACKEND", "auto"),
    )  # fmt: skip
    demo = build_demo()
    demo.launch(server_name=host, server_port=port, quiet=True, prevent_thread_lock=True, **LAUNCH)
    # the models load once the page is served: started earlier, their imports (torch, sentence-
    # transformers) took the GIL from the page's build and slowed both (README, "Performance")
    service.start_warm_up()
    demo.block_thread()


if __name__ == "__main__":
    main()
