"""``backend="auto"``: the fastest backend that holds the quality bar, measured once per model and CPU."""

from __future__ import annotations

import json

import pytest

from core import backend_choice
from core.backend_choice import QualityCheck, chosen_backend, measure_backends, verdict_path, with_backend
from core.backends import backend_name
from core.data import load_news, load_sts
from core.loader import load_model


@pytest.fixture(scope="module")
def tiny(_tiny_model_master):
    return load_model(str(_tiny_model_master), device="cpu")


@pytest.fixture
def small_check():
    """A few STS pairs and passages: the real check's shape, quick on the tiny model."""
    pairs = load_sts("test")[:24]
    return QualityCheck(
        [p["sentence1"] for p in pairs],
        [p["sentence2"] for p in pairs],
        [p["score"] for p in pairs],
        [f"{n['title']}. {n['body']}" for n in load_news()][:16],
    )


def _rigged(monkeypatch, seconds: dict, failing: set):
    """Give each backend a fixed time and a fixed verdict, to test the choice itself."""
    monkeypatch.setattr(QualityCheck, "time", lambda self, model: seconds[backend_name(model)])
    real = QualityCheck.compare

    def compare(self, reference, variant):
        return real(self, reference, variant) | {"passed": backend_name(variant) not in failing}

    monkeypatch.setattr(QualityCheck, "compare", compare)


def test_the_fastest_backend_at_the_bar_is_chosen(tiny, small_check, isolated_cache, monkeypatch):
    names = ["torch", "torch-bf16", "onnx-int8"]
    _rigged(monkeypatch, {"torch": 1.0, "torch-bf16": 0.2, "onnx-int8": 0.5}, failing={"torch-bf16"})
    verdict = measure_backends(tiny, "tiny", names, small_check)
    assert verdict["chosen"] == "onnx-int8"  # bf16 is faster but missed the bar
    rows = verdict["candidates"]
    assert rows["onnx-int8"]["speedup"] == pytest.approx(2.0) and "speedup" not in rows["torch-bf16"]
    assert rows["torch-bf16"]["passed"] is False and rows["torch-bf16"]["pairs"] == 24
    _rigged(monkeypatch, {"torch": 1.0, "torch-bf16": 0.2, "onnx-int8": 0.5}, failing=set())
    assert measure_backends(tiny, "tiny", names, small_check)["chosen"] == "torch-bf16"
    _rigged(
        monkeypatch, {"torch": 1.0, "torch-bf16": 0.2, "onnx-int8": 0.5}, failing={"torch-bf16", "onnx-int8"}
    )
    assert (
        measure_backends(tiny, "tiny", names, small_check)["chosen"] == "torch"
    )  # the reference always passes


def test_a_candidate_that_cannot_be_built_is_left_out_with_its_reason(
    tiny, small_check, isolated_cache, monkeypatch
):
    from core import backends

    def broken(*args):
        raise RuntimeError("no kernels for this CPU")

    monkeypatch.setattr(backends, "build_openvino", broken)
    verdict = measure_backends(tiny, "tiny", ["torch", "openvino"], small_check)
    assert verdict["chosen"] == "torch"
    assert verdict["candidates"]["openvino"] == {
        "passed": False,
        "error": "RuntimeError: no kernels for this CPU",
    }


def test_measured_for_real_on_the_tiny_model(tiny, small_check, isolated_cache):
    verdict = measure_backends(tiny, "tiny", ["torch", "torch-bf16", "onnx-int8", "openvino"], small_check)
    rows = verdict["candidates"]
    assert verdict["chosen"] in [name for name, row in rows.items() if row["passed"]]
    assert rows["torch"]["speedup"] == 1.0 and len(rows["torch"]["timings_s"]) == backend_choice.TIMING_ROUNDS
    for name in ("torch-bf16", "onnx-int8", "openvino"):
        assert 0.9 < rows[name]["mean_cosine_to_fp32"] <= 1.0001, name  # float32 cosines, whatever the engine
        assert rows[name]["passed"] == (
            rows[name]["mean_cosine_to_fp32"] >= 0.995 and abs(rows[name]["sts_spearman_change"]) <= 0.005
        )
    chosen = rows[verdict["chosen"]]["sentences_per_s"]
    assert all(chosen >= row["sentences_per_s"] for row in rows.values() if "sentences_per_s" in row)
    assert (
        verdict["machine"]["cpus"] >= 1
        and verdict["timing"]["batch"] == 64
        and verdict["timing"]["threads"] >= 1
    )


