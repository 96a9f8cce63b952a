"""What the app's tabs do, as plain functions over model handles and a ``Corpus``; no Gradio here.

``app.py`` wires these to components. Every function checks its own input (a visitor, an API client
or an MCP tool may send anything) and raises ``WorkbenchError`` subclasses whose Spanish message says
what to do. Notes that do not stop the work (a text cut short) go to ``warn``; long work reports to
``progress(fraction, desc=...)``. The corpus argument is the visitor's session corpus; ``None`` means
the one the process serves to everyone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from core import messages
from core.cache import CACHE
from core.calibration import describe_similarity
from core.checks import checked_lines, checked_text, log_note, number_between, one_of, whole_number
from core.clusters import cluster_labels, ctfidf_labels, place_on_map, umap_projection
from core.corpus import Corpus, passage_text, read_upload, served_corpus
from core.data import load_news_duplicates
from core.downloads import csv_file, embeddings_file
from core.embeddings import corpus_embeddings, embedding_key
from core.errors import InputError
from core.figures import cluster_map as cluster_figure
from core.figures import heatmap, ranked_bars
from core.handle import ModelHandle, get_handle
from core.index import get_index
from core.loader import resolve_spec
from core.search import search, snippet
from core.similarity import rank_candidates, score_pairs, similarity_matrix
from core.text import clean_text, decimal, thousands

logger = logging.getLogger(__name__)

MAX_MODELS = 3
MAX_K = 50
MAP_NEIGHBOURS = 8
MIN_MAP_TEXTS = 10  # UMAP, KMeans and HDBSCAN need a few points to mean anything (and to run at all)
ALL_SECTIONS = "todas"
COLOR_CHOICES = ("sección", "cluster")
METHOD_CHOICES = ("kmeans", "hdbscan")
DIMENSION_CHOICES = ("2D", "3D")
Warn = Callable[[str], None]
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
SEARCH_EXAMPLES = [["incendios forestales y sequía"], ["inflación y tipos de interés"], ["vacunas"]]
MAP_EXAMPLES = [
    ["el Barça ficha a un delantero"],
    ["vacuna contra el dengue"],
    ["sube el precio del alquiler"],
]


# Models and corpora ----------------------------------------------------------------------------------
def app_models() -> list[str]:
    """``$MODELS`` (comma list, at most 3), else the one model of ``$MODEL_ID`` or the built-in model."""
    listed = [spec.strip() for spec in os.environ.get("MODELS", "").split(",") if spec.strip()]
    return listed[:MAX_MODELS] or [resolve_spec()]


def model_handle(spec: str | None = None) -> ModelHandle:
    """The shared handle of a configured model (the first when ``spec`` is empty); visitors choose among
    the configured models only."""
    specs = app_models()
    spec = spec or specs[0]
    if spec not in specs:
        raise InputError(messages.UNKNOWN_MODEL.format(spec=str(spec)[:100], choices=", ".join(specs)))
    return get_handle(spec)


def active_corpus(corpus: Corpus | None) -> Corpus:
    """The visitor's corpus, else the one served to everyone."""
    return corpus if isinstance(corpus, Corpus) else served_corpus()


def corpus_banner(corpus: Corpus | None) -> str:
    """One line for the top of the page: which corpus every tab uses now."""
    corpus = active_corpus(corpus)
    where = "tu archivo, solo en tu sesión" if corpus.source == "upload" else "para todos"
    return f"**Corpus activo:** {corpus.name} · {thousands(len(corpus))} textos ({where})"


def section_choices(corpus: Corpus | None) -> list[str]:
    return [ALL_SECTIONS, *active_corpus(corpus).sections]


# Similarity ------------------------------------------------------------------------------------------
def compare(sentence_a: object, sentence_b: object, warn: Warn = log_note) -> tuple[float, float, list[list]]:
    """How close two sentences are under every configured model (the first one leads): the reading on
    the 0–5 STS scale, calibrated per model (``core.calibration``), then the raw cosine.

    Returns:
        The first model's 0–5 score, its cosine, and one row per model: model, 0–5, cosine, reading.
    """
    rows = []
    for spec in app_models():
        handle = model_handle(spec)
        a = checked_text(sentence_a, "la primera frase", handle, warn)
        b = checked_text(sentence_b, "la segunda frase", handle, warn)
        (score,) = score_pairs(handle.model, [(a, b)])
        if a == b:  # the same text means the same, whatever the model
            sts, band = 5.0, None
        else:
            sts, band = handle.calibration(score), handle.calibration.band(score)
        rows.append([spec, round(sts, 2), round(score, 4), describe_similarity(sts, band)])
    return rows[0][1], rows[0][2], rows


