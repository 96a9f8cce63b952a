from __future__ import annotations

import numpy as np
import pytest

from core.models import backends
from core.models.backend_choice import with_backend
from core.models.backends import BackendError, OnnxTransformer, backend_choice, backend_name, is_built
from core.models.fingerprint import model_fingerprint
from core.models.handle import get_handle
from core.models.loader import load_model

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
    with pytest.raises(
        BackendError, match="Unknown backend 'onnx': use one of auto, torch, torch-bf16, onnx"
    ):
        backend_choice("onnx")


def _cosines(ours, reference):
    return np.sum(ours * reference, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)


def test_onnx_int8_runs_the_transformer_in_onnx_runtime(tiny_onnx):
    import onnx

    model, fast, cache = tiny_onnx
    assert isinstance(fast[0].model, OnnxTransformer) and backend_name(fast) == "onnx-int8"
    assert not isinstance(model[0].model, OnnxTransformer) and backend_name(model) == "torch"  # untouched
    reference, ours = model.encode(SENTENCES), fast.encode(SENTENCES)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert _cosines(ours, reference).min() > 0.9  # int8 of a random tiny model: close, not equal
    assert not np.allclose(ours, reference)  # really a different engine
    alone = fast.encode(SENTENCES[:1])[0]  # dynamic int8 scales activations per batch: nearly, not exactly,
    assert alone @ ours[0] / np.linalg.norm(alone) / np.linalg.norm(ours[0]) > 0.999  # batch-independent
    # the word-embedding table is stored as int8 rows with one scale each (the file's biggest part)
    graph = onnx.load(str(fast[0].model.path)).graph
    tables = {t.name: t for t in graph.initializer if t.dims and t.dims[0] == model.tokenizer.vocab_size}
    assert any(t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2 for t in tables.values()), tables
    floats = [t for t in tables.values() if t.data_type == onnx.TensorProto.FLOAT]
    assert [list(t.dims) for t in floats] == [[model.tokenizer.vocab_size, 1]]  # only the row scales


def test_the_int8_word_embeddings_dequantise_row_by_row():
    """The graph surgery: Gather of int8 rows times Gather of their scales gives each row back within
    half a quantisation step, where one scale for the whole table would lose the small rows."""
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    table = (
        rng.standard_normal((50, 8)).astype(np.float32) * np.logspace(-3, 1, 50, dtype=np.float32)[:, None]
    )
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"], name="word_gather")],
        "g",
        [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("rows", onnx.TensorProto.FLOAT, [None, 8])],
        [numpy_helper.from_array(table, "table")],
    )
    graph_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    backends._quantise_word_embeddings(graph_model, vocab_size=50)
    session = onnxruntime.InferenceSession(
        graph_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    ids = np.arange(50, dtype=np.int64)
    (rows,) = session.run(None, {"ids": ids})
    step = np.abs(table).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(rows - table) <= step / 2 + 1e-7)
    assert np.abs(rows[0] - table[0]).max() < 1e-4  # a row of ~0.001: a whole-table scale would zero it


def test_bf16_and_openvino_variants_match_fp32_and_serve_threads(_tiny_model_master, isolated_cache):
    from concurrent.futures import ThreadPoolExecutor

    from core.models.backends import Bf16Transformer, OpenVinoTransformer, openvino_config, variant

    model = load_model(str(_tiny_model_master), device="cpu")
    reference = model.encode(SENTENCES)
    bf16 = variant(model, "tiny", "torch-bf16")
    assert isinstance(bf16[0].model, Bf16Transformer) and backend_name(bf16) == "torch-bf16"
    ours = bf16.encode(SENTENCES)
    assert ours.dtype == np.float32 and _cosines(ours, reference).min() > 0.99
    assert not np.array_equal(ours, reference)  # really computed in bf16
    vino = variant(model, "tiny", "openvino", threads=1)
    assert isinstance(vino[0].model, OpenVinoTransformer) and backend_name(vino) == "openvino"
    assert _cosines(vino.encode(SENTENCES), reference).min() > 0.999  # fp16 weights, fp32 or bf16 compute
    assert (isolated_cache / "openvino" / "tiny" / "model.xml").is_file()
    # one stream per request slot: a visitor's request never waits behind an upload's batch (one stream
    # serialised them: 1.5 s measured); the all-cores engine of an upload gets one stream of every core
    assert vino[0].model.settings == openvino_config(1)
    wanted = openvino_config(1).get("NUM_STREAMS", 1)  # OpenVINO may cap streams at the physical cores
    assert 1 <= vino[0].model.compiled.get_property("NUM_STREAMS") <= wanted
    with ThreadPoolExecutor(max_workers=4) as pool:  # one infer request per thread
        results = list(pool.map(lambda i: vino.encode(SENTENCES[i % 3 :]), range(12)))
    assert all(len(r) == 3 - i % 3 for i, r in enumerate(results))