def test_the_verdict_is_cached_per_model_and_cpu(tiny, isolated_cache, monkeypatch):
    calls = []

    def measure(model, fingerprint):
        calls.append(fingerprint)
        return {"version": backend_choice.VERDICT_VERSION, "chosen": "onnx-int8", "candidates": {}}

    monkeypatch.setattr(backend_choice, "measure_backends", measure)
    monkeypatch.setattr(backend_choice, "candidates", lambda: ["torch", "onnx-int8"])
    assert chosen_backend(tiny, "fp-a") == "onnx-int8" and calls == ["fp-a"]
    assert json.loads(verdict_path("fp-a").read_text())["chosen"] == "onnx-int8"
    assert chosen_backend(tiny, "fp-a") == "onnx-int8" and calls == ["fp-a"]  # read, not measured
    assert chosen_backend(tiny, "fp-b") == "onnx-int8" and calls == ["fp-a", "fp-b"]  # another model
    monkeypatch.setattr(backend_choice, "cpu_key", lambda: "another-cpu-2c")
    assert chosen_backend(tiny, "fp-a") == "onnx-int8" and calls == ["fp-a", "fp-b", "fp-a"]  # another CPU
    stale = verdict_path("fp-a")
    stale.write_text(json.dumps({"version": 0, "chosen": "onnx-int8"}))
    chosen_backend(tiny, "fp-a")
    assert len(calls) == 4  # a verdict of an older measurement is measured again
    stale.write_text(json.dumps({"version": backend_choice.VERDICT_VERSION, "chosen": "openvino"}))
    chosen_backend(tiny, "fp-a")
    assert len(calls) == 5  # a verdict naming a backend this machine cannot run (openvino uninstalled)
    stale.write_text("{not json")
    chosen_backend(tiny, "fp-a")
    assert len(calls) == 6  # a broken file is measured again, not fatal

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backend_choice, "write_file_atomically", full_disk)
    assert chosen_backend(tiny, "fp-c") == "onnx-int8"  # served anyway, measured again next start


def test_an_explicit_backend_overrides_the_verdict(tiny, isolated_cache, monkeypatch):
    monkeypatch.setattr(backend_choice, "candidates", lambda: ["torch", "torch-bf16", "onnx-int8"])
    verdict_path("fp").parent.mkdir(parents=True)
    verdict_path("fp").write_text(
        json.dumps({"version": backend_choice.VERDICT_VERSION, "chosen": "torch-bf16"})
    )
    monkeypatch.delenv("WORKBENCH_BACKEND", raising=False)
    assert backend_name(with_backend(tiny, "fp")) == "torch-bf16"  # auto reads the verdict
    assert with_backend(tiny, "fp", "torch") is tiny
    monkeypatch.setenv("WORKBENCH_BACKEND", "onnx-int8")
    assert backend_name(with_backend(tiny, "fp")) == "onnx-int8"
    assert backend_name(with_backend(tiny, "fp", "torch-bf16")) == "torch-bf16"  # the argument beats the env


def test_bf16_is_a_candidate_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(backend_choice, "has_bf16", lambda: False)
    assert "torch-bf16" not in backend_choice.candidates() and backend_choice.candidates()[0] == "torch"
    monkeypatch.setattr(backend_choice, "has_bf16", lambda: True)
    assert "torch-bf16" in backend_choice.candidates()


def test_the_cpu_key_names_the_cpu_kind_and_cores():
    from core.cpu import cpu_info, cpu_key

    info = cpu_info()
    assert cpu_key().endswith(f"-{info['cpus']}c") and info["cpu"]
    assert all(
        flag.startswith(("avx", "amx", "fma")) or "vnni" in flag or "bf16" in flag
        for flag in info["vector_flags"]
    )
