"""Evaluate a model on a dataset, with results cached by (model fingerprint, dataset fingerprint).

The CLI and the app's evaluation tab both go through ``run_sts`` / ``run_retrieval``: a repeated
evaluation of the same model on the same data is read back instead of recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable

from core.cache import on_disk
from core.models.backend_choice import require_named
from core.models.backends import FIGURE_BACKEND
from core.models.fingerprint import model_fingerprint
from core.models.handle import get_handle
from core.models.loader import resolve_spec
from core.paths import cache_dir
from core.versions import library_versions
from evaluation.datasets import RetrievalDataset, STSDataset
from evaluation.metrics import evaluate_retrieval, evaluate_sts

logger = logging.getLogger(__name__)
CACHE_VERSION = 1
EVALUATION_LIBRARIES = ("sentence-transformers", "transformers", "torch")


def _cached(key: dict, compute: Callable[[], dict], use_cache: bool) -> dict:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir() / "evaluation" / f"{digest}.json"
    result, cached = on_disk(
        path,
        compute,
        lambda p: json.loads(p.read_text(encoding="utf-8")),
        lambda handle, value: json.dump(value, handle, ensure_ascii=False),
        valid=lambda _: use_cache,  # --no-cache computes again and keeps the new result
    )
    return result | {"cached": cached}


def _describe(task: str, spec: str, fingerprint: str, dataset, options: dict, compute) -> dict:
    key = {
        "v": CACHE_VERSION,
        "task": task,
        "model": fingerprint,
        "dataset": dataset.fingerprint,
        "options": options,
        "versions": library_versions(EVALUATION_LIBRARIES),
    }

    def full():
        return compute() | {
            "model": spec,
            "model_fingerprint": fingerprint,
            "dataset": dataset.name,
            "dataset_fingerprint": dataset.fingerprint,
            "options": options,
            "versions": library_versions(EVALUATION_LIBRARIES),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    return full, key


def _with_backend_used(spec: str, backend: str, evaluate: Callable) -> dict:
    """``evaluate(model)`` on the model under ``backend``, with the backend it actually ran on."""
    handle = get_handle(spec, backend=backend)
    return evaluate(handle.model) | {"backend": handle.backend}


def run_sts(
    spec: str | None,
    dataset: STSDataset,
    n_resamples: int = 1000,
    seed: int = 0,
    use_cache: bool = True,
    backend: str = FIGURE_BACKEND,
) -> dict:
    """STS evaluation record of one model on one dataset (see ``evaluate_sts``), cached; the model runs
    on ``backend`` (torch fp32 by default; never ``auto``: figures do not follow the speed choice)."""
    spec = resolve_spec(spec)
    backend = require_named(backend)
    options = {"n_resamples": n_resamples, "seed": seed, "backend": backend}
    full, key = _describe(
        "sts",
        spec,
        model_fingerprint(spec),
        dataset,
        options,
        lambda: _with_backend_used(
            spec, backend, lambda model: evaluate_sts(model, dataset, n_resamples, seed)
        ),
    )
    return _cached(key, full, use_cache)


def run_retrieval(
    spec: str | None,
    dataset: RetrievalDataset,
    use_cache: bool = True,
    backend: str = FIGURE_BACKEND,
    search: str = "dense",
) -> dict:
    """Retrieval evaluation record of one model on one dataset (see ``evaluate_retrieval``), cached; the
    model runs on ``backend`` (torch fp32 by default) and ranks by ``search`` (dense, bm25 or hybrid)."""
    spec = resolve_spec(spec)
    backend = require_named(backend)
    full, key = _describe(
        "retrieval",
        spec,
        model_fingerprint(spec),
        dataset,
        {"backend": backend, "search": search},
        lambda: _with_backend_used(
            spec, backend, lambda model: evaluate_retrieval(model, dataset, search=search)
        ),
    )
    return _cached(key, full, use_cache)