def rank(sentence: object, candidates: object, warn: Warn = log_note):
    """One sentence against a list (one per line): ranked bars and the table."""
    handle = model_handle()
    sentence = checked_text(sentence, "la frase", handle, warn)
    lines = checked_lines(candidates, "una frase candidata", 1, warn)
    ranked = rank_candidates(handle.model, sentence, lines)
    return ranked_bars(ranked), [[text, round(score, 4)] for text, score in ranked]


def matrix(sentences: object, warn: Warn = log_note):
    """Up to 20 sentences (one per line): a heatmap of their pairwise similarities."""
    handle = model_handle()
    lines = checked_lines(sentences, "dos frases", 2, warn)
    return heatmap(lines, similarity_matrix(handle.model, lines))


# Corpus: upload, search ------------------------------------------------------------------------------
def upload(path: str | None, name: str | None = None, model_spec: str | None = None, progress=None) -> Corpus:
    """Read a visitor's file into a ``Corpus`` and embed it (with ``progress``), so that search, the map
    and duplicates can use it at once. Nothing is written to disk; nothing shared is locked.

    Raises:
        CorpusError: The file cannot be used; the message says what to fix.
    """
    if not path:
        raise InputError(messages.NO_FILE)
    corpus = read_upload(path, name)
    handle = model_handle(model_spec)
    embeddings = corpus_embeddings(handle, corpus, progress=progress, alone=alone)
    get_index(embedding_key(handle, corpus), embeddings, shared=False)
    logger.info("Upload %s: %d texts, fingerprint %s", corpus.name, len(corpus), corpus.fingerprint)
    return corpus


_jobs = {"running": 0, "last_end": 0.0}
_jobs_lock = threading.Lock()
QUIET_S = 2.0  # a long job takes every core only after this long without another request


@contextmanager
def job():
    """Count a request as running while it runs (the app wraps every event in one)."""
    with _jobs_lock:
        _jobs["running"] += 1
    try:
        yield
    finally:
        with _jobs_lock:
            _jobs["running"] -= 1
            _jobs["last_end"] = time.monotonic()


def alone() -> bool:
    """No other request runs or ran in the last ``QUIET_S`` seconds: a long job (the caller) may take
    every core for its next step without slowing a visitor who is clicking through the page."""
    with _jobs_lock:
        return _jobs["running"] <= 1 and time.monotonic() - _jobs["last_end"] >= QUIET_S


def upload_summary(corpus: Corpus) -> str:
    """What the visitor reads after an upload."""
    text = f"Buscando en **{corpus.name}**: {thousands(len(corpus))} textos (solo en tu sesión)."
    return " ".join([text, *corpus.notes])


def _embeddings(handle: ModelHandle, corpus: Corpus, quick: bool, progress=None):
    """The corpus' embeddings; a quick request (search) does not re-encode an evicted upload."""
    if quick and not corpus.shared:
        key = ("embeddings", embedding_key(handle, corpus))
        cached = CACHE.peek(key)
        if cached is None:
            raise InputError(messages.UPLOAD_EVICTED.format(name=corpus.name))
        return cached
    return corpus_embeddings(handle, corpus, progress=progress)


SEARCH_COLUMNS = ["coseno", "sección", "título", "fragmento", "id"]


def search_corpus(
    corpus: Corpus | None,
    query: object,
    k: object = 5,
    section: object = ALL_SECTIONS,
    model_spec: str | None = None,
    warn: Warn = log_note,
) -> tuple[list[list], str]:
    """Top-k texts of the visitor's corpus for a query.

    Returns:
        The table (cosine, section, title, snippet, id) and a CSV file of it with the full texts.
    """
    corpus = active_corpus(corpus)
    handle = model_handle(model_spec)
    query = checked_text(query, "la búsqueda", handle, warn)
    k = whole_number(k, "k", 1, MAX_K)
    section = None if section in (None, "", ALL_SECTIONS) else str(section)
    if section is not None and section not in corpus.sections:
        raise InputError(messages.UNKNOWN_SECTION.format(section=section[:60], name=corpus.name))
    embeddings = _embeddings(handle, corpus, quick=True)
    hits = search(handle.model, query, corpus, embeddings, k, section, key=embedding_key(handle, corpus))
    rows = [[round(h["score"], 4), h["section"], h["title"], snippet(h["body"]), h["id"]] for h in hits]
    full = [
        [n, round(h["score"], 4), h["id"], h["section"], h["title"], h["body"]] for n, h in enumerate(hits, 1)
    ]
    header = ["posición", "coseno", "id", "sección", "título", "texto"]
    return rows, csv_file(f"busqueda-{query[:40]}", header, full)


