"""Which backend serves a model here, and when a faster one is worth building.

Speed belongs to the architecture and the CPU; quality to the weights. So two small records, both in
``<cache>/backends/``:

- **the ranking** of the backends for an architecture on this CPU kind (``ranking-<arch>-<cpu>.json``):
  a fixed preference order per CPU feature set (``preference``), replaced only by a candidate that beats
  the preferred one by ``MARGIN`` in every timing round (``measure_ranking``; the verdict records the
  margins). A freshly fine-tuned model reuses its architecture's ranking;
- **the quality check** of each built variant of these weights on this CPU (``quality-<fingerprint>-
  <cpu>.json``): mean cosine to torch fp32 >= 0.995 and STS Spearman within 0.005 on the bundled STS dev
  and test pairs and 128 passages, all in float32 (``QualityCheck``).

``backend="auto"`` (serving: the app, ``trainer predict``) never makes a small job wait: it runs on the
best variant that is already built and checked (``ready_backend``), else on torch fp32. Building starts
only for a job large enough to repay it (``worth_building``), or in the app's background after it serves
(``prepare_backend``). Figures (evaluation, calibration, training) always run on torch fp32 unless told
otherwise: they never depend on this choice.

These are records, not caches: a measurement is a job someone starts (the warm-up, ``benchmarks
backends``), never a side effect of a read, and several processes merge their verdicts into one file under
a lock (``_update``). So they are not kept through ``core.cache.on_disk`` ("read back, else compute"),
which the derived arrays and results use.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from core.io import read_json, write_file_atomically
from core.models.apart import build_apart
from core.models.backends import BackendError, backend_choice, is_built, variant
from core.models.cpu import cpu_info, cpu_key
from core.paths import cache_dir

logger = logging.getLogger(__name__)

MIN_COSINE = 0.995
MAX_SPEARMAN_CHANGE = 0.005
MARGIN = 0.15  # a candidate replaces the preferred backend only when this much faster in every round
TIMING_BATCH = 64
TIMING_ROUNDS = 3
VERDICT_VERSION = 2  # 2: ranking per architecture, quality per weights (1: one verdict per model)
# Texts below which building a variant does not repay itself when nothing is measured yet (ONNX int8 on
# the AMD EPYC: ~80 s to build and check, 1.5x torch fp32 at ~16 texts/s; docs/performance.md).
DEFAULT_BREAK_EVEN = 4000


def preference() -> list[str]:
    """The order backends are tried in on this CPU, fastest expected first, torch fp32 last; only those
    installed here. AMX or AVX-512 BF16: OpenVINO (bf16 kernels), then torch under bf16 autocast;
    otherwise ONNX Runtime int8 first (VNNI or AVX2 int8 kernels), then OpenVINO (fp32)."""
    import importlib.util

    flags = set(cpu_info()["vector_flags"])
    if flags & {"avx512_bf16", "amx_bf16"}:
        order = ["openvino", "torch-bf16", "onnx-int8"]
    else:  # emulated bf16 is several times slower than fp32: never a candidate
        order = ["onnx-int8", "openvino"]
    modules = {"onnx-int8": "onnxruntime", "openvino": "openvino", "torch-bf16": "torch"}
    return [name for name in order if importlib.util.find_spec(modules[name]) is not None] + ["torch"]


def candidates() -> list[str]:
    """Every backend worth measuring here, torch fp32 first (the reference)."""
    return ["torch"] + [name for name in preference() if name != "torch"]


def architecture_key(model) -> str:
    """What speed depends on besides the CPU: the transformer's shape, not its weights."""
    config = model[0].model.config
    fields = (
        "model_type",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
    )
    shape = {name: getattr(config, name, None) for name in fields} | {"max_seq": model.max_seq_length}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]


def ranking_path(model) -> Path:
    return cache_dir() / "backends" / f"ranking-{architecture_key(model)}-{cpu_key()}.json"


def quality_path(fingerprint: str) -> Path:
    return cache_dir() / "backends" / f"quality-{fingerprint}-{cpu_key()}.json"


def ranking(model) -> list[str]:
    """The backends in the order to try them for this architecture here: measured when a verdict
    exists, else ``preference()``."""
    verdict = read_json(ranking_path(model))
    installed = preference()
    if verdict.get("version") == VERDICT_VERSION and isinstance(verdict.get("order"), list):
        order = [name for name in verdict["order"] if name in installed]
        return order + [name for name in installed if name not in order]
    return installed


