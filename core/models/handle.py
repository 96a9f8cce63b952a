"""One handle per served model: the spec, the fp32 model, what serves now, its fingerprint and calibration.

``get_handle`` builds a handle once per (spec, device, backend) and keeps it pinned in the process'
cache (``core.cache``); everyone shares it and nobody mutates it. ``load_handle`` builds a private one
that the caller may change (the trainer fine-tunes its model). The app, the evaluation and the trainer
all get their models here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from core.cache import CACHE
from core.models.backend_choice import with_backend
from core.models.backends import backend_choice, backend_name
from core.models.calibration import StsScale
from core.models.fingerprint import model_fingerprint
from core.models.loader import load_model, resolve_spec

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class ModelHandle:
    """A loaded model with what every user of it needs to know.

    Attributes:
        spec: The spec it was loaded from (``core.models.loader``).
        reference: The torch fp32 ``SentenceTransformer``: figures (calibration, evaluation) and the
            quality checks run on it, whatever serves.
        fingerprint: Hash of the model's files: the key of every cache derived from the model.
        asked: The backend asked for (``auto`` or a name): ``auto`` handles may switch to a faster
            variant once it is built and checked (``prepare``), without a restart.
    """

    spec: str
    reference: object
    fingerprint: str
    asked: str = "torch"
    _serving: object = field(default=None, repr=False)
    _calibration: StsScale | None = field(default=None, repr=False)
    _calibration_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _bulk: object = field(default=None, repr=False)
    _bulk_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model(self):
        """The model that serves now: a variant when one is ready, else the fp32 reference."""
        return self._serving if self._serving is not None else self.reference

    @property
    def backend(self) -> str:
        """What actually serves: one of ``core.models.backends.BACKENDS`` but ``auto``."""
        return backend_name(self.model)

    def swap(self, model, only_over_fp32: bool = False) -> None:
        """Serve ``model`` from the next request on (a request under way finishes on the old one);
        ``only_over_fp32``: unless another variant was swapped in meanwhile (it wins)."""
        with self._bulk_lock:
            if only_over_fp32 and self._serving is not None:
                return
            self._serving, self._bulk = model, None
        logger.info("%s now serves on %s", self.spec, self.backend)

    def use_ready(self) -> str:
        """Serve the best variant already built and checked here, if fp32 still serves (loading or
        compiling it takes a second or two, off the request path); returns the backend serving after."""
        from core.models.backend_choice import ready_backend
        from core.models.backends import variant

        try:
            ready = ready_backend(self.reference, self.fingerprint)
            if ready != "torch" and self._serving is None and self.asked == "auto":
                self.swap(variant(self.reference, self.fingerprint, ready), only_over_fp32=True)
        except Exception as err:  # a broken build folder: fp32 keeps serving, the warm-up rebuilds it
            logger.warning("Could not load the ready %s variant (%s); serving torch fp32", self.spec, err)
        return self.backend

    def prepare(self) -> str:
        """Build and check the best variant for this handle (``auto`` only; a long job, run in the
        background) and serve it; returns the backend serving afterwards."""
        from core.models.backend_choice import prepare_backend
        from core.models.backends import variant

        if self.asked != "auto" or self.reference.device.type != "cpu":
            return self.backend
        best = prepare_backend(self.reference, self.fingerprint, apart=True)  # beside visitors
        if best != self.backend:
            self.swap(self.reference if best == "torch" else variant(self.reference, self.fingerprint, best))
        return self.backend

    @property
    def calibration(self) -> StsScale:
        """Cosine -> 0–5 STS score for this model, fitted on first use on torch fp32
        (``core.models.calibration``)."""
        with self._calibration_lock:
            if self._calibration is None:
                from core.models.calibration import fit_sts_scale

                self._calibration = fit_sts_scale(self.reference, self.fingerprint)
            return self._calibration

    @property
    def bulk_model(self):
        """The model with every usable core, for long jobs while nothing else runs (an upload): ONNX
        Runtime and OpenVINO fix their threads when built, so these get a second engine with more
        threads, built on first use; torch backends run with every core in the calling thread only
        (``AllCores``: torch's threads are per calling thread, so visitors' requests keep theirs)."""
        from core.models.backends import variant
        from core.models.cpu import usable_cpus

        with self._bulk_lock:
            if self._bulk is None:
                model = self.model
                engine = getattr(model[0], "model", None)
                threads = usable_cpus()
                if (
                    self.backend in ("onnx-int8", "openvino")
                    and getattr(engine, "threads", threads) < threads
                ):
                    try:
                        self._bulk = variant(self.reference, self.fingerprint, self.backend, threads=threads)
                    except Exception as err:  # the serving engine does the job, only slower
                        logger.warning(
                            "No all-cores engine for %s (%s); uploads use the serving one", self.spec, err
                        )
                        self._bulk = model
                elif self.backend in ("torch", "torch-bf16") and threads > _torch_threads():
                    self._bulk = AllCores(model, threads)
                else:
                    self._bulk = model
            return self._bulk

    @property
    def max_seq_length(self) -> int:
        return int(self.reference.max_seq_length)


class AllCores:
    """A torch model whose ``encode_document`` runs on ``threads`` threads in the calling thread (torch's
    OpenMP thread count is kept per thread: other threads' requests keep the serving count), then
    restores the serving count. Measured: an upload on torch took 3.7× the benchmark's time on one
    thread (docs/performance.md)."""

    def __init__(self, model, threads: int):
        self.model, self.threads = model, threads

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_document(self, *args, **kwargs):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self.model.encode_document(*args, **kwargs)
        finally:
            torch.set_num_threads(before)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def load_handle(
    spec: str | None = None,
    device: str | None = None,
    backend: str | None = "torch",
    texts: int = 0,
    model=None,
):
    """A new handle: load the model and wrap it (private unless ``model`` is a shared one).

    Args:
        spec: Any spec of ``core.models.loader``; ``None`` means ``$MODEL_ID`` or the built-in model.
        device: ``cpu``, ``cuda``, ...; ``None`` lets sentence-transformers choose.
        backend: ``torch`` (the default here: a trainable model), ``auto`` or another of
            ``core.models.backends.BACKENDS``; ``None`` reads ``$WORKBENCH_BACKEND``. ``auto`` never builds a
            variant for a small job (``core.models.backend_choice.with_backend``).
        texts: How many texts the caller will embed (``auto`` builds a variant only when that repays).
        model: An already loaded fp32 model of ``spec`` to wrap instead of loading it again.

    Raises:
        ModelLoadError: The spec names no loadable model, or the backend cannot be built.
    """
    spec = resolve_spec(spec)
    backend = backend_choice(backend)
    model = model if model is not None else load_model(spec, device)
    fingerprint = model_fingerprint(spec)
    _lock_tokenizer(model)
    serving = with_backend(model, fingerprint, backend, texts=texts)
    return ModelHandle(spec, model, fingerprint, backend, None if serving is model else serving)


def get_handle(spec: str | None = None, device: str | None = None, backend: str | None = None):
    """The shared handle of a model, loaded once per process, spec, device and backend; every handle of
    one spec and device shares one fp32 model.

    ``backend`` ``None`` reads ``$WORKBENCH_BACKEND`` (default ``auto``: torch fp32 at once, then the best
    variant already built and checked here, loaded in a thread of its own and swapped in;
    ``ModelHandle.prepare`` builds one, a long job for the background). A caller of
    another model never waits for this one's loading; a second caller of the same model waits for the
    first load instead of loading again.
    """
    spec, backend = resolve_spec(spec), backend_choice(backend)

    def load():
        shared = CACHE.get(
            ("fp32", spec, device), lambda: load_model(spec, device), pinned=True, size=lambda _: 0
        )
        if backend != "auto":
            return load_handle(spec, device, backend, model=shared)
        handle = load_handle(spec, device, "torch", model=shared)  # answers at once: nothing compiles here
        handle.asked = "auto"
        threading.Thread(target=handle.use_ready, name="ready-variant", daemon=True).start()
        return handle

    return CACHE.get(("model", spec, device, backend), load, pinned=True, size=lambda _: 0)


def _lock_tokenizer(model) -> None:
    """Make the shared model's tokenizer safe to call from several threads at once.

    A fast tokenizer sets padding and truncation on its Rust backend at every call; two requests that
    tokenize at the same moment can get each other's settings (seen under load: "expected sequence of
    length 15 at dim 1 (got 14)"). Tokenising is ~1% of a request, so one lock costs nothing.

    No supported API does this: transformers offers no thread-safe call and no hook around it, and
    sentence-transformers calls ``tokenizer(...)`` directly. Python looks ``__call__`` up on the class, so
    the lock goes on a subclass made for this one tokenizer (same name, same saved files); every other
    tokenizer, and this one's ``save_pretrained``, are left as they were.
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
