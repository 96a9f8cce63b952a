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
import threading

import gradio as gr
import spaces

from core import service
from core.corpus import SUFFIXES
from core.errors import WorkbenchError
from evaluation.live import evaluate_models

logger = logging.getLogger(__name__)

SESSION_TTL_S = 3600  # an idle visitor's corpus is dropped after this (README, "Many visitors at once")
# Two vCPUs: quick requests (similarity, search) run two at a time; heavy ones (upload, map, duplicates,
# evaluation) one at a time in their own group, so they never take the quick requests' places.
QUICK = {"concurrency_id": "quick", "concurrency_limit": 2}
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}


def _call(function, *args, **kwargs):
    """``function(...)``, its ``WorkbenchError`` turned into a message for the visitor. Raised outside the
    handler, so the error keeps no frame of the failed work alive (a rejected upload's bytes)."""
    message = None
    try:
        return function(*args, **kwargs)
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


def _in_spanish(component, message: str):
    """Keep the component's own check, but answer its refusal with ``message`` and no traceback in the
    log (``gr.File`` refuses a type outside ``file_types`` in English, as if it were a bug)."""
    check = component.preprocess

    def preprocess(payload):
        refused = False
        try:
            return check(payload)
        except gr.Error:
            refused = True
        if refused:
            logger.info("upload refused: %s", message)
            raise gr.Error(message, print_exception=False)

    component.preprocess = preprocess
    return component


# Events: each one a thin call into core.service --------------------------------------------------------
@spaces.GPU
def compare(sentence_a: str, sentence_b: str):
    """Cosine similarity of two Spanish sentences under every served model, with a plain-language reading
    calibrated on the 0–5 STS scale."""
    return _call(service.compare, sentence_a, sentence_b, warn=gr.Warning)


@spaces.GPU
def rank(sentence: str, candidates: str):
    """One sentence against a list of candidates (one per line), most similar first."""
    return _call(service.rank, sentence, candidates, warn=gr.Warning)


@spaces.GPU
def matrix(sentences: str):
    """Pairwise similarities of up to 20 sentences (one per line), as a heatmap."""
    return _call(service.matrix, sentences, warn=gr.Warning)


@spaces.GPU
def search(query: str, k: float = 5, section: str = "todas", model_spec: str | None = None, corpus=None):
    """The k texts of the session's corpus closest in meaning to a query, optionally from one section."""
    return _call(service.search_corpus, corpus, query, k, section, model_spec, warn=gr.Warning)


@spaces.GPU
def upload(file_path: str | None, model_spec: str | None = None, progress=gr.Progress()):
    """Make an uploaded CSV / TSV / JSONL / JSON / TXT file this session's corpus (for search, the map and
    duplicates); other visitors keep theirs."""
    corpus = _call(service.upload, file_path, model_spec=model_spec, progress=progress)
    return _corpus_outputs(corpus, service.upload_summary(corpus))


def reset_corpus():
    """Go back to the corpus served to everyone (the bundled news unless the Space sets another)."""
    return *_corpus_outputs(None, "Usando el corpus de todos."), None  # and empty the file box


def _corpus_outputs(corpus, status: str):
    choices = gr.update(choices=service.section_choices(corpus), value=service.ALL_SECTIONS)
    return corpus, status, choices, service.corpus_banner(corpus)


@spaces.GPU
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
    """UMAP map of the session's corpus, by section or cluster, with a typed sentence placed on it."""
    return _call(
        service.cluster_map, corpus, color_by, method, k, dimensions, sentence, model_spec,
        warn=gr.Warning, progress=progress,
    )  # fmt: skip


@spaces.GPU
def duplicates(threshold: float = 0.9, model_spec: str | None = None, corpus=None, progress=gr.Progress()):
    """Pairs of near-duplicate texts in the session's corpus above a cosine threshold."""
    return _call(service.find_duplicates, corpus, threshold, model_spec, progress=progress)