def quality(fingerprint: str) -> dict:
    """The quality checks already made for these weights on this CPU, per backend."""
    record = read_json(quality_path(fingerprint))
    return record if record.get("version") == VERDICT_VERSION else {"version": VERDICT_VERSION}


def ready_backend(model, fingerprint: str) -> str:
    """The best backend that needs no work now: built, and checked for these weights; else torch."""
    checked = quality(fingerprint)
    for name in ranking(model):
        if name == "torch":
            return "torch"
        if checked.get(name, {}).get("passed") and is_built(name, fingerprint):
            return name
    return "torch"


def prepare_backend(model, fingerprint: str, check: QualityCheck | None = None, apart: bool = False) -> str:
    """The best backend for these weights, building and checking what is missing, one candidate at a
    time, best first: stops at the first that passes (torch when none does). Seconds to minutes the
    first time (each step says so in the log); a lookup after that. ``apart``: build in a child process
    (``core.models.apart``), for a job that runs beside visitors."""
    for name in ranking(model):
        if name == "torch":
            return "torch"
        row = quality(fingerprint).get(name)
        if row is not None and not row.get("passed"):
            continue  # failed before for these weights: not built again
        if row is None:
            row = check_variant(model, fingerprint, name, check, apart=apart)
        if row.get("passed"):
            return name
    return "torch"


def check_variant(
    model, fingerprint: str, name: str, check: QualityCheck | None = None, apart: bool = False
) -> dict:
    """Build ``name`` for these weights (if not built; in a child process when ``apart``), compare it with
    torch fp32, record and return the verdict; the variant is freed afterwards."""
    check = check or QualityCheck.bundled()
    started = time.perf_counter()
    try:
        if is_built(name, fingerprint):  # else the build logs its own line, with its duration
            logger.info("Backend %s: built before; checking it against torch fp32", name)
        elif apart:
            build_apart(model, fingerprint, name)
        fast = variant(model, fingerprint, name)
        build_s = time.perf_counter() - started
        row = check.compare(check.reference(model, fingerprint), fast)
        del fast
    except Exception as err:  # export, quantisation and compilation raise many kinds
        logger.warning("Backend %s unavailable here: %s", name, err)
        row, build_s = {"passed": False, "error": f"{type(err).__name__}: {err}"}, 0.0
    gc.collect()
    row |= {"seconds": round(time.perf_counter() - started, 1), "build_seconds": round(build_s, 1)}
    logger.info(
        "Backend %s %s the quality bar (%s)",
        name,
        "holds" if row["passed"] else "misses",
        _quality_summary(row),
    )
    _update(quality_path(fingerprint), {name: row})
    return row


def worth_building(model, texts: int) -> bool:
    """Whether a job of ``texts`` texts repays building and checking the best variant."""
    limit = break_even(model)
    return texts >= DEFAULT_BREAK_EVEN if limit is None else texts > limit


def break_even(model) -> float | None:
    """Texts from which building and checking the best variant repays itself, from the measured ranking
    (its build and check time against the time saved per text); infinite when no variant is faster than
    fp32, None when nothing is measured."""
    verdict = read_json(ranking_path(model))
    rows, order = verdict.get("candidates", {}), verdict.get("order", [])
    best = next((name for name in order if name != "torch"), None)
    try:
        saved = 1 / rows["torch"]["sentences_per_s"] - 1 / rows[best]["sentences_per_s"]
        return rows[best]["seconds"] / saved if saved > 0 else float("inf")
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def with_backend(
    model, fingerprint: str, backend: str | None = None, threads: int | None = None, texts: int = 0
):
    """``model`` on the backend asked for.

    Args:
        model: A loaded fp32 ``SentenceTransformer`` (left unchanged; not on the CPU: returned as is).
        fingerprint: The model's fingerprint (``core.models.fingerprint.model_fingerprint``).
        backend: One of ``BACKENDS``; ``None`` reads ``$WORKBENCH_BACKEND``. ``auto``: the best variant
            already built and checked, or, for a job of at least the break-even size, the best one after
            building it; else torch fp32. A named backend is built if needed.
        threads: Threads of ONNX Runtime / OpenVINO; ``None`` takes torch's current setting.
        texts: How many texts the job embeds (``auto`` builds only when that repays it).

    Raises:
        BackendError: A backend asked for by name cannot be built here (``auto`` falls back to torch).
    """
    asked = backend = backend_choice(backend)
    if backend == "torch" or model.device.type != "cpu":
        return model
    if backend == "auto":
        try:
            large = texts and worth_building(model, texts)
            backend = prepare_backend(model, fingerprint) if large else ready_backend(model, fingerprint)
        except Exception as err:  # choosing must never keep the model from serving
            logger.warning("Could not choose a backend here (%s); using torch fp32", err)
            return model
        if backend == "torch":
            return model
    try:
        return variant(model, fingerprint, backend, threads)
    except Exception as err:  # export, quantisation and compilation raise many kinds
        if asked == "auto":
            logger.warning("Backend %s unavailable (%s); using torch fp32", backend, err)
            return model
        raise BackendError(f"Could not build the {backend} backend: {err}. Use --backend torch.") from err


