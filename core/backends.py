"""Inference backends: torch fp32, and ONNX Runtime int8 built from it and kept only if its quality holds.

``onnx-int8`` is the model's transformer exported to ONNX (eager attention, so ONNX Runtime fuses it),
optimised for BERT-like graphs and quantised to int8 dynamically, except the attention-output and
feed-forward-down projections, which stay fp32: quantising those too fails the quality bar on e5-small
(README, "Performance"). Tokenisation, prompts, pooling and normalisation stay sentence-transformers'
own: only the transformer's forward pass is swapped, so ``encode_query`` / ``encode_document`` work as
before.

A built variant is checked once against the fp32 model on bundled text (mean cosine of the embeddings
>= 0.995 and STS Spearman within 0.005); the build and the verdict are cached per model fingerprint.
``backend="auto"`` (the default of the app and the evaluation, overridable with ``$WORKBENCH_BACKEND``)
takes ``onnx-int8`` when it passed, else torch fp32.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from filelock import FileLock

from core.errors import ModelLoadError
from core.io import read_json, save_dir_atomically, write_file_atomically
from core.paths import cache_dir

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx-int8")
MIN_COSINE = 0.995
MAX_SPEARMAN_CHANGE = 0.005


class BackendError(ModelLoadError):
    """A backend could not be built or loaded; the message says what to do (callers that report a
    ``ModelLoadError`` to the user, such as the app, report this one too)."""


def backend_choice(backend: str | None = None) -> str:
    """``backend``, else ``$WORKBENCH_BACKEND``, else ``auto``; checked against ``BACKENDS``."""
    backend = backend or os.environ.get("WORKBENCH_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise BackendError(f"Unknown backend {backend!r}: use one of {', '.join(BACKENDS)}.")
    return backend


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

    def __call__(self, **features):
        import torch

        feed = {name: features[name].cpu().numpy().astype(np.int64) for name in self.inputs}
        (hidden,) = self.session.run(None, feed)
        return {"last_hidden_state": torch.from_numpy(hidden)}

    forward = __call__


def backend_name(model) -> str:
    """The backend a model runs on: ``torch`` or ``onnx-int8``."""
    return getattr(model, "backend_name", "torch")


def with_backend(model, fingerprint: str, backend: str | None = None, threads: int | None = None):
    """``model`` on the backend asked for: itself for ``torch``; for ``onnx-int8`` (or ``auto`` when its
    quality check passed) a shallow copy whose transformer runs in ONNX Runtime.

    Args:
        model: A loaded fp32 ``SentenceTransformer`` on the CPU (left unchanged).
        fingerprint: The model's fingerprint (``core.fingerprint.model_fingerprint``): the cache key.
        backend: ``auto``, ``torch`` or ``onnx-int8``; ``None`` reads ``$WORKBENCH_BACKEND``.
        threads: ONNX Runtime threads; ``None`` takes torch's current setting.

    Raises:
        BackendError: ``onnx-int8`` was asked for explicitly and cannot be built.
    """
    import torch

    backend = backend_choice(backend)
    if backend == "torch" or model.device.type != "cpu":
        return model
    try:
        folder, verdict = build_onnx_int8(model, fingerprint)
    except Exception as err:  # export and quantisation raise many kinds
        if backend == "auto":
            logger.warning("ONNX int8 backend unavailable (%s); using torch fp32", err)
            return model
        raise BackendError(f"Could not build the ONNX int8 backend: {err}. Use --backend torch.") from err
    if backend == "auto" and not verdict["passed"]:
        logger.info("ONNX int8 misses the quality bar for this model (%s); using torch fp32", verdict)
        return model
    return _onnx_model(model, folder / "model.onnx", threads or torch.get_num_threads())


def _onnx_model(model, path: Path, threads: int):
    import copy

    fast = copy.copy(model)  # modules are shared except the first, whose transformer is swapped
    fast._modules = dict(model._modules)
    first = copy.copy(model[0])
    first._modules = dict(model[0]._modules)
    del first._modules["model"]
    object.__setattr__(first, "model", OnnxTransformer(path, model[0].model.config, threads))
    fast._modules[next(iter(model._modules))] = first
    fast.backend_name = "onnx-int8"
    return fast


def build_onnx_int8(model, fingerprint: str) -> tuple[Path, dict]:
    """Export, optimise, quantise and check the model once; returns the folder and the quality verdict."""
    folder = cache_dir() / "onnx-int8" / fingerprint
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"onnx-int8-{fingerprint}.lock")):  # one build per model, across processes too
        verdict = read_json(folder / "quality.json")
        if (folder / "model.onnx").is_file() and "passed" in verdict:
            return folder, verdict
        logger.info("Building the ONNX int8 backend for %s (once, about a minute)", fingerprint)

        def save(out: str) -> None:
            Path(out).mkdir()
            with tempfile.TemporaryDirectory(prefix="onnx-int8-") as scratch:
                _export_and_quantise(model, Path(scratch), Path(out) / "model.onnx")

        save_dir_atomically(save, folder)
        verdict = quality_check(model, _onnx_model(model, folder / "model.onnx", 2))
        write_file_atomically(folder / "quality.json", lambda handle: json.dump(verdict, handle, indent=2))
        return folder, verdict


def _export_and_quantise(model, scratch: Path, target: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    hf = model[0].model
    config = hf.config
    with tempfile.TemporaryDirectory() as weights:  # eager attention: the pattern ONNX Runtime fuses
        hf.save_pretrained(weights)
        eager = AutoModel.from_pretrained(weights, attn_implementation="eager").eval()
    sample = model.tokenizer(["hola mundo", "una frase algo más larga"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    exported, optimised = scratch / "fp32.onnx", scratch / "optimised.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad():
        torch.onnx.export(
            Wrapped(eager),
            tuple(sample[name] for name in names),
            str(exported),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
    optimize_model(
        str(exported), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    ).save_model_to_file(str(optimised))
    graph = onnx.load(str(optimised), load_external_data=False).graph
    keep_fp32 = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name]
    quantize_dynamic(
        str(optimised),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=keep_fp32,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def quality_check(reference, variant, passages: int = 128) -> dict:
    """Mean cosine of ``variant``'s passage embeddings to ``reference``'s, and the STS Spearman change
    on the bundled STS test; ``passed`` when both meet the bar."""
    from core.data import load_news, load_sts
    from core.evaluators import sts_spearman

    texts = [f"{n['title']}. {n['body']}" for n in load_news()][:passages]
    ours, theirs = (
        m.encode_document(texts, batch_size=32, normalize_embeddings=True) for m in (variant, reference)
    )
    cosine = float(np.mean(np.sum(ours * theirs, axis=1)))
    pairs = load_sts("test")
    sts = SimpleNamespace(
        sentences1=[p["sentence1"] for p in pairs],
        sentences2=[p["sentence2"] for p in pairs],
        scores=[p["score"] for p in pairs],
    )
    spearman = [sts_spearman(m, sts)[0] for m in (reference, variant)]
    change = spearman[1] - spearman[0]
    return {
        "mean_cosine_to_fp32": cosine,
        "sts_spearman_fp32": spearman[0],
        "sts_spearman_change": change,
        "passed": cosine >= MIN_COSINE and abs(change) <= MAX_SPEARMAN_CHANGE,
    }
