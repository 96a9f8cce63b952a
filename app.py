"""The Gradio Space: Spanish sentence similarity, semantic news search, cluster map, duplicates, evaluation.

``python app.py`` runs it locally and on a Hugging Face Space. Models come from ``$MODEL_ID`` (one) or
``$MODELS`` (a comma list of up to 3), else the built-in offline model; the corpus from ``$CORPUS`` (a
Hub dataset id or a local file), else the bundled news. This file only wires components to functions
in ``core/`` and ``evaluation/``.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

import gradio as gr
import spaces

from core.clusters import ctfidf_labels, hdbscan_labels, kmeans_labels, place_on_map, umap_projection
from core.corpus import CorpusError, corpus_fingerprint, load_corpus, parse_corpus_bytes, passage_text
from core.embeddings import cached_model_fingerprint, corpus_embeddings, embedding_key
from core.figures import cluster_map as cluster_figure
from core.figures import heatmap, ranked_bars
from core.index import get_index
from core.loader import ModelLoadError, backend_name, get_model, resolve_spec
from core.search import search, snippet
from core.similarity import (
    describe_similarity,
    fit_sts_scale,
    rank_candidates,
    score_pairs,
    similarity_matrix,
    token_count,
)

logger = logging.getLogger(__name__)

MAX_MODELS = 3
MAX_SENTENCES = 20
MAX_K = 50
PAIR_EXAMPLES = [
    ["El Gobierno aprueba los presupuestos", "El Ejecutivo da luz verde a las cuentas públicas"],
    ["El Gobierno aprueba los presupuestos", "El Real Madrid gana la Liga"],
    ["Llueve con fuerza en Bogotá desde el amanecer", "Un aguacero cae sobre la capital colombiana"],
]
RANK_EXAMPLE = [
    "Sube el precio de la vivienda en Madrid",
    "Los alquileres se disparan en la capital\nEl Atlético gana en Sevilla\nBaja el paro en Andalucía\n"
    "La compraventa de casas se encarece en Madrid",
]
MATRIX_EXAMPLE = (
    "El Banco Central sube los tipos de interés\nLa autoridad monetaria encarece el crédito\n"
    "Argentina gana la Copa América\nLa selección albiceleste se corona campeona\nNieva en los Andes"
)


# Configuration: which models and which corpus this process serves ----------------------------------
def app_models() -> list[str]:
    """``$MODELS`` (comma list, at most 3), else the one model of ``$MODEL_ID`` or the built-in model."""
    listed = [spec.strip() for spec in os.environ.get("MODELS", "").split(",") if spec.strip()]
    return listed[:MAX_MODELS] or [resolve_spec()]


def _model(spec: str | None = None):
    specs = app_models()
    spec = spec or specs[0]
    if spec not in specs:  # visitors choose among the configured models only
        raise gr.Error(f"Modelo no disponible: {spec}. Elige uno de: {', '.join(specs)}.")
    try:
        return spec, get_model(spec)
    except ModelLoadError as err:
        raise gr.Error(str(err)) from err


_SCALES: dict[str, object] = {}
_SCALES_LOCK = threading.Lock()


def sts_scale(spec: str):
    """The model's cosine -> 0–5 STS mapping, fitted once per model on the bundled STS dev set (its
    cosines kept on disk per model fingerprint, so a restart does not re-encode the dev set)."""
    with _SCALES_LOCK:
        if spec not in _SCALES:
            _SCALES[spec] = fit_sts_scale(get_model(spec), cached_model_fingerprint(spec))
        return _SCALES[spec]


@lru_cache(maxsize=1)
def default_corpus() -> tuple[list[dict], str]:
    items = load_corpus()
    return items, corpus_fingerprint(items)


def _corpus(state: dict | None) -> tuple[list[dict], str]:
    return (state["items"], state["key"]) if state else default_corpus()


def _text(text: str | None, label: str, model) -> str:
    text = (text or "").strip()
    if not text:
        raise gr.Error(f"Escribe {label}: está vacía.")
    tokens = token_count(model, text)
    if tokens > model.max_seq_length:
        limit = model.max_seq_length
        gr.Warning(f"{label.capitalize()} tiene {tokens} tokens: el modelo solo lee los primeros {limit}.")
    return text


# Similarity -------------------------------------------------------------------------------------------
@spaces.GPU
def compare(sentence_a: str, sentence_b: str) -> tuple[float, str, list[list]]:
    """Cosine similarity of two sentences under every configured model (the first one leads)."""
    rows = []
    for spec in app_models():
        _, model = _model(spec)
        a, b = _text(sentence_a, "la primera frase", model), _text(sentence_b, "la segunda frase", model)
        (score,) = score_pairs(model, [(a, b)])
        sts = 5.0 if a == b else sts_scale(spec)(score)  # the same text means the same, whatever the model
        rows.append([spec, round(score, 4), describe_similarity(sts)])
    return rows[0][1], rows[0][2], rows


@spaces.GPU
def rank(sentence: str, candidates: str):
    """One sentence against a list (one per line): ranked bars."""
    _, model = _model()
    sentence = _text(sentence, "la frase", model)
    lines = [line.strip() for line in (candidates or "").splitlines() if line.strip()]
    if not lines:
        raise gr.Error("Escribe al menos una frase candidata, una por línea.")
    if len(lines) > MAX_SENTENCES:
        raise gr.Error(f"Demasiadas frases: {len(lines)}. El máximo es {MAX_SENTENCES}.")
    ranked = rank_candidates(model, sentence, lines)
    return ranked_bars(ranked), [[text, round(score, 4)] for text, score in ranked]


@spaces.GPU
def matrix(sentences: str):
    """Up to 20 sentences (one per line): a heatmap of their pairwise similarities."""
    _, model = _model()
    lines = [line.strip() for line in (sentences or "").splitlines() if line.strip()]
    if len(lines) < 2:
        raise gr.Error("Escribe al menos dos frases, una por línea.")
    if len(lines) > MAX_SENTENCES:
        raise gr.Error(f"Demasiadas frases: {len(lines)}. El máximo es {MAX_SENTENCES}.")
    return heatmap(lines, similarity_matrix(model, lines))


# Semantic search --------------------------------------------------------------------------------------
@spaces.GPU
def search_news(query: str, k: float = 5, section: str = "todas", model_spec: str | None = None, state=None):
    """Top-k news for a query, from the uploaded corpus of this session or the default corpus."""
    spec, model = _model(model_spec)
    query = _text(query, "la búsqueda", model)
    if not 1 <= int(k) <= MAX_K:
        raise gr.Error(f"k debe estar entre 1 y {MAX_K}.")
    items, key = _corpus(state)
    embeddings = corpus_embeddings(model, spec, items, key)
    section = None if section in (None, "", "todas") else section
    hits = search(model, query, items, embeddings, int(k), section, key=embedding_key(spec, items, key))
    if not hits:
        gr.Warning("Ninguna noticia en esa sección.")
    return [[round(h["score"], 4), h["section"], h["title"], snippet(h["body"])] for h in hits]


@spaces.GPU
def upload_corpus(file_path: str | None, state=None, progress=gr.Progress()):
    """Replace this session's search corpus with an uploaded CSV / JSONL / TXT (others are unaffected)."""
    if not file_path:
        return None, "Corpus por defecto.", gr.update(choices=_sections(default_corpus()[0]), value="todas")
    path = Path(file_path)
    try:
        items = parse_corpus_bytes(path.read_bytes(), path.name)
    except CorpusError as err:
        raise gr.Error(str(err)) from err
    spec, model = _model()
    key = corpus_fingerprint(items)
    embeddings = corpus_embeddings(model, spec, items, key, progress=progress)
    progress(1.0, desc="Índice de búsqueda")
    get_index(
        embedding_key(spec, items, key), embeddings
    )  # large corpora: built now, not on the first search
    state = {"items": items, "key": key, "name": path.name}
    message = f"Buscando en **{path.name}**: {len(items):,} textos (solo en tu sesión)."
    return state, message, gr.update(choices=_sections(items), value="todas")