@dataclass
class QualityCheck:
    """The texts a variant is checked and timed on: bundled STS dev + test pairs and bundled passages."""

    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]
    passages: list[str]

    @classmethod
    def bundled(cls, passages: int = 128) -> QualityCheck:
        from core.corpora.data import load_news, load_sts

        pairs = load_sts("dev") + load_sts("test")
        return cls(
            [p["sentence1"] for p in pairs],
            [p["sentence2"] for p in pairs],
            [p["score"] for p in pairs],
            [f"{n['title']}. {n['body']}" for n in load_news()][:passages],
        )

    def embed(self, model) -> tuple[np.ndarray, float]:
        """Float32 passage embeddings and the STS Spearman of the float32 cosines."""
        from core.models.evaluators import sts_spearman

        passages = model.encode_document(self.passages, batch_size=32, normalize_embeddings=True)
        return np.asarray(passages, dtype=np.float32), sts_spearman(model, self)[0]

    def reference(self, model, fingerprint: str) -> tuple[np.ndarray, float]:
        """``embed`` of the fp32 model, computed once per model and process (each check reuses it)."""
        key = (fingerprint, id(model), len(self.passages), len(self.scores))
        if _references.get("key") != key:
            _references.update(key=key, value=self.embed(model))
        return _references["value"]

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


_references: dict = {}