@spaces.GPU
def evaluate(include_hub: bool = False, progress=gr.Progress()):
    """STS evaluation of every served model on the bundled test set (stsb_multi_mt es too when asked)."""
    return _call(evaluate_models, service.app_models(), include_hub, progress=progress)


def about(corpus=None) -> str:
    """The served models (dimension, max length, prompts, backend, training) and the active corpus."""
    return _call(service.about, corpus)


# Layout: one small builder per tab ----------------------------------------------------------------------
def build_similarity_tab() -> None:
    with gr.Row():
        sentence_a = gr.Textbox(label="Frase A", lines=2, elem_id="sentence-a")
        sentence_b = gr.Textbox(label="Frase B", lines=2, elem_id="sentence-b")
    compare_button = gr.Button("Comparar", variant="primary", elem_id="compare")
    with gr.Row():
        score = gr.Number(label="Similitud coseno", precision=4, elem_id="score")
        reading = gr.Textbox(label="Lectura", interactive=False, elem_id="reading")
    per_model = gr.Dataframe(headers=["modelo", "coseno", "lectura"], label="Por modelo", interactive=False)
    gr.Examples(service.PAIR_EXAMPLES, inputs=[sentence_a, sentence_b])
    compare_button.click(
        compare, [sentence_a, sentence_b], [score, reading, per_model], api_name="similarity", **QUICK
    )
    with gr.Accordion("Una frase contra una lista", open=False):
        anchor = gr.Textbox(label="Frase", value=service.RANK_EXAMPLE[0])
        candidates = gr.Textbox(label="Candidatas (una por línea)", lines=5, value=service.RANK_EXAMPLE[1])
        rank_button = gr.Button("Ordenar")
        bars = gr.Plot(label="Ranking")
        ranked = gr.Dataframe(headers=["frase", "coseno"], interactive=False)
        rank_button.click(rank, [anchor, candidates], [bars, ranked], api_name="rank", **QUICK)
    with gr.Accordion("Matriz de similitud (hasta 20 frases)", open=False):
        sentences = gr.Textbox(label="Frases (una por línea)", lines=6, value=service.MATRIX_EXAMPLE)
        matrix_button = gr.Button("Dibujar matriz")
        matrix_plot = gr.Plot(label="Matriz")
        matrix_button.click(matrix, [sentences], [matrix_plot], api_name="matrix", **QUICK)


def build_search_tab(corpus: gr.State, models: gr.Dropdown, banner: gr.Markdown, back: gr.Button) -> None:
    with gr.Row():
        query = gr.Textbox(label="Búsqueda", placeholder="p. ej. sequía y embalses", scale=4, elem_id="query")
        k = _as_sent(gr.Slider(1, service.MAX_K, value=5, step=1, label="k"))
        section = gr.Dropdown(
            service.section_choices(None),
            value=service.ALL_SECTIONS,
            label="Sección",
            allow_custom_value=True,
        )
    search_button = gr.Button("Buscar", variant="primary", elem_id="search")
    results = gr.Dataframe(
        headers=["score", "sección", "título", "fragmento"], label="Resultados", interactive=False, wrap=True,
        elem_id="results",
    )  # fmt: skip
    gr.Examples(service.SEARCH_EXAMPLES, inputs=[query])
    with gr.Accordion(
        "Tu propio corpus (CSV / TSV / JSONL / JSON / TXT, hasta 10 MB y 20.000 filas)", open=False
    ):
        gr.Markdown(
            "Una columna de texto (`text`, `texto`, `body`…) y, si quieres, `title`/`título` y "
            "`section`/`sección`; CSV con comas o con punto y coma. "
            "Tu archivo pasa a ser el corpus de todas las pestañas, solo para ti."
        )
        upload_file = _in_spanish(
            gr.File(label="Archivo", file_types=list(SUFFIXES), type="filepath", elem_id="upload"),
            "Tipo de archivo no admitido: sube un .csv, .tsv, .jsonl, .json o .txt.",
        )
        status = gr.Markdown("Usando el corpus de todos.", elem_id="upload-status")
    corpus_outputs = [corpus, status, section, banner]
    upload_file.upload(upload, [upload_file, models], corpus_outputs, api_name="upload", **HEAVY)
    back.click(reset_corpus, None, [*corpus_outputs, upload_file], api_name="reset_corpus", **QUICK)
    # removing the file goes back too, as a quick event: never queued behind someone's heavy work
    upload_file.clear(reset_corpus, None, [*corpus_outputs, upload_file], api_name=False, **QUICK)
    inputs = [query, k, section, models, corpus]
    search_button.click(search, inputs, [results], api_name="search", **QUICK)
    query.submit(search, inputs, [results], api_name=False, **QUICK)