def _sections(items: list[dict]) -> list[str]:
    return ["todas", *sorted({item["section"] for item in items if item["section"]})]


# Cluster map ------------------------------------------------------------------------------------------
@spaces.GPU
def cluster_map(
    color_by: str = "sección",
    method: str = "kmeans",
    k: float = 10,
    dimensions: str = "2D",
    sentence: str = "",
    model_spec: str | None = None,
    progress=gr.Progress(),
):
    """UMAP of the corpus, coloured by section or cluster, with a typed sentence placed on it."""
    spec, model = _model(model_spec)
    items, key = default_corpus()
    progress(0.1, desc="Embeddings del corpus")
    embeddings = corpus_embeddings(model, spec, items, key)
    progress(0.4, desc="Proyección UMAP")
    points = umap_projection(embeddings, embedding_key(spec, items, key), 3 if dimensions == "3D" else 2)
    if color_by == "sección":
        colours = [item["section"] or "sin sección" for item in items]
        title = "Noticias por sección"
    else:
        labels = hdbscan_labels(embeddings) if method == "hdbscan" else kmeans_labels(embeddings, int(k))
        names = ctfidf_labels([passage_text(item) for item in items], labels)
        colours = [f"{label}: {names[int(label)]}" if label >= 0 else "ruido" for label in labels]
        title = f"Clusters ({method}), etiquetados por c-TF-IDF"
    highlight = None
    if (sentence or "").strip():
        sentence = _text(sentence, "la frase", model)
        embedding = model.encode_query([sentence], normalize_embeddings=True)[0]
        highlight = (place_on_map(embedding, embeddings, points), sentence)
    return cluster_figure(points, items, colours, highlight, title)