def measure_ranking(
    model, fingerprint: str, names: list[str] | None = None, check=None, apart: bool = False
) -> dict:
    """Time every candidate against torch fp32, one variant in memory at a time, and rank them.

    Each candidate is built (or loaded), checked for these weights, warmed up, then timed
    ``TIMING_ROUNDS`` times, each round right after a torch fp32 round, so that every round gives a
    speed-up measured under the same load; then it is freed. The preferred order stands unless a
    candidate beats the one above it by ``MARGIN`` in every round (``rank``).

    Args:
        model: The fp32 ``SentenceTransformer`` on the CPU (the reference; left unchanged).
        fingerprint: Its fingerprint (the key of built variants and of the quality check).
        names: The candidates in preference order (default ``preference()``).
        check: A ``QualityCheck`` (default the bundled one).
        apart: Build missing variants in a child process (``core.models.apart``).

    Returns:
        The verdict, also written to ``ranking_path(model)``.
    """
    check = check or QualityCheck.bundled()
    order = [name for name in (names or preference()) if name != "torch"] + ["torch"]
    rows: dict[str, dict] = {"torch": {"passed": True, "mean_cosine_to_fp32": 1.0, "speedups": []}}
    torch_times: list[float] = []
    model.encode_document(check.passages[:8], batch_size=8)  # warm-up: first calls allocate
    for name in order[:-1]:
        row = quality(fingerprint).get(name) or check_variant(model, fingerprint, name, check, apart=apart)
        rows[name] = dict(row)
        if not row.get("passed"):
            continue
        fast = variant(model, fingerprint, name)
        fast.encode_document(check.passages[:8], batch_size=8)
        speedups, times = [], []
        for _ in range(TIMING_ROUNDS):
            torch_times.append(check.time(model))
            times.append(check.time(fast))
            speedups.append(torch_times[-1] / times[-1])
        rows[name] |= {
            "speedups": speedups,
            "timings_s": times,
            "sentences_per_s": len(check.passages) / min(times),
        }
        del fast
        gc.collect()
        logger.info("Backend %s: %s× torch fp32 per round", name, ", ".join(f"{s:.2f}" for s in speedups))
    if not torch_times:
        torch_times.append(check.time(model))
    rows["torch"] |= {
        "speedups": [1.0] * TIMING_ROUNDS,
        "sentences_per_s": len(check.passages) / min(torch_times),
    }
    final, margins = rank(order, rows)
    slower = [name for name in final if name != "torch" and np.median(rows[name].get("speedups") or [0]) < 1]
    if slower:  # a variant slower than torch fp32 in most rounds never serves
        final = [name for name in final if name not in slower and name != "torch"] + ["torch"] + slower
    verdict = {
        "version": VERDICT_VERSION,
        "order": final,
        "chosen": final[0],
        "preference": order,
        "margins": margins,
        "candidates": rows,
        "machine": cpu_info(),
        "bar": {"min_cosine": MIN_COSINE, "max_spearman_change": MAX_SPEARMAN_CHANGE, "margin": MARGIN},
        "timing": {
            "passages": len(check.passages),
            "batch": TIMING_BATCH,
            "rounds": TIMING_ROUNDS,
            "threads": _threads(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = ranking_path(model)
    try:
        write_file_atomically(path, lambda handle: handle.write(json.dumps(verdict, indent=2, default=float)))
    except OSError as err:  # a full or read-only disk: the order serves now, measured again next time
        logger.warning("Could not keep the backend ranking in %s: %s", path, err)
    logger.info("Backend ranking here: %s", " > ".join(final))
    return verdict


def rank(order: list[str], rows: dict) -> tuple[list[str], dict]:
    """The preference ``order`` (torch last) with the failing candidates dropped to the end, and a
    candidate moved above another only when its speed-up beats the other's by ``MARGIN`` in every
    round: noise between rounds never reorders them. Returns the order and, per adjacent pair kept,
    the smallest per-round ratio of their speed-ups (the margin by which the upper one won or held)."""
    passing = [name for name in order if rows.get(name, {}).get("passed") and rows[name].get("speedups")]
    ranked: list[str] = []
    for name in passing:  # insertion: climb over each one above only by a clear margin
        position = len(ranked)
        while position > 0 and _beats(rows[name], rows[ranked[position - 1]]):
            position -= 1
        ranked.insert(position, name)
    margins = {
        f"{upper}>{lower}": _min_ratio(rows[upper], rows[lower])
        for upper, lower in zip(ranked, ranked[1:], strict=False)
    }
    return ranked + [name for name in order if name not in ranked], margins


def _min_ratio(upper: dict, lower: dict) -> float:
    return round(min(a / b for a, b in zip(upper["speedups"], lower["speedups"], strict=False)), 3)


def _beats(challenger: dict, incumbent: dict) -> bool:
    return _min_ratio(challenger, incumbent) >= 1 + MARGIN


def _update(path: Path, entries: dict) -> None:
    """Merge ``entries`` into the JSON record at ``path`` (under a lock; a full disk is only logged)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock"))):
            record = read_json(path)
            record = (record if record.get("version") == VERDICT_VERSION else {}) | entries
            record["version"] = VERDICT_VERSION
            text = json.dumps(record, indent=2, default=float)
            write_file_atomically(path, lambda handle: handle.write(text))
    except OSError as err:
        logger.warning("Could not keep %s: %s", path, err)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _quality_summary(row: dict) -> str:
    if "error" in row:
        return row["error"][:120]
    return f"cosine {row['mean_cosine_to_fp32']:.4f}, Δρ {row['sts_spearman_change']:+.4f}"


def describe(model) -> str:
    """One line on the ranking in force here (for logs and ``about``)."""
    verdict = read_json(ranking_path(model))
    source = "measured" if verdict.get("version") == VERDICT_VERSION else "preferred for this CPU"
    return f"{' > '.join(ranking(model))} ({source})"


def require_named(backend: str) -> str:
    """``backend`` checked against the names of the figures' backends (``auto`` is for serving)."""
    if backend == "auto":
        raise BackendError(
            "Figures run on one named backend for every model: use torch (default), "
            "torch-bf16, onnx-int8 or openvino, not auto."
        )
    return backend_choice(backend)
