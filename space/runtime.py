"""The Space's runtime: which models it serves (``$MODELS``, ``$MODEL_ID``), the visitor's corpus or the
served one, requests counted while they run (a long job takes every core only while alone), the one
heavy slot, and the warm-up that loads everything in the background after the page is served."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from core import messages
from core.corpora.clusters import umap_projection
from core.corpora.corpus import Corpus, served_corpus
from core.corpora.embeddings import corpus_embeddings, embedding_key
from core.corpora.index import get_index
from core.corpora.lexical import lexical_index
from core.errors import InputError
from core.models.handle import ModelHandle, get_handle
from core.models.loader import resolve_spec

logger = logging.getLogger(__name__)


MAX_MODELS = 3


Warn = Callable[[str], None]


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


_heavy = threading.RLock()


@contextmanager
def heavy_slot(progress=None):
    """The one heavy computation at a time on the Space's two cores: an upload, an evaluation, or what a
    map, its duplicates or an export must compute that the cache does not hold yet (``space.pages.wiring``).
    A request whose results are cached never takes it, so it never waits behind one."""
    if not _heavy.acquire(blocking=False):
        report_progress(progress, 0.0, messages.WAITING_FOR_HEAVY)
        _heavy.acquire()
    try:
        yield
    finally:
        _heavy.release()


def alone() -> bool:
    """No other request runs or ran in the last ``QUIET_S`` seconds: a long job (the caller) may take
    every core for its next step without slowing a visitor who is clicking through the page."""
    with _jobs_lock:
        return _jobs["running"] <= 1 and time.monotonic() - _jobs["last_end"] >= QUIET_S


def report_progress(progress, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)


# state: idle (never started: ready), running (loading the models), corpus (answers work; the served
# corpus is being embedded and mapped), faster (everything works; a faster variant is being built), done
_warm_up = {"state": "idle", "started": False}


_warm_up_lock = threading.Lock()


def loading_message() -> str | None:
    """What a visitor reads while the warm-up runs; None once everything is prepared (or none runs)."""
    return messages.WARM_UP.get(_warm_up["state"])


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
    fight for the same cores (docs/performance.md)."""
    serving_threads()
    _warm_up["state"] = "running"
    try:
        for spec in app_models():
            model_handle(spec).calibration  # noqa: B018 (fits and keeps the calibration)
        _warm_up["state"] = "corpus"
        handle, corpus = model_handle(), served_corpus()
        embeddings = corpus_embeddings(handle, corpus, alone=alone)  # every core while no visitor asks
        get_index(embedding_key(handle, corpus), embeddings)
        lexical_index(corpus)  # the words' index of hybrid search, once for every model
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
    from core.models.backend_choice import measure_ranking, ranking_path

    for spec in app_models():
        handle = model_handle(spec)
        skip = os.environ.get("WORKBENCH_PREPARE", "1") == "0" or handle.asked != "auto"
        if skip or handle.reference.device.type != "cpu":
            continue
        if not ranking_path(handle.reference).is_file():
            measure_ranking(handle.reference, handle.fingerprint, apart=True)  # builds beside visitors
        before = handle.backend
        if handle.prepare() != before:
            logger.info("%s: switched from %s to %s", spec, before, handle.backend)
    served = ", ".join(f"{spec} on {model_handle(spec).backend}" for spec in app_models())
    logger.info("Prepared: %s", served)