# Duplicates -------------------------------------------------------------------------------------------
@spaces.GPU
def duplicates(threshold: float = 0.9, model_spec: str | None = None):
    """Near-duplicate news above a cosine threshold (paraphrase mining on the corpus embeddings)."""
    import torch
    from sentence_transformers.util import paraphrase_mining_embeddings

    if not 0 < threshold <= 1:
        raise gr.Error("El umbral debe estar entre 0 y 1.")
    spec, model = _model(model_spec)
    items, key = default_corpus()
    embeddings = torch.from_numpy(corpus_embeddings(model, spec, items, key))
    pairs = [p for p in paraphrase_mining_embeddings(embeddings, top_k=5) if p[0] >= threshold]
    rows = [
        [round(score, 4), items[i]["title"], items[j]["title"], items[i]["section"]] for score, i, j in pairs
    ]
    return rows[:500], f"{len(pairs)} pares con similitud ≥ {threshold:.2f}" + _known_duplicates_note(
        items, pairs
    )


def _known_duplicates_note(items: list[dict], pairs) -> str:
    from core.data import load_news_duplicates

    if os.environ.get("CORPUS", "bundled") != "bundled":
        return ""
    ids = [item["id"] for item in items]
    found = {frozenset((ids[i], ids[j])) for _, i, j in pairs}
    known = [frozenset(pair) for pair in load_news_duplicates()]
    return f"; de las {len(known)} historias contadas dos veces, aparecen {sum(p in found for p in known)}."


# Evaluation and about ---------------------------------------------------------------------------------
@spaces.GPU
def evaluate(include_hub: bool = False, progress=gr.Progress()):
    """STS evaluation of every configured model (bundled test set; stsb_multi_mt es too when asked)."""
    from evaluation.datasets import DatasetError, load_sts_dataset
    from evaluation.report import scatter_predicted_vs_gold, score_bars
    from evaluation.runner import run_sts

    datasets = [load_sts_dataset("bundled:test")]
    note = "Conjunto STS propio (150 pares)."
    if include_hub:
        try:
            datasets.append(load_sts_dataset("stsb_multi_mt:es:test"))
        except DatasetError as err:
            note += f" stsb_multi_mt no disponible: {err}"
    records = []
    jobs = [(spec, dataset) for spec in app_models() for dataset in datasets]
    for number, (spec, dataset) in enumerate(jobs):
        progress(number / len(jobs), desc=f"Evaluando {spec} en {dataset.name}")
        try:
            records.append(run_sts(spec, dataset))
        except ModelLoadError as err:
            raise gr.Error(str(err)) from err
    table = [
        [
            r["model"],
            r["dataset"],
            round(r["metrics"]["spearman_cosine"], 4),
            round(r["metrics"]["pearson_cosine"], 4),
            f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]",
            r["n"],
            "sí" if r.get("cached") else "no",
        ]
        for r in records
    ]
    return table, score_bars(records), scatter_predicted_vs_gold(records), note