def read_item(corpus: Corpus | None, item_id: object) -> str:
    """The whole text of one item of the visitor's corpus, as Markdown (a search result opened)."""
    corpus = active_corpus(corpus)
    item = next((item for item in corpus.items if item["id"] == str(item_id)), None)
    if item is None:
        return messages.NO_ROW_CHOSEN
    heading = f"### {_markdown(item['title'])}\n" if item["title"] else ""
    section = f"*{_markdown(item['section'])}* · " if item["section"] else ""
    return f"{heading}{section}`{item['id']}`\n\n{_markdown(item['body'])}"


def export_embeddings(corpus: Corpus | None, model_spec: str | None = None, progress=None) -> str:
    """The active corpus' embeddings as a Parquet file: ``id``, ``title``, ``section``, ``embedding``."""
    corpus = active_corpus(corpus)
    handle = model_handle(model_spec)
    embeddings = _embeddings(handle, corpus, quick=False, progress=progress)
    return embeddings_file(f"embeddings-{corpus.name}", corpus.items, embeddings)


def _markdown(text: str) -> str:
    """``text`` shown as it is in Markdown (no headings, links or HTML of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text)


# Cluster map and duplicates --------------------------------------------------------------------------
def cluster_map(
    corpus: Corpus | None,
    color_by: object = "sección",
    method: object = "kmeans",
    k: object = 10,
    dimensions: object = "2D",
    sentence: object = "",
    model_spec: str | None = None,
    warn: Warn = log_note,
    progress=None,
):
    """UMAP of the visitor's corpus, coloured by section or cluster, with a typed sentence placed on it.

    Returns:
        The figure, and the sentence's nearest texts (title, section, cosine), marked on the map too.
    """
    corpus = active_corpus(corpus)
    if len(corpus) < MIN_MAP_TEXTS:
        raise InputError(
            messages.MAP_TOO_SMALL.format(minimum=MIN_MAP_TEXTS, name=corpus.name, count=len(corpus))
        )
    color_by = one_of(color_by, "el color", COLOR_CHOICES)
    method = one_of(method, "el método", METHOD_CHOICES)
    k = whole_number(k, "k", 2, 30)
    dimensions = one_of(dimensions, "la vista", DIMENSION_CHOICES)
    handle = model_handle(model_spec)
    sentence = checked_text(sentence, "la frase", handle, warn) if clean_text(sentence) else ""
    _progress(progress, 0.1, "Embeddings del corpus")
    embeddings = _embeddings(handle, corpus, quick=False, progress=progress)
    key = embedding_key(handle, corpus)
    _progress(progress, 0.5, "Proyección UMAP")
    points = umap_projection(embeddings, key, 3 if dimensions == "3D" else 2, shared=corpus.shared)
    items = corpus.items
    if color_by == "sección":
        colours = [item["section"] or "sin sección" for item in items]
        title = f"{corpus.name}: por sección"
    else:
        labels = cluster_labels(embeddings, key, method, k)
        names = ctfidf_labels([passage_text(item) for item in items], labels)
        colours = [f"{label}: {names[int(label)]}" if label >= 0 else "ruido" for label in labels]
        title = f"{corpus.name}: clusters ({method}), etiquetados por c-TF-IDF"
    highlight, neighbours = None, []
    if sentence:
        embedding = handle.model.encode_query([sentence], normalize_embeddings=True)[0]
        scores = embeddings @ embedding
        nearest = np.argsort(-scores)[:MAP_NEIGHBOURS]
        neighbours = [
            [
                items[i]["title"] or snippet(items[i]["body"], 120),
                items[i]["section"],
                round(float(scores[i]), 4),
            ]
            for i in nearest
        ]
        highlight = (place_on_map(embedding, embeddings, points), sentence, nearest)
    return cluster_figure(points, list(items), colours, highlight, title), neighbours


DUPLICATE_COLUMNS = ["0–5", "coseno", "texto A", "texto B", "sección"]


def find_duplicates(
    corpus: Corpus | None, threshold: object = 3.5, model_spec: str | None = None, progress=None
) -> tuple[list[list], str, str]:
    """Near-duplicate texts of the visitor's corpus (paraphrase mining), read on the calibrated 0–5
    scale: ``threshold`` 3.5 keeps pairs that share the main idea (on the bundled news: 46 pairs, 45 of
    them among the 50 known retold stories, with the built-in model), 4.5 those that say practically the
    same (22 pairs, all known).

    Returns:
        The table (0–5, cosine, text A, text B, section), a summary, and a CSV with ids and full texts.
    """
    import torch
    from sentence_transformers.util import paraphrase_mining_embeddings

    corpus = active_corpus(corpus)
    threshold = number_between(threshold, "El umbral", 0, 5)
    handle = model_handle(model_spec)
    scale = handle.calibration
    cosine = scale.cosine_for(threshold)
    embeddings = torch.from_numpy(_embeddings(handle, corpus, quick=False, progress=progress))
    pairs = [p for p in paraphrase_mining_embeddings(embeddings, top_k=5) if p[0] >= cosine]
    items = corpus.items
    readings = scale.many([score for score, _, _ in pairs]) if pairs else []
    rows = [
        [round(float(sts), 2), round(score, 4), items[i]["title"] or snippet(items[i]["body"], 120),
         items[j]["title"] or snippet(items[j]["body"], 120), items[i]["section"]]
        for (score, i, j), sts in zip(pairs[:500], readings, strict=False)
    ]  # fmt: skip
    full = [
        [round(float(sts), 2), round(score, 4), items[i]["id"], items[j]["id"], passage_text(items[i]),
         passage_text(items[j])]
        for (score, i, j), sts in zip(pairs, readings, strict=True)
    ]  # fmt: skip
    summary = (
        f"{thousands(len(pairs))} pares con lectura ≥ {decimal(threshold)}/5 (coseno ≥ {decimal(cosine, 3)})"
    )
    summary += f" en {corpus.name}"
    header = ["0–5", "coseno", "id A", "id B", "texto A", "texto B"]
    download = csv_file(f"duplicados-{corpus.name}", header, full)
    return rows, summary + _known_duplicates_note(corpus, pairs), download


def _known_duplicates_note(corpus: Corpus, pairs) -> str:
    if corpus.source != "bundled":
        return ""
    ids = [item["id"] for item in corpus.items]
    found = {frozenset((ids[i], ids[j])) for _, i, j in pairs}
    known = [frozenset(pair) for pair in load_news_duplicates()]
    return f"; de las {len(known)} historias contadas dos veces, aparecen {sum(p in found for p in known)}."


def _progress(progress, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)


# Introduction, about and start-up ---------------------------------------------------------------------
def model_card_url(spec: str) -> str | None:
    """Where a model's card can be read: its Hub page (the built-in model is multilingual-e5-small)."""
    from core.builtin import BUILTIN_PREFIX

    if spec.startswith(BUILTIN_PREFIX):
        return "https://huggingface.co/intfloat/multilingual-e5-small"
    if re.fullmatch(r"[\w.-]+/[\w.-]+", spec) and not os.path.exists(spec):
        return f"https://huggingface.co/{spec}"
    return None


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
    return (
        f"Un modelo de *embeddings* convierte cada frase en un vector: frases que significan lo mismo quedan "
        "cerca aunque usen otras palabras. "
        f"Modelo{'s' if len(specs) > 1 else ''}: {', '.join(cards)}{code}.\n\n"
        "**Similitud**: cuánto se parecen dos frases, de 0 a 5. · **Búsqueda semántica**: noticias por su "
        "significado, o tu propio archivo. · **Mapa de clusters**: el corpus en un mapa, por temas. · "
        "**Duplicados**: textos que cuentan lo mismo. · **Evaluación**: cómo puntúa el modelo en un conjunto "
        "STS en español (o en el tuyo). · **Acerca de**: el modelo, el corpus y cómo usarlo desde código."
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
    where = "tu archivo, solo en tu sesión" if corpus.source == "upload" else "el corpus de todos"
    lines += [
        "",
        "La lectura de 0 a 5 está calibrada para cada modelo con pares STS en español "
        "(`assets/sts_es_dev.jsonl` y `assets/sts_es_calibration.jsonl`).",
        "## Corpus",
        f"{corpus.name} ({where}): {thousands(len(corpus))} textos en {len(corpus.sections)} secciones.",
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
        "Este Space es también un servidor MCP: sus herramientas son `similarity`, `search` y `evaluate`. "
        "Añádelo a tu cliente MCP (Claude Desktop, Cursor…) con:",
        "```json",
        json.dumps({"mcpServers": {"embeddings-es": {"url": f"https://{host}/gradio_api/mcp/"}}}),
        "```",
    ]
    return "\n".join(lines)


def _training_summary(spec: str) -> str:
    from pathlib import Path

    from core.loader import model_path
    from core.runs import model_records

    summary, _ = model_records(Path(model_path(spec)))
    test, base = summary.get("test") or {}, summary.get("baseline_test") or {}
    key = "sts-test_spearman_cosine"
    if key in test:
        before = f"{base[key]:.4f} → " if key in base else ""
        return f"STS test Spearman {before}{test[key]:.4f}, {summary.get('global_step')} pasos"
    return "sin resumen (no hay metrics.json junto al modelo)"


# state: idle (never started: ready), running (loading the models), corpus (answers work; the served
# corpus is being embedded and mapped), faster (everything works; a faster variant is being built), done
_warm_up = {"state": "idle", "started": False}
_warm_up_lock = threading.Lock()
WARM_UP_MESSAGES = {
    "running": "⏳ **Cargando el modelo…** La primera respuesta tarda unos segundos más; la página ya "
    "funciona.",
    "corpus": "⏳ **Preparando el corpus de noticias** (embeddings y mapa). La similitud ya responde; la "
    "búsqueda y el mapa, en cuanto termine.",
    "faster": "⚙️ Todo funciona. En segundo plano se prepara una versión más rápida del modelo, que "
    "entrará sola, sin cambiar los resultados.",
}


def loading_message() -> str | None:
    """What a visitor reads while the warm-up runs; None once everything is prepared (or none runs)."""
    return WARM_UP_MESSAGES.get(_warm_up["state"])


def serving_threads() -> int:
    """Give torch the app's thread count, ``$WORKBENCH_TORCH_THREADS`` (default 1), before any request
    encodes; returns it."""
    import torch

    threads = int(os.environ.get("WORKBENCH_TORCH_THREADS", "1"))
    torch.set_num_threads(threads)
    return threads


def start_warm_up() -> None:
    """Start ``warm_up`` in a background thread, once per process (later calls do nothing)."""
    import threading

    with _warm_up_lock:
        if _warm_up["started"]:
            return
        _warm_up["started"] = True
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()


def warm_up() -> None:
    """Load the models (each on the best variant already built here, else torch fp32: never a build) and
    their calibration, then the first model's embeddings, index and 2D map of the served corpus, so that
    visitors do not wait; then, in the background, build, check and measure faster variants and swap
    them in (``ModelHandle.prepare``). A request that comes earlier waits only for what it needs, never
    for a build; a failure here is logged, then reported to the visitor who needs the missing piece.

    Torch gets ``$WORKBENCH_TORCH_THREADS`` threads (default 1), set before any request encodes: two
    quick requests and one heavy run at once on a 2-vCPU Space, and one thread each beats threads that
    fight for the same cores (README, "Performance")."""
    serving_threads()
    _warm_up["state"] = "running"
    try:
        for spec in app_models():
            model_handle(spec).calibration  # noqa: B018 (fits and keeps the calibration)
        _warm_up["state"] = "corpus"
        handle, corpus = model_handle(), served_corpus()
        embeddings = corpus_embeddings(handle, corpus, alone=alone)  # every core while no visitor asks
        get_index(embedding_key(handle, corpus), embeddings)
        umap_projection(embeddings, embedding_key(handle, corpus))
        served = ", ".join(f"{spec} on {model_handle(spec).backend}" for spec in app_models())
        logger.info("Ready: %s; %s (%d texts) embedded and mapped", served, corpus.name, len(corpus))
        _warm_up["state"] = "faster"
        prepare_faster()
    except Exception:
        logger.exception("Warm-up failed; requests will load what they need and report the error")
    finally:
        _warm_up["state"] = "done"


def prepare_faster() -> None:
    """Measure the backends' ranking for each served architecture on this CPU when it was never measured,
    then build and check the best variant of each model and serve it (visitors keep being answered
    meanwhile, on what serves now). Skipped with ``$WORKBENCH_PREPARE=0``."""
    from core.backend_choice import measure_ranking, ranking_path

    for spec in app_models():
        handle = model_handle(spec)
        skip = os.environ.get("WORKBENCH_PREPARE", "1") == "0" or handle.asked != "auto"
        if skip or handle.reference.device.type != "cpu":
            continue
        if not ranking_path(handle.reference).is_file():
            measure_ranking(handle.reference, handle.fingerprint)
        before = handle.backend
        if handle.prepare() != before:
            logger.info("%s: switched from %s to %s", spec, before, handle.backend)
    served = ", ".join(f"{spec} on {model_handle(spec).backend}" for spec in app_models())
    logger.info("Prepared: %s", served)
