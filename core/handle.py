"""One handle per served model: the spec, the loaded model, its fingerprint, backend and calibration.

``get_handle`` builds a handle once per (spec, device, backend) and keeps it pinned in the process'
cache (``core.cache``); everyone shares it and nobody mutates it. ``load_handle`` builds a private one
that the caller may change (the trainer fine-tunes its model). The app, the evaluation and the trainer
all get their models here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from core.backend_choice import with_backend
from core.backends import backend_choice, backend_name
from core.cache import CACHE
from core.calibration import StsScale
from core.fingerprint import model_fingerprint
from core.loader import load_model, resolve_spec

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class ModelHandle:
    """A loaded model with what every user of it needs to know.

    Attributes:
        spec: The spec it was loaded from (``core.loader``).
        model: The ``SentenceTransformer`` (on the backend named by ``backend``).
        fingerprint: Hash of the model's files: the key of every cache derived from the model.
        backend: What actually runs: one of ``core.backends.BACKENDS`` but ``auto``.
    """

    spec: str
    model: object
    fingerprint: str
    backend: str
    _calibration: StsScale | None = field(default=None, repr=False)
    _calibration_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _bulk: object = field(default=None, repr=False)
    _bulk_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def calibration(self) -> StsScale:
        """Cosine -> 0–5 STS score for this model, fitted on first use (``core.calibration``)."""
        with self._calibration_lock:
            if self._calibration is None:
                from core.calibration import fit_sts_scale

                self._calibration = fit_sts_scale(self.model, self.fingerprint)
            return self._calibration

    @property
    def bulk_model(self):
        """The model with every usable core, for long jobs while nothing else runs (an upload): ONNX
        Runtime and OpenVINO fix their threads when built, so these get a second engine with more
        threads, built on first use; torch backends share the process' setting (the model itself)."""
        from core.backends import variant
        from core.cpu import usable_cpus

        with self._bulk_lock:
            if self._bulk is None:
                engine = getattr(self.model[0], "model", None)
                threads = usable_cpus()
                if (
                    self.backend in ("onnx-int8", "openvino")
                    and getattr(engine, "threads", threads) < threads
                ):
                    try:
                        self._bulk = variant(self.model, self.fingerprint, self.backend, threads=threads)
                    except Exception as err:  # the serving engine does the job, only slower
                        logger.warning(
                            "No all-cores engine for %s (%s); uploads use the serving one", self.spec, err
                        )
                        self._bulk = self.model
                else:
                    self._bulk = self.model
            return self._bulk

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)


def load_handle(spec: str | None = None, device: str | None = None, backend: str | None = "torch"):
    """A new, private handle: load the model and wrap it (the caller may train or change it).

    Args:
        spec: Any spec of ``core.loader``; ``None`` means ``$MODEL_ID`` or the built-in model.
        device: ``cpu``, ``cuda``, ...; ``None`` lets sentence-transformers choose.
        backend: ``torch`` (the default here: a trainable model), ``auto`` or another of
            ``core.backends.BACKENDS``; ``None`` reads ``$WORKBENCH_BACKEND``.

    Raises:
        ModelLoadError: The spec names no loadable model, or the backend cannot be built.
    """
    spec = resolve_spec(spec)
    backend = backend_choice(backend)
    model = load_model(spec, device)
    fingerprint = model_fingerprint(spec)
    _lock_tokenizer(model)
    model = with_backend(model, fingerprint, backend)
    return ModelHandle(spec, model, fingerprint, backend_name(model))


def get_handle(spec: str | None = None, device: str | None = None, backend: str | None = None):
    """The shared handle of a model, loaded once per process, spec, device and backend.

    ``backend`` ``None`` reads ``$WORKBENCH_BACKEND`` (default ``auto``: the fastest backend that holds
    the quality bar for this model on this CPU, measured once and cached; ``core.backend_choice``). A
    caller of another model never waits for this one's loading; a second caller of the same model waits
    for the first load instead of loading again.
    """
    key = ("model", resolve_spec(spec), device, backend_choice(backend))
    return CACHE.get(key, lambda: load_handle(key[1], device, key[3]), pinned=True, size=lambda _: 0)


def _lock_tokenizer(model) -> None:
    """Make the shared model's tokenizer safe to call from several threads at once.

    A fast tokenizer sets padding and truncation on its Rust backend at every call; two requests that
    tokenize at the same moment can get each other's settings (seen under load: "expected sequence of
    length 15 at dim 1 (got 14)"). Tokenising is ~1% of a request, so one lock costs nothing.
    """
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or getattr(tokenizer, "_workbench_locked", False):
        return
    lock = threading.Lock()
    base = type(tokenizer)

    def locked_call(self, *args, **kwargs):
        with lock:
            return base.__call__(self, *args, **kwargs)

    tokenizer.__class__ = type(base.__name__, (base,), {"__call__": locked_call, "_workbench_locked": True})