def about() -> str:
    """The served models: dimensions, max length, prompts, base model and training summary."""
    import json

    from core.loader import model_path

    lines = ["## Modelos"]
    for spec in app_models():
        _, model = _model(spec)
        folder = Path(model_path(spec))
        lines += [
            f"### `{spec}`",
            f"- dimensión: {model.get_embedding_dimension()}, longitud máxima: {model.max_seq_length} tokens",
            f"- prompts: {model.prompts or 'ninguno'}",
            f"- inferencia: {backend_name(model)}",
        ]
        for metrics_file in (folder / "metrics.json", folder.parent / "metrics.json"):
            if metrics_file.is_file():
                summary = json.loads(metrics_file.read_text(encoding="utf-8"))
                test, base = summary.get("test", {}), summary.get("baseline_test") or {}
                key = "sts-test_spearman_cosine"
                if key in test:
                    before = f"{base[key]:.4f} → " if key in base else ""
                    steps = summary.get("global_step")
                    lines.append(f"- entrenamiento: STS test Spearman {before}{test[key]:.4f}, {steps} pasos")
                break
    items, _ = default_corpus()
    lines += ["## Corpus", f"{len(items)} noticias en {len(_sections(items)) - 1} secciones."]
    return "\n".join(lines)


# Layout -----------------------------------------------------------------------------------------------
def build_similarity_tab() -> None:
    with gr.Row():
        sentence_a = gr.Textbox(label="Frase A", lines=2, elem_id="sentence-a")
        sentence_b = gr.Textbox(label="Frase B", lines=2, elem_id="sentence-b")
    compare_button = gr.Button("Comparar", variant="primary", elem_id="compare")
    with gr.Row():
        score = gr.Number(label="Similitud coseno", precision=4, elem_id="score")
        reading = gr.Textbox(label="Lectura", interactive=False, elem_id="reading")
    per_model = gr.Dataframe(headers=["modelo", "coseno", "lectura"], label="Por modelo", interactive=False)
    gr.Examples(PAIR_EXAMPLES, inputs=[sentence_a, sentence_b])
    compare_button.click(
        compare, [sentence_a, sentence_b], [score, reading, per_model], api_name="similarity"
    )
    with gr.Accordion("Una frase contra una lista", open=False):
        anchor = gr.Textbox(label="Frase", value=RANK_EXAMPLE[0])
        candidates = gr.Textbox(label="Candidatas (una por línea)", lines=5, value=RANK_EXAMPLE[1])
        rank_button = gr.Button("Ordenar")
        bars = gr.Plot(label="Ranking")
        ranked = gr.Dataframe(headers=["frase", "coseno"], interactive=False)
        rank_button.click(rank, [anchor, candidates], [bars, ranked], api_name="rank")
    with gr.Accordion("Matriz de similitud (hasta 20 frases)", open=False):
        sentences = gr.Textbox(label="Frases (una por línea)", lines=6, value=MATRIX_EXAMPLE)
        matrix_button = gr.Button("Dibujar matriz")
        matrix_plot = gr.Plot(label="Matriz")
        matrix_button.click(matrix, [sentences], [matrix_plot], api_name="matrix")


def build_search_tab(state: gr.State, models: gr.Dropdown) -> None:
    with gr.Row():
        query = gr.Textbox(label="Búsqueda", placeholder="p. ej. sequía y embalses", scale=4, elem_id="query")
        k = gr.Slider(1, MAX_K, value=5, step=1, label="k")
        section = gr.Dropdown(_sections(default_corpus()[0]), value="todas", label="Sección")
    search_button = gr.Button("Buscar", variant="primary", elem_id="search")
    results = gr.Dataframe(
        headers=["score", "sección", "título", "fragmento"], label="Resultados", interactive=False, wrap=True,
        elem_id="results",
    )  # fmt: skip
    gr.Examples(
        [["incendios forestales y sequía"], ["inflación y tipos de interés"], ["vacunas"]], inputs=[query]
    )
    with gr.Accordion("Tu propio corpus (CSV / JSONL / TXT, hasta 10 MB y 20.000 filas)", open=False):
        upload = gr.File(
            label="Archivo", file_types=[".csv", ".tsv", ".jsonl", ".json", ".txt"], type="filepath"
        )
        status = gr.Markdown("Corpus por defecto.")
    upload.change(upload_corpus, [upload, state], [state, status, section], api_name="upload")
    search_button.click(search_news, [query, k, section, models, state], [results], api_name="search")
    query.submit(search_news, [query, k, section, models, state], [results], api_name=False)


