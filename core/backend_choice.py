"""Which backend is fastest here, at the quality bar: measured once per model and CPU kind, then cached.

``backend="auto"`` (the default of the app, ``trainer predict`` and the evaluation) asks ``chosen_backend``.
On the first call for a (model, CPU) it builds every candidate this CPU can run (``core.backends``),
checks each against torch fp32 on the bundled STS dev and test pairs and 128 bundled passages (mean
cosine of the embeddings >= 0.995 and STS Spearman within 0.005, all in float32), times those that pass
on the same passages at batch 64, and keeps the fastest. The verdict, with every figure behind it, is
written to ``<cache>/backends/<model fingerprint>-<CPU key>.json``; later starts on the same kind of CPU
read it (a few milliseconds), a different CPU measures again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from core.backends import BackendError, backend_choice, variant
from core.cpu import cpu_info, cpu_key, has_bf16
from core.io import read_json, write_file_atomically
from core.paths import cache_dir

logger = logging.getLogger(__name__)

MIN_COSINE = 0.995
MAX_SPEARMAN_CHANGE = 0.005
TIMING_BATCH = 64
TIMING_ROUNDS = 3  # each candidate timed this many times, interleaved; the best counts (noisy machines)
VERDICT_VERSION = 1  # bump when the measurement changes, so that old verdicts are measured again


def candidates() -> list[str]:
    """The backends worth measuring on this CPU, torch fp32 first (the reference, always available)."""
    import importlib.util

    names = ["torch"]
    if has_bf16():  # emulated bf16 is several times slower than fp32: not a candidate
        names.append("torch-bf16")
    for name, module in (("onnx-int8", "onnxruntime"), ("openvino", "openvino")):
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


@dataclass
class QualityCheck:
    """The texts a variant is checked and timed on: bundled STS dev + test pairs and bundled passages."""

    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]
    passages: list[str]

    @classmethod
    def bundled(cls, passages: int = 128) -> QualityCheck:
        from core.data import load_news, load_sts

        pairs = load_sts("dev") + load_sts("test")
        return cls(
            [p["sentence1"] for p in pairs],
            [p["sentence2"] for p in pairs],
            [p["score"] for p in pairs],
            [f"{n['title']}. {n['body']}" for n in load_news()][:passages],
        )

    def embed(self, model) -> tuple[np.ndarray, float]:
        """Float32 passage embeddings and the STS Spearman of the float32 cosines."""
        from core.evaluators import sts_spearman

        passages = model.encode_document(self.passages, batch_size=32, normalize_embeddings=True)
        return np.asarray(passages, dtype=np.float32), sts_spearman(model, self)[0]

    def compare(self, reference: tuple[np.ndarray, float], variant) -> dict:
        """How close ``variant`` comes to the reference (``embed`` of the fp32 model)."""
        passages, spearman = self.embed(variant)
        cosines = np.sum(passages * reference[0], axis=1) / (
            np.linalg.norm(passages, axis=1) * np.linalg.norm(reference[0], axis=1) + 1e-12
        )
        change = spearman - reference[1]
        return {
            "mean_cosine_to_fp32": float(np.mean(cosines)),
            "sts_spearman": spearman,
            "sts_spearman_change": change,
            "pairs": len(self.scores),
            "passed": bool(np.mean(cosines) >= MIN_COSINE and abs(change) <= MAX_SPEARMAN_CHANGE),
        }

    def time(self, model) -> float:
        """Seconds to embed the passages at batch ``TIMING_BATCH``."""
        started = time.perf_counter()
        model.encode_document(self.passages, batch_size=TIMING_BATCH)
        return time.perf_counter() - started


def with_backend(model, fingerprint: str, backend: str | None = None, threads: int | None = None):
    """``model`` on the backend asked for: itself for ``torch``; for ``auto`` the fastest variant that
    holds the quality bar on this CPU (``chosen_backend``); else that variant.

    Args:
        model: A loaded fp32 ``SentenceTransformer`` (left unchanged; not on the CPU: returned as is).
        fingerprint: The model's fingerprint (``core.fingerprint.model_fingerprint``): the cache key.
        backend: One of ``BACKENDS``; ``None`` reads ``$WORKBENCH_BACKEND``.
        threads: Threads of ONNX Runtime / OpenVINO; ``None`` takes torch's current setting.

    Raises:
        BackendError: A backend asked for by name cannot be built here (``auto`` falls back to torch).
    """
    asked = backend = backend_choice(backend)
    if backend == "torch" or model.device.type != "cpu":
        return model
    if backend == "auto":
        try:
            backend = chosen_backend(model, fingerprint)
        except Exception as err:  # measuring must never keep the model from serving
            logger.warning("Could not measure the backends here (%s); using torch fp32", err)
            return model
    try:
        return variant(model, fingerprint, backend, threads)
    except Exception as err:  # export, quantisation and compilation raise many kinds
        if asked == "auto":
            logger.warning("Backend %s unavailable (%s); using torch fp32", backend, err)
            return model
        raise BackendError(f"Could not build the {backend} backend: {err}. Use --backend torch.") from err


def verdict_path(fingerprint: str) -> Path:
    return cache_dir() / "backends" / f"{fingerprint}-{cpu_key()}.json"


def chosen_backend(model, fingerprint: str) -> str:
    """The fastest backend at the quality bar for this model on this CPU: read from the cache, else
    measured now (once per model and CPU kind, across processes too) and cached."""
    path = verdict_path(fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        verdict = read_json(path)
        if verdict.get("version") == VERDICT_VERSION and verdict.get("chosen") in candidates():
            return verdict["chosen"]
        logger.info("Measuring the inference backends on this CPU (once for this model and CPU)")
        verdict = measure_backends(model, fingerprint)
        try:
            write_file_atomically(path, lambda handle: handle.write(_json(verdict)))
        except OSError as err:  # a full or read-only disk: serve the choice, measure again next start
            logger.warning("Could not keep the backend verdict in %s: %s", path, err)
    logger.info("Backend %s chosen: %s", verdict["chosen"], _summary(verdict))
    return verdict["chosen"]


def measure_backends(model, fingerprint: str, names: list[str] | None = None, check=None) -> dict:
    """Build, check and time each candidate; the verdict names the fastest that passed.

    Args:
        model: The fp32 ``SentenceTransformer`` on the CPU (the reference; left unchanged).
        fingerprint: Its fingerprint (the key of built variants).
        names: The candidates (default ``candidates()``); torch is always measured, as the reference.
        check: A ``QualityCheck`` (default the bundled one).
    """
    check = check or QualityCheck.bundled()
    names = ["torch"] + [name for name in (names or candidates()) if name != "torch"]
    reference = check.embed(model)
    rows: dict[str, dict] = {
        "torch": {"passed": True, "mean_cosine_to_fp32": 1.0, "sts_spearman_change": 0.0}
    }
    variants = {"torch": model}
    for name in names[1:]:
        try:
            variants[name] = variant(model, fingerprint, name)
            rows[name] = check.compare(reference, variants[name])
        except Exception as err:  # a candidate that cannot be built or run is left out, with the reason
            logger.warning("Backend %s unavailable here: %s", name, err)
            rows[name] = {"passed": False, "error": f"{type(err).__name__}: {err}"}
    passing = [name for name in names if rows[name]["passed"]]
    for model_ in (variants[name] for name in passing):  # warm-up: first calls allocate and compile
        model_.encode_document(check.passages[:8], batch_size=8)
    times: dict[str, list[float]] = {name: [] for name in passing}
    for _ in range(TIMING_ROUNDS):
        for name in passing:
            times[name].append(check.time(variants[name]))
    for name in passing:
        rows[name]["sentences_per_s"] = len(check.passages) / min(times[name])
        rows[name]["speedup"] = min(times["torch"]) / min(times[name])
        rows[name]["timings_s"] = times[name]
    chosen = max(passing, key=lambda name: rows[name]["sentences_per_s"])
    return {
        "version": VERDICT_VERSION,
        "chosen": chosen,
        "candidates": rows,
        "machine": cpu_info(),
        "bar": {"min_cosine": MIN_COSINE, "max_spearman_change": MAX_SPEARMAN_CHANGE},
        "timing": {
            "passages": len(check.passages),
            "batch": TIMING_BATCH,
            "rounds": TIMING_ROUNDS,
            "threads": _threads(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _summary(verdict: dict) -> str:
    rows = verdict["candidates"]
    return ", ".join(
        f"{name} {row['speedup']:.2f}×"
        if "speedup" in row
        else f"{name} {'failed' if 'error' in row else 'below the bar'}"
        for name, row in rows.items()
    )


def _json(verdict: dict) -> str:
    import json

    return json.dumps(verdict, indent=2, default=float)
