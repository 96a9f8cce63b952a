from __future__ import annotations

import numpy as np
import pytest

from core import backends
from core.backends import BackendError, OnnxTransformer, backend_choice, backend_name, with_backend
from core.fingerprint import model_fingerprint
from core.handle import get_handle
from core.loader import load_model

SENTENCES = ["El Gobierno aprueba los presupuestos", "Llueve en Bogotá", "El Real Madrid gana la Liga"]


@pytest.fixture(scope="module")
def tiny_onnx(_tiny_model_master, tmp_path_factory):
    """The tiny model and its ONNX int8 variant, built once into a scratch cache."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_CACHE", str(cache))
        model = load_model(str(_tiny_model_master), device="cpu")
        fast = with_backend(model, model_fingerprint(str(_tiny_model_master)), "onnx-int8", threads=1)
    return model, fast, cache


def test_backend_names_are_checked(monkeypatch):
    monkeypatch.delenv("WORKBENCH_BACKEND", raising=False)
    assert backend_choice() == "auto"
    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    assert backend_choice() == "torch" and backend_choice("onnx-int8") == "onnx-int8"
    with pytest.raises(BackendError, match="Unknown backend 'onnx': use one of auto, torch, onnx-int8"):
        backend_choice("onnx")


def test_onnx_int8_runs_the_transformer_in_onnx_runtime(tiny_onnx):
    model, fast, cache = tiny_onnx
    assert isinstance(fast[0].model, OnnxTransformer) and backend_name(fast) == "onnx-int8"
    assert not isinstance(model[0].model, OnnxTransformer) and backend_name(model) == "torch"  # untouched
    reference, ours = model.encode(SENTENCES), fast.encode(SENTENCES)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    cosines = (
        np.sum(ours * reference, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    )
    assert cosines.min() > 0.9  # int8 of a random tiny model: close, not equal
    assert not np.allclose(ours, reference)  # really a different engine
    alone = fast.encode(SENTENCES[:1])[0]  # dynamic int8 scales activations per batch: nearly, not exactly,
    assert alone @ ours[0] / np.linalg.norm(alone) / np.linalg.norm(ours[0]) > 0.999  # batch-independent
    verdict = backends.read_json(next(cache.glob("onnx-int8/*/quality.json")))
    assert set(verdict) == {"mean_cosine_to_fp32", "sts_spearman_fp32", "sts_spearman_change", "passed"}


def test_a_built_backend_is_reused_not_rebuilt(tiny_onnx, _tiny_model_master, monkeypatch):
    model, _, cache = tiny_onnx
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    monkeypatch.setattr(backends, "_export_and_quantise", lambda *a: pytest.fail("rebuilt"))
    again = with_backend(model, model_fingerprint(str(_tiny_model_master)), "onnx-int8")
    assert backend_name(again) == "onnx-int8"


def test_auto_keeps_torch_when_the_quality_bar_fails(tiny_onnx, _tiny_model_master, monkeypatch):
    model, _, cache = tiny_onnx
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    fingerprint = model_fingerprint(str(_tiny_model_master))
    verdict_file = cache / "onnx-int8" / fingerprint / "quality.json"
    saved = verdict_file.read_text()
    try:
        verdict_file.write_text('{"passed": false, "mean_cosine_to_fp32": 0.97}')
        assert with_backend(model, fingerprint, "auto") is model
        assert backend_name(with_backend(model, fingerprint, "onnx-int8")) == "onnx-int8"  # asked for: given
        verdict_file.write_text('{"passed": true}')
        assert backend_name(with_backend(model, fingerprint, "auto")) == "onnx-int8"
    finally:
        verdict_file.write_text(saved)
    assert with_backend(model, fingerprint, "torch") is model


def test_a_failed_build_falls_back_under_auto_and_explains_otherwise(
    _tiny_model_master, isolated_cache, monkeypatch
):
    model = load_model(str(_tiny_model_master), device="cpu")

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backends, "_export_and_quantise", broken)
    assert with_backend(model, "some-fingerprint", "auto") is model
    with pytest.raises(BackendError, match="exporter exploded.*Use --backend torch"):
        with_backend(model, "some-fingerprint", "onnx-int8")
    assert not list(isolated_cache.glob("onnx-int8/some-fingerprint*"))  # nothing half-written


def test_get_handle_keeps_one_model_per_backend(_tiny_model_master, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    first = get_handle(str(_tiny_model_master), device="cpu")
    assert get_handle(str(_tiny_model_master), device="cpu") is first and first.backend == "torch"
    assert backend_name(first.model) == "torch" and len(first.fingerprint) == 16


def test_a_shared_model_encodes_from_many_threads_at_once(_tiny_model_master, monkeypatch):
    """Regression: concurrent requests raced on the fast tokenizer's padding settings under load."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    model = get_handle(str(_tiny_model_master), device="cpu").model
    texts = [" ".join(["palabra"] * n) for n in range(1, 40)]

    def work(offset: int) -> int:
        for i in range(30):
            batch = [texts[(offset + i) % len(texts)], texts[(offset * 7 + i) % len(texts)]]
            assert model.encode(batch).shape[0] == 2
            model.tokenizer(texts[offset % len(texts)], add_special_tokens=True)  # as the app's length check
        return offset

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(work, range(16))) == list(range(16))


def test_a_backend_typo_reaches_the_visitor_in_spanish_and_the_log_in_full(monkeypatch, caplog):
    import gradio as gr

    import app

    monkeypatch.setenv("WORKBENCH_BACKEND", "onx")
    with pytest.raises(gr.Error, match="no se puede cargar en este servidor ahora mismo"):
        app.about()
    assert "Unknown backend 'onx': use one of auto, torch, onnx-int8" in caplog.text  # for whoever runs it