def build_cluster_tab(models: gr.Dropdown) -> None:
    with gr.Row():
        color_by = gr.Radio(["sección", "cluster"], value="sección", label="Color")
        method = gr.Radio(["kmeans", "hdbscan"], value="kmeans", label="Clustering")
        k = gr.Slider(2, 30, value=10, step=1, label="k (KMeans)")
        dimensions = gr.Radio(["2D", "3D"], value="2D", label="Vista")
    sentence = gr.Textbox(
        label="Sitúa una frase en el mapa (opcional)",
        placeholder="p. ej. el Barça ficha a un delantero",
        value="",
    )
    draw = gr.Button("Dibujar mapa", variant="primary")
    plot = gr.Plot(label="Mapa UMAP", elem_id="cluster-plot")
    draw.click(
        cluster_map, [color_by, method, k, dimensions, sentence, models], [plot], api_name="cluster_map"
    )


def build_duplicates_tab(models: gr.Dropdown) -> None:
    threshold = gr.Slider(0.5, 1.0, value=0.9, step=0.01, label="Umbral de similitud")
    find = gr.Button("Buscar duplicados", variant="primary")
    summary = gr.Markdown(elem_id="duplicates-summary")
    table = gr.Dataframe(headers=["score", "noticia A", "noticia B", "sección"], interactive=False, wrap=True)
    find.click(duplicates, [threshold, models], [table, summary], api_name="duplicates")


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
    run.click(evaluate, [include_hub], [table, bars, scatter, note], api_name="evaluate")


def build_demo() -> gr.Blocks:
    """The whole app, ready to ``launch()``."""
    specs = app_models()
    with gr.Blocks(title="Embeddings de frases en español") as demo:
        gr.Markdown(
            "# Embeddings de frases en español\n"
            f"Modelo{'s' if len(specs) > 1 else ''}: {', '.join(f'`{s}`' for s in specs)} · "
            f"corpus: {len(default_corpus()[0])} noticias."
        )
        state = gr.State(None)  # this visitor's uploaded corpus
        models = gr.Dropdown(specs, value=specs[0], label="Modelo", visible=len(specs) > 1)
        with gr.Tab("Similitud"):
            build_similarity_tab()
        with gr.Tab("Búsqueda semántica"):
            build_search_tab(state, models)
        with gr.Tab("Mapa de clusters"):
            build_cluster_tab(models)
        with gr.Tab("Duplicados"):
            build_duplicates_tab(models)
        with gr.Tab("Evaluación"):
            build_evaluation_tab()
        with gr.Tab("Acerca de"):
            info = gr.Markdown(elem_id="about")
            demo.load(about, None, info, api_name="about")
    # Two vCPUs: a few requests at a time keep latency low; the rest wait in the queue.
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def warm_up() -> None:
    """Load the models, their STS calibration and the first model's corpus embeddings, index and 2D map,
    so visitors do not wait. Runs beside the server: a request that comes earlier waits for what it needs
    (the loaders hold locks), and a failure here is logged, then reported to the visitor who needs it."""
    import torch

    # Two requests run at once (the queue's concurrency) on a 2-vCPU Space: one thread each beats two
    # threads each fighting for the same cores (README, "Performance"). Set before any request encodes.
    torch.set_num_threads(int(os.environ.get("WORKBENCH_TORCH_THREADS", "1")))
    try:
        for spec in app_models():
            sts_scale(spec)
        spec, model = app_models()[0], get_model(app_models()[0])
        items, key = default_corpus()
        embeddings = corpus_embeddings(model, spec, items, key)
        get_index(embedding_key(spec, items, key), embeddings)
        umap_projection(embeddings, embedding_key(spec, items, key))
    except Exception:
        logger.exception("Warm-up failed; requests will load what they need and report the error")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    build_demo().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size="10mb",
    )


if __name__ == "__main__":
    main()