def build_cluster_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    with gr.Row():
        color_by = _as_sent(gr.Radio(list(service.COLOR_CHOICES), value="sección", label="Color"))
        method = _as_sent(gr.Radio(list(service.METHOD_CHOICES), value="kmeans", label="Clustering"))
        k = _as_sent(gr.Slider(2, 30, value=10, step=1, label="k (KMeans)"))
        dimensions = _as_sent(gr.Radio(list(service.DIMENSION_CHOICES), value="2D", label="Vista"))
    sentence = gr.Textbox(
        label="Sitúa una frase en el mapa (opcional)",
        placeholder="p. ej. el Barça ficha a un delantero",
        value="",
    )
    draw = gr.Button("Dibujar mapa", variant="primary")
    plot = gr.Plot(label="Mapa UMAP", elem_id="cluster-plot")
    inputs = [color_by, method, k, dimensions, sentence, models, corpus]
    draw.click(cluster_map, inputs, [plot], api_name="cluster_map", **HEAVY)


def build_duplicates_tab(corpus: gr.State, models: gr.Dropdown) -> None:
    threshold = _as_sent(gr.Slider(0.5, 1.0, value=0.9, step=0.01, label="Umbral de similitud"))
    find = gr.Button("Buscar duplicados", variant="primary")
    summary = gr.Markdown(elem_id="duplicates-summary")
    table = gr.Dataframe(headers=["score", "texto A", "texto B", "sección"], interactive=False, wrap=True)
    find.click(duplicates, [threshold, models, corpus], [table, summary], api_name="duplicates", **HEAVY)


def build_evaluation_tab() -> None:
    include_hub = gr.Checkbox(label="Incluir stsb_multi_mt es test (necesita acceso al Hub)", value=False)
    run = gr.Button("Evaluar", variant="primary")
    note = gr.Markdown()
    table = gr.Dataframe(
        headers=["modelo", "dataset", "Spearman", "Pearson", "IC 95%", "pares", "en caché"],
        interactive=False,
        elem_id="evaluation-table",
    )
    with gr.Row():
        bars, scatter = gr.Plot(label="Spearman con IC"), gr.Plot(label="Predicción frente a referencia")
    run.click(evaluate, [include_hub], [table, bars, scatter, note], api_name="evaluate", **HEAVY)


def build_demo() -> gr.Blocks:
    """The whole app, ready to ``launch()``."""
    specs = service.app_models()
    # Files visitors upload are removed an hour after upload (checked every 10 minutes).
    with gr.Blocks(title="Embeddings de frases en español", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# Embeddings de frases en español\n"
            f"Modelo{'s' if len(specs) > 1 else ''}: {', '.join(f'`{s}`' for s in specs)}"
        )
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
            info = gr.Markdown(elem_id="about")
            demo.load(about, [corpus], info, api_name="about", **QUICK)
    # The queue is the only way in: no direct POST /gradio_api/run/... that would skip its limits.
    demo.queue(default_concurrency_limit=2, max_size=64, api_open=False)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    threading.Thread(target=service.warm_up, name="warm-up", daemon=True).start()
    build_demo().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size="10mb",
    )


if __name__ == "__main__":
    main()
