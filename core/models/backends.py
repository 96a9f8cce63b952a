"""Inference backends: torch fp32, torch bf16, ONNX Runtime int8 and OpenVINO, all built from the fp32 model.

Only the transformer's forward pass is swapped: tokenisation, prompts, pooling and normalisation stay
sentence-transformers' own, so ``encode_query`` / ``encode_document`` work as before, and every variant
returns float32 hidden states.

- ``torch-bf16``: the same module under CPU autocast to bfloat16 (matrix products in bf16 on AMX or
  AVX-512 BF16; layer norms and softmax stay float32). Emulated bf16 is slow: a candidate only where the
  CPU has it.
- ``onnx-int8``: the transformer exported to ONNX (eager attention, so ONNX Runtime fuses it), optimised
  for BERT-like graphs and quantised to int8 dynamically, the word-embedding table included, except the
  attention-output and feed-forward-down projections, which stay fp32 (quantising those too fails the
  quality bar on e5-small; docs/performance.md). Built once per model into the cache.
- ``openvino``: the transformer converted to OpenVINO's format once (weights stored fp16; OpenVINO does
  not read ONNX Runtime's int8 operators), compiled by its CPU plugin, which computes in bf16 where the CPU
  has AMX, else fp32; one stream per request slot (``openvino_config``).

``backend="auto"`` (the default of the app and ``trainer predict``; ``$WORKBENCH_BACKEND`` overrides it)
runs the best variant already built and checked here, and builds one only for jobs that repay it
(``core.models.backend_choice``, which also holds ``with_backend``). Figures run on torch fp32 by default.
Building keeps the exporters' and quantiser's warnings out of the terminal (``_quiet``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
from filelock import FileLock

from core.errors import ModelLoadError
from core.io import save_dir_atomically
from core.paths import cache_dir

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "torch-bf16", "onnx-int8", "openvino")
# What figures (evaluation, calibration, training) may run on: one named backend for every model compared,
# torch fp32 by default, so that a verdict never depends on the serving speed choice.
FIGURE_BACKENDS = BACKENDS[1:]
FIGURE_BACKEND = "torch"
FIGURE_BACKEND_HELP = (
    "backend every model of the run is evaluated on (default torch: fp32, so that figures never depend "
    "on the speed choice; auto is for serving)"
)
ONNX_BUILD = "v2"  # part of the ONNX file's cache folder: v2 stores the word embeddings as int8 rows


def onnx_build() -> str:
    """The ONNX build's name here: without VNNI (AVX2 only) the weights are quantised to 7 bits
    (``reduce_range``): ONNX Runtime's AVX2 int8 kernels saturate on 8-bit weights; on the AMD EPYC the
    8-bit build missed the bar (cosine 0.9988, Δρ −0.0081), the 7-bit one holds it (0.9990, −0.0028)."""
    from core.models.cpu import has_vnni

    return ONNX_BUILD if has_vnni() else f"{ONNX_BUILD}-r7"


class BackendError(ModelLoadError):
    """A backend could not be built or loaded; the message says what to do (callers that report a
    ``ModelLoadError`` to the user, such as the app, report this one too)."""


def backend_choice(backend: str | None = None) -> str:
    """``backend``, else ``$WORKBENCH_BACKEND``, else ``auto``; checked against ``BACKENDS``."""
    backend = backend or os.environ.get("WORKBENCH_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise BackendError(f"Unknown backend {backend!r}: use one of {', '.join(BACKENDS)}.")
    return backend


class Bf16Transformer:
    """The Hugging Face module run under CPU autocast to bfloat16, its output back in float32."""

    def __init__(self, module):
        self.module = module
        self.config = module.config

    def __call__(self, **features):
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self.module(**features)[0]
        return {"last_hidden_state": hidden.float()}

    forward = __call__


class OnnxTransformer:
    """Stands in for the Hugging Face module inside sentence-transformers' ``Transformer``: same
    inputs, same ``last_hidden_state`` output, computed by an ONNX Runtime session."""

    def __init__(self, path: Path, config, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.config = config
        self.path = path
        self.threads = threads

    def __call__(self, **features):
        import torch

        feed = {name: features[name].cpu().numpy().astype(np.int64) for name in self.inputs}
        (hidden,) = self.session.run(None, feed)
        return {"last_hidden_state": torch.from_numpy(hidden)}

    forward = __call__


class OpenVinoTransformer:
    """The same stand-in, computed by a model compiled with OpenVINO's CPU plugin (``openvino_config``).
    An infer request serves one call at a time: each thread that encodes (the app's requests) gets its
    own."""

    def __init__(self, path: Path, config, threads: int):
        import openvino

        core = openvino.Core()
        self.settings = openvino_config(threads)
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", self.settings)
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]
        self.config = config
        self.path = path
        self.threads = threads
        self._local = threading.local()

    def __call__(self, **features):
        import torch

        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        feed = {name: features[name].cpu().numpy().astype(np.int64) for name in self.inputs}
        hidden = request.infer(feed)[self.compiled.outputs[0]]
        return {"last_hidden_state": torch.from_numpy(np.asarray(hidden, dtype=np.float32))}

    forward = __call__


def openvino_config(threads: int, cpus: int | None = None) -> dict:
    """OpenVINO CPU settings for ``threads`` threads per request. A compiled model runs one request per
    *stream* at a time: with one stream, a visitor's two-sentence request waited behind an upload's
    batch (1.5 s measured); so one stream per ``threads`` of the usable cores, and requests in parallel."""
    from core.models.cpu import usable_cpus

    streams = max(1, (cpus or usable_cpus()) // max(1, threads))
    if streams == 1:
        return {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    return {"INFERENCE_NUM_THREADS": streams * threads, "NUM_STREAMS": streams}


def backend_name(model) -> str:
    """The backend a model runs on: one of ``BACKENDS`` but ``auto``."""
    return getattr(model, "backend_name", "torch")


def variant(model, fingerprint: str, name: str, threads: int | None = None):
    """``model`` with its transformer swapped for backend ``name`` (built on first use, then cached)."""
    import torch

    threads = threads or torch.get_num_threads()
    config = model[0].model.config
    if name == "torch":
        return model
    if name == "torch-bf16":
        return _swapped(model, Bf16Transformer(model[0].model), name)
    if name == "onnx-int8":
        return _swapped(model, OnnxTransformer(build_onnx_int8(model, fingerprint), config, threads), name)
    if name == "openvino":
        return _swapped(model, OpenVinoTransformer(build_openvino(model, fingerprint), config, threads), name)
    raise BackendError(f"Unknown backend {name!r}: use one of {', '.join(BACKENDS)}.")


def _swapped(model, transformer, name: str):
    import copy

    fast = copy.copy(model)  # modules are shared except the first, whose transformer is swapped
    fast._modules = dict(model._modules)
    first = copy.copy(model[0])
    first._modules = dict(model[0]._modules)
    first._modules.pop("model", None)  # absent when ``model`` is itself a variant
    object.__setattr__(first, "model", transformer)
    fast._modules[next(iter(model._modules))] = first
    fast.backend_name = name
    return fast


def build_onnx_int8(model, fingerprint: str) -> Path:
    """Export, optimise and quantise the model once (across processes too); returns the ONNX file."""

    def write(target: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="onnx-int8-") as scratch:
            _export_and_quantise(model, Path(scratch), target)

    return _built_once("onnx-int8", f"{fingerprint}-{onnx_build()}", "model.onnx", write, "1-2 minutes")


def build_openvino(model, fingerprint: str) -> Path:
    """Convert the model to OpenVINO's format once (weights stored as fp16; the CPU plugin computes in
    bf16 where the CPU has AMX or AVX-512 BF16, else in fp32); returns the ``.xml`` file."""

    def write(target: Path) -> None:
        import openvino
        import torch

        wrapped, sample, names = _traceable(model)
        with torch.no_grad():
            converted = openvino.convert_model(wrapped, example_input=sample)
        for port, name in zip(converted.inputs, names, strict=True):
            port.get_tensor().set_names({name})  # traced inputs are named after the wrapper's arguments
        openvino.save_model(converted, str(target), compress_to_fp16=True)

    return _built_once("openvino", fingerprint, "model.xml", write, "under a minute")


def is_built(name: str, fingerprint: str) -> bool:
    """Whether ``variant(model, fingerprint, name)`` needs no export or conversion now."""
    files = {
        "onnx-int8": cache_dir() / "onnx-int8" / f"{fingerprint}-{onnx_build()}" / "model.onnx",
        "openvino": cache_dir() / "openvino" / fingerprint / "model.xml",
    }
    return name not in files or files[name].is_file()


class _LibraryNoise(logging.Filter):
    """Drops what ONNX Runtime's quantiser and the exporters log on the root logger while building
    ("Please consider to run pre-processing before quantization", ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(part in record.pathname for part in ("onnxruntime", "onnx", "openvino", "torch"))


@contextlib.contextmanager
def _quiet():
    """Keep the libraries' warnings (TracerWarning, quantisation advice) out of the user's terminal; our
    own one-line steps say what happens."""
    noise = _LibraryNoise()
    root = logging.getLogger()
    targets = [root, *root.handlers]  # the root logger's own records, and those propagated to its handlers
    for target in targets:
        target.addFilter(noise)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for target in targets:
            target.removeFilter(noise)


def _built_once(kind: str, key: str, filename: str, write, duration: str) -> Path:
    """``<cache>/<kind>/<key>/<filename>``, made by ``write(path)`` once: under a file lock (one build
    across processes) and into a folder renamed into place (never half-written)."""
    folder = cache_dir() / kind / key
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{kind}-{key}.lock")):
        if not (folder / filename).is_file():
            logger.info("Building the %s backend for %s (once, %s)", kind, key, duration)
            for stale in folder.parent.glob(f".{key}-*"):  # staging of a build that was stopped
                shutil.rmtree(stale, ignore_errors=True)

            def save(out: str) -> None:
                Path(out).mkdir()
                with _quiet():
                    write(Path(out) / filename)

            save_dir_atomically(save, folder)
    return folder / filename


def _traceable(model):
    """The transformer as a module of positional tensors (eager attention: the plain pattern that ONNX
    Runtime and OpenVINO fuse), and a sample input."""
    import torch
    from transformers import AutoModel

    with tempfile.TemporaryDirectory() as weights:
        model[0].model.save_pretrained(weights)
        eager = AutoModel.from_pretrained(weights, attn_implementation="eager").eval()
    sample = model.tokenizer(["hola mundo", "una frase algo más larga"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    return Wrapped(eager), tuple(sample[name] for name in names), names


def _export_and_quantise(model, scratch: Path, target: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model[0].model.config
    wrapped, sample, names = _traceable(model)
    exported, optimised, quantised = scratch / "fp32.onnx", scratch / "optimised.onnx", scratch / "int8.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad():  # the TorchScript exporter: its graph is the one ONNX Runtime's optimiser fuses
        torch.onnx.export(
            wrapped,
            sample,
            str(exported),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False  # keep the word-embedding Gather, which is stored as int8 below
    optimize_model(
        str(exported),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
    ).save_model_to_file(str(optimised))
    graph = onnx.load(str(optimised), load_external_data=False).graph
    keep_fp32 = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name]
    quantize_dynamic(
        str(optimised),
        str(quantised),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=onnx_build().endswith("-r7"),
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=keep_fp32,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    graph_model = onnx.load(str(quantised))
    _quantise_word_embeddings(graph_model, config.vocab_size)
    onnx.save(graph_model, str(target))


def _quantise_word_embeddings(graph_model, vocab_size: int) -> None:
    """Store the word-embedding table (most of a multilingual model's bytes) as int8 with one scale per
    row: ``Gather`` of the int8 rows times ``Gather`` of their scales. ONNX Runtime's own ``Gather``
    quantisation keeps one scale for the whole table, which costs e5-small 0.005 of STS Spearman."""
    import onnx
    from onnx import helper, numpy_helper

    graph = graph_model.graph
    tables = {t.name: t for t in graph.initializer if len(t.dims) == 2 and t.dims[0] == vocab_size}
    gather = next((n for n in graph.node if n.op_type == "Gather" and n.input[0] in tables), None)
    if gather is None:
        raise RuntimeError("no word-embedding Gather found in the ONNX graph")
    table = numpy_helper.to_array(tables[gather.input[0]]).astype(np.float32)
    scales = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-8) / 127.0
    rows = np.clip(np.rint(table / scales), -127, 127).astype(np.int8)
    graph.initializer.remove(tables[gather.input[0]])
    name = gather.input[0]
    graph.initializer.extend(
        [
            numpy_helper.from_array(rows, f"{name}_int8"),
            numpy_helper.from_array(scales.astype(np.float32), f"{name}_scale"),
        ]
    )
    ids, out = gather.input[1], gather.output[0]
    index = list(graph.node).index(gather)
    graph.node.remove(gather)
    for offset, node in enumerate(
        [
            helper.make_node("Gather", [f"{name}_int8", ids], [f"{out}_int8"], name=f"{gather.name}_int8"),
            helper.make_node("Gather", [f"{name}_scale", ids], [f"{out}_scale"], name=f"{gather.name}_scale"),
            helper.make_node("Cast", [f"{out}_int8"], [f"{out}_float"], to=onnx.TensorProto.FLOAT),
            helper.make_node(
                "Mul", [f"{out}_float", f"{out}_scale"], [out], name=f"{gather.name}_dequantise"
            ),
        ]
    ):
        graph.node.insert(index + offset, node)