def test_openvino_runs_one_stream_per_request_slot():
    from core.models.backends import openvino_config

    assert openvino_config(1, cpus=2) == {"INFERENCE_NUM_THREADS": 2, "NUM_STREAMS": 2}
    assert openvino_config(2, cpus=2) == {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY"}
    assert openvino_config(1, cpus=1) == {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    assert openvino_config(2, cpus=8) == {"INFERENCE_NUM_THREADS": 8, "NUM_STREAMS": 4}


def test_a_built_backend_is_reused_not_rebuilt(tiny_onnx, _tiny_model_master, monkeypatch):
    model, _, cache = tiny_onnx
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    monkeypatch.setattr(backends, "_export_and_quantise", lambda *a: pytest.fail("rebuilt"))
    again = with_backend(model, model_fingerprint(str(_tiny_model_master)), "onnx-int8")
    assert backend_name(again) == "onnx-int8"


def test_a_failed_build_falls_back_under_auto_and_explains_otherwise(
    _tiny_model_master, isolated_cache, monkeypatch
):
    from core.models import backend_choice as choice

    model = load_model(str(_tiny_model_master), device="cpu")

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backends, "_export_and_quantise", broken)
    monkeypatch.setattr(choice, "ready_backend", lambda *a: "onnx-int8")  # said to be ready, but breaks
    assert with_backend(model, "some-fingerprint", "auto") is model
    with pytest.raises(BackendError, match="exporter exploded.*Use --backend torch"):
        with_backend(model, "some-fingerprint", "onnx-int8")
    assert not list(isolated_cache.glob("onnx-int8/some-fingerprint*"))  # nothing half-written

    def unmeasurable(*args):
        raise OSError("disk full")

    monkeypatch.setattr(choice, "ready_backend", unmeasurable)
    assert with_backend(model, "some-fingerprint", "auto") is model  # choosing never stops the serving


def test_get_handle_keeps_one_model_per_backend(_tiny_model_master, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    first = get_handle(str(_tiny_model_master), device="cpu")
    assert get_handle(str(_tiny_model_master), device="cpu") is first and first.backend == "torch"
    assert backend_name(first.model) == "torch" and len(first.fingerprint) == 16
    bf16 = get_handle(str(_tiny_model_master), device="cpu", backend="torch-bf16")
    assert bf16 is not first and bf16.backend == "torch-bf16"
    assert bf16.reference is first.reference  # one fp32 model per spec, whatever the backends asked


def test_an_auto_handle_serves_fp32_at_once_and_swaps_in_a_variant_when_prepared(
    _tiny_model_master, isolated_cache, monkeypatch
):
    from core.models import backend_choice as choice
    from core.models.handle import load_handle

    monkeypatch.setattr(choice, "preference", lambda: ["onnx-int8", "torch"])
    monkeypatch.setattr(backends, "_export_and_quantise", lambda *a: pytest.fail("built while loading"))
    handle = load_handle(str(_tiny_model_master), device="cpu", backend="auto")
    assert handle.backend == "torch" and handle.model is handle.reference
    old = handle.model
    monkeypatch.undo()
    monkeypatch.setenv("WORKBENCH_CACHE", str(isolated_cache))
    monkeypatch.setattr(choice, "preference", lambda: ["onnx-int8", "torch"])
    assert handle.prepare() == "onnx-int8" and handle.backend == "onnx-int8"
    assert handle.model is not old and handle.reference is old  # fp32 stays for figures and checks
    texts = ["Sube el paro en marzo", "Baja el desempleo"]
    assert handle.model.encode(texts).shape == old.encode(texts).shape


def test_a_build_beside_visitors_runs_in_a_process_of_its_own(
    _tiny_model_master, isolated_cache, monkeypatch
):
    """The warm-up's builds (``apart``): the serving process never exports (the export held its GIL for
    seconds and stalled every request); the child's variant is then loaded and checked here."""
    from core.models import backend_choice as choice

    monkeypatch.setattr(backends, "_export_and_quantise", lambda *a: pytest.fail("exported in this process"))
    stale = isolated_cache / "onnx-int8" / f".tiny-apart-{backends.onnx_build()}-killed"  # a stopped build's
    stale.mkdir(parents=True)
    model = load_model(str(_tiny_model_master), device="cpu")
    row = choice.check_variant(model, "tiny-apart", "onnx-int8", apart=True)
    assert "error" not in row and row["mean_cosine_to_fp32"] > 0.99 and is_built("onnx-int8", "tiny-apart")
    assert not stale.exists()


def test_a_build_apart_that_fails_says_why(_tiny_model_master, tmp_path, monkeypatch):
    from core.models.apart import build_apart

    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_CACHE", str(blocked))  # the child cannot make its cache folders
    with pytest.raises(BackendError, match=r"^(FileExistsError|NotADirectoryError): "):
        build_apart(load_model(str(_tiny_model_master), device="cpu"), "tiny-blocked", "onnx-int8")


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

    from space.pages import about as about_page

    monkeypatch.setenv("WORKBENCH_BACKEND", "onx")
    with pytest.raises(gr.Error, match="no se puede cargar en este servidor ahora mismo"):
        about_page.about()
    assert (
        "Unknown backend 'onx': use one of auto, torch, torch-bf16, onnx-int8" in caplog.text
    )  # for whoever runs it


def test_a_shared_auto_handle_answers_on_fp32_and_loads_a_ready_variant_beside(
    _tiny_model_master, isolated_cache, monkeypatch
):
    import time

    from core.cache import CACHE
    from core.models import backend_choice as choice

    monkeypatch.setattr(choice, "preference", lambda: ["onnx-int8", "torch"])
    fingerprint = model_fingerprint(str(_tiny_model_master))
    model = load_model(str(_tiny_model_master), device="cpu")
    assert choice.check_variant(model, fingerprint, "onnx-int8")["passed"]  # built and checked earlier
    monkeypatch.setattr(backends, "_traceable", lambda *a: pytest.fail("built on the request path"))
    key = ("model", str(_tiny_model_master), "cpu", "auto")
    CACHE.discard(key)
    try:
        handle = get_handle(str(_tiny_model_master), device="cpu", backend="auto")
        assert handle.model.encode(["Sube el paro"]).shape == (1, 32)  # answers whatever serves
        deadline = time.monotonic() + 30
        while handle.backend != "onnx-int8" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handle.backend == "onnx-int8" and handle.reference.device.type == "cpu"
    finally:
        CACHE.discard(key)
