"""The app's functions without Gradio: session corpora in every tab, checked input, no visitor waits."""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.cache import CACHE
from core.corpora.corpus import served_corpus
from core.corpora.embeddings import embedding_key
from core.corpora.text import MAX_TEXT_CHARS
from core.errors import CorpusError, InputError
from space import about as about_tab
from space import checks, runtime
from space import explore as explore_tab
from space import search as search_tab
from space import similarity as similarity_tab


@pytest.fixture
def tiny_app(_tiny_model_master, isolated_cache, monkeypatch):
    monkeypatch.setenv("MODEL_ID", str(_tiny_model_master))
    monkeypatch.setenv("WORKBENCH_BACKEND", "torch")
    monkeypatch.delenv("MODELS", raising=False)
    monkeypatch.delenv("CORPUS", raising=False)
    CACHE.clear(lambda key: key[0] != "model")  # each test starts as a fresh process would
    return isolated_cache


@pytest.fixture
def recipes(tmp_path):
    path = tmp_path / "recetas.jsonl"
    rows = [
        {"title": f"Receta {i}", "text": f"Cómo cocinar la receta número {i} con arroz y verduras",
         "category": "cocina" if i % 2 else "postres"}
        for i in range(40)
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def test_compare_reads_the_same_text_as_the_same(tiny_app):
    sts, cosine, rows = similarity_tab.compare("Hoy llueve en Madrid", "Hoy llueve en Madrid")
    assert sts == 5.0 and cosine == pytest.approx(1.0, abs=1e-3) and len(rows) == 1
    assert "Casi lo mismo" in rows[0][3]


@pytest.mark.parametrize("empty", ["", "   ", None, "\x00\x01", "\ud800"])
def test_empty_text_is_a_spanish_message(tiny_app, empty):
    with pytest.raises(InputError, match="Escribe la primera frase: está vacía"):
        similarity_tab.compare(empty, "algo")


def test_a_huge_text_is_cut_before_tokenizing_with_a_note(tiny_app):
    notes = []
    started = time.perf_counter()
    sts, cosine, _ = similarity_tab.compare("palabra " * 300_000, "palabra", warn=notes.append)  # 2.4 MB
    assert time.perf_counter() - started < 10
    cut = runtime.model_handle().model.encode(["palabra " * 300_000, "palabra"], normalize_embeddings=True)
    assert cosine == pytest.approx(float(cut[0] @ cut[1]), abs=1e-3)  # the text as the model reads it
    assert sts == pytest.approx(runtime.model_handle().calibration(cosine), abs=0.01)
    assert any(f"pasa de {MAX_TEXT_CHARS} caracteres" in note for note in notes)


@pytest.mark.parametrize(("value", "ok"), [(5, 5), (5.0, 5), ("7", 7), (50, 50)])
def test_whole_numbers_accept_what_a_slider_or_a_client_sends(value, ok):
    assert checks.whole_number(value, "k", 1, 50) == ok


@pytest.mark.parametrize("value", [0, 51, math.nan, math.inf, "abc", None, True, [3]])
def test_whole_numbers_refuse_anything_else_in_spanish(value):
    with pytest.raises(InputError, match="k debe ser un número entero entre 1 y 50"):
        checks.whole_number(value, "k", 1, 50)


@pytest.mark.parametrize("value", [-0.5, 5.5, math.nan, "abc"])
def test_thresholds_are_checked(tiny_app, value):
    with pytest.raises(InputError, match="El umbral debe ser un número"):
        explore_tab.find_duplicates(None, value)


def test_choices_and_models_are_checked(tiny_app):
    with pytest.raises(InputError, match="Valor no válido para la vista .'4D'.: elige entre 2D, 3D"):
        explore_tab.cluster_map(None, dimensions="4D")
    with pytest.raises(InputError, match="Modelo no disponible: /etc/passwd"):
        search_tab.search_corpus(None, "hola", 5, "todas", "/etc/passwd")
    with pytest.raises(InputError, match="La sección 'cocina' no está en noticias incluidas"):
        search_tab.search_corpus(None, "hola", 5, "cocina")


def test_an_upload_reaches_search_map_and_duplicates_and_nobody_else(tiny_app, recipes):
    corpus = search_tab.upload(str(recipes))
    assert corpus.name == "recetas.jsonl" and len(corpus) == 40 and corpus.sections == ["cocina", "postres"]
    assert "recetas.jsonl" in search_tab.corpus_banner(
        corpus
    ) and "solo en tu sesión" in search_tab.corpus_banner(corpus)
    hits, csv_path = search_tab.search_corpus(corpus, "arroz", 5, "cocina")
    assert "Receta" in Path(csv_path).read_text(encoding="utf-8-sig")
    assert len(hits) == 5 and all(row[1] == "cocina" and row[2].startswith("Receta") for row in hits)
    assert not any(row[2].startswith("Receta") for row in search_tab.search_corpus(None, "arroz", 5)[0])
    figure, nearest = explore_tab.cluster_map(corpus, "sección", sentence="arroz con leche")
    assert len(nearest) == 8 and all(row[0].startswith("Receta") for row in nearest)
    hover = [text for trace in figure.data for text in (trace.text or [])]
    assert {trace.name for trace in figure.data} == {"cocina", "postres", "tu frase", "sus vecinos"}
    assert (
        sum(text.startswith("Receta") for text in hover) == 40 + 8
        and "recetas.jsonl" in figure.layout.title.text
    )
    rows, summary, _ = explore_tab.find_duplicates(corpus, 0.5)
    assert "recetas.jsonl" in summary and rows and all(r[2].startswith("Receta") for r in rows)
    assert "historias contadas dos veces" not in summary
    assert "recetas.jsonl (tu archivo, solo en tu sesión): 40 textos" in about_tab.about(corpus)
    assert search_tab.section_choices(corpus) == ["todas", "cocina", "postres"]
    assert not list(tiny_app.rglob(f"*{corpus.fingerprint}*"))  # an upload never touches the disk


def test_a_tiny_upload_is_searchable_but_too_small_for_a_map(tiny_app, tmp_path):
    path = tmp_path / "tres.txt"
    path.write_text("uno\ndos\ntres\n", encoding="utf-8")
    corpus = search_tab.upload(str(path))
    assert len(search_tab.search_corpus(corpus, "dos", 5)[0]) == 3
    for method in explore_tab.METHOD_CHOICES:
        with pytest.raises(InputError, match="El mapa necesita al menos 10 textos y tres.txt tiene 3"):
            explore_tab.cluster_map(corpus, "cluster", method)
    assert "tres.txt" in explore_tab.find_duplicates(corpus, 0.5)[1]


def test_an_upload_is_refused_with_the_corpus_message(tiny_app, tmp_path):
    path = tmp_path / "datos.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="datos.csv no tiene columna de texto"):
        search_tab.upload(str(path))
    with pytest.raises(InputError, match="Elige un archivo"):
        search_tab.upload(None)


def test_a_search_on_an_evicted_upload_asks_to_upload_again_and_the_map_recomputes(tiny_app, recipes):
    corpus = search_tab.upload(str(recipes))
    handle = runtime.model_handle()
    CACHE.discard(("embeddings", embedding_key(handle, corpus)))
    with pytest.raises(InputError, match="vuelve a subirlo"):
        search_tab.search_corpus(corpus, "arroz")
    assert explore_tab.cluster_map(corpus)[0].data  # heavy work may recompute
    assert search_tab.search_corpus(corpus, "arroz")


def test_an_upload_being_embedded_holds_no_other_visitor(tiny_app, recipes):
    """While one visitor's upload is paused inside its embedding, another's search, map and duplicates on
    the served corpus answer (nothing shared is locked for the upload's work)."""
    search_tab.search_corpus(None, "calentamiento")  # the served corpus ready, as after warm-up
    inside, release = threading.Event(), threading.Event()

    def paused(fraction, desc=""):
        inside.set()
        assert release.wait(30)

    with ThreadPoolExecutor(max_workers=1) as pool:
        uploading = pool.submit(search_tab.upload, str(recipes), None, None, paused)
        assert inside.wait(30)
        started = time.perf_counter()
        assert len(search_tab.search_corpus(None, "sequía", 3)[0]) == 3
        assert explore_tab.cluster_map(None)[0].data and explore_tab.find_duplicates(None, 4.5)
        waited = time.perf_counter() - started
        release.set()
        assert len(uploading.result()) == 40
    assert waited < 20


def test_warm_up_fills_the_cache_for_the_first_visitor(tiny_app):
    runtime.warm_up()
    handle, corpus = runtime.model_handle(), served_corpus()
    key = embedding_key(handle, corpus)
    assert CACHE.peek(("embeddings", key)) is not None and CACHE.peek(("umap", f"{key}-2d")) is not None
    assert list((tiny_app / "embeddings").glob(f"{key}.npy"))  # the served corpus is kept on disk


def test_a_first_visitor_is_told_the_model_is_loading(monkeypatch):
    from space.pages import about as about_page

    monkeypatch.setitem(runtime._warm_up, "state", "running")
    assert "Cargando el modelo" in runtime.loading_message()
    line, timer = about_page.loading_state()
    assert line["visible"] is True and timer.active is True
    monkeypatch.setitem(runtime._warm_up, "state", "done")
    line, timer = about_page.loading_state()
    assert runtime.loading_message() is None and line["visible"] is False and timer.active is False


def test_the_first_visitor_never_waits_for_a_faster_variant(tiny_app, _tiny_model_master, monkeypatch):
    """Empty cache: answers come on torch fp32 while the variant is built in the background, then the
    variant is swapped in without a restart."""
    from core.models import backend_choice

    monkeypatch.setenv("WORKBENCH_BACKEND", "auto")
    monkeypatch.setattr(backend_choice, "preference", lambda: ["onnx-int8", "torch"])
    monkeypatch.setattr(backend_choice, "measure_ranking", lambda *a, **k: {})  # timing: its own tests
    building, release = threading.Event(), threading.Event()
    real_check = backend_choice.check_variant

    def slow_check(*args, **kwargs):
        building.set()
        assert release.wait(60), "the test never released the build"
        return real_check(*args, **kwargs)

    monkeypatch.setattr(backend_choice, "check_variant", slow_check)
    key = ("model", str(_tiny_model_master), None, "auto")
    CACHE.discard(key)
    monkeypatch.setattr(runtime, "_warm_up", {"state": "idle", "started": False})
    warm = threading.Thread(target=runtime.warm_up)
    warm.start()
    try:
        assert building.wait(60)  # the build is under way ...
        assert "versión más rápida" in runtime.loading_message()
        started = time.perf_counter()
        sts, cosine, rows = similarity_tab.compare(
            "Sube el paro", "Baja el desempleo"
        )  # ... and visitors are served
        hits, _ = search_tab.search_corpus(None, "sequía", 3)
        assert time.perf_counter() - started < 10 and len(hits) == 3 and 0 <= sts <= 5
        assert runtime.model_handle().backend == "torch"
    finally:
        release.set()
        warm.join(120)
    try:
        assert runtime.model_handle().backend == "onnx-int8" and runtime.loading_message() is None
        again = similarity_tab.compare("Sube el paro", "Baja el desempleo")
        assert again[1] == pytest.approx(cosine, abs=0.02)  # another engine, the same answer
    finally:
        CACHE.discard(key)


def test_a_large_corpus_maps_a_fixed_sample_and_says_so(tiny_app, monkeypatch):
    from core.corpora import clusters

    monkeypatch.setattr(clusters, "MAX_MAP_POINTS", 100)
    figure, neighbours = explore_tab.cluster_map(None, "sección", "kmeans", 5, "2D", "sequía en el campo")
    shown = sum(
        len(trace.x) for trace in figure.data if trace.name != "sequía en el campo" and trace.x is not None
    )
    assert "muestra fija de 100 de 570 textos" in figure.layout.title.text
    assert shown < 130 and len(neighbours) > 0  # 100 texts (plus the sentence and its neighbours), not 570
    again, _ = explore_tab.cluster_map(None, "cluster", "kmeans", 5, "2D")
    assert "muestra fija de 100 de 570 textos" in again.layout.title.text


def test_duplicates_of_a_corpus_too_large_to_mine_live_is_a_clear_message(tiny_app, monkeypatch):
    monkeypatch.setattr(explore_tab, "MAX_DUPLICATE_TEXTS", 100)
    with pytest.raises(InputError, match="tiene 570 textos: buscar duplicados en directo"):
        explore_tab.find_duplicates(None, 3.5)


def test_the_small_refusals_say_what_was_sent_and_what_to_do():
    from space.evaluate import ci_text

    with pytest.raises(InputError, match="Escribe la primera frase"):
        checks.checked_text("\u200b\u200d\u2060\ufeff", "la primera frase")  # invisible only: empty
    assert checks.checked_text("ho\u200bla", "x") == "hola"
    with pytest.raises(InputError, match="enviaste 2.000 y el máximo es 20; quita 1.980"):
        checks.checked_lines("\n".join(f"frase {i}" for i in range(2000)), "una frase candidata", 1)
    assert ci_text([float("nan"), float("nan")], 3) == "sin IC: hacen falta al menos 10 pares"
    assert ci_text([0.51, 0.72], 120) == "[0.510, 0.720]"


def test_old_downloads_are_removed_at_most_once_a_minute(tmp_path, monkeypatch):
    import os

    from space import downloads

    monkeypatch.setattr(downloads, "exports_dir", lambda: tmp_path)
    monkeypatch.setattr(downloads, "_last_pruned", [0.0])

    def old_folder(name):
        folder = tmp_path / name
        folder.mkdir()
        stale = time.time() - downloads.KEEP_S - 60
        os.utime(folder, (stale, stale))
        return folder

    first = old_folder("first")
    written = downloads.csv_file("búsqueda: sequía", ["a"], [[1]])
    assert not first.exists() and Path(written).name == "busqueda-sequia.csv"
    second = old_folder("second")
    downloads.csv_file("otra", ["a"], [[2]])
    assert second.exists()  # a search a second later does not look at every folder again
    downloads._last_pruned[0] -= downloads.PRUNE_EVERY_S
    downloads.csv_file("otra", ["a"], [[3]])
    assert not second.exists() and len(list(tmp_path.iterdir())) == 3


def test_a_cached_result_never_waits_for_the_heavy_slot_and_a_computation_does(tiny_app):
    """While an upload holds the heavy slot, the served corpus' map (cached) answers; what the cache
    does not hold yet waits for the slot."""
    from core.cache import computing_under

    explore_tab.cluster_map(None)  # the served corpus' map, now cached
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def upload_like():
        with runtime.heavy_slot():
            held.set()
            release.wait(30)

    def new_result():
        with computing_under(runtime.heavy_slot):
            CACHE.get(("test", "new"), lambda: 1)
        done.set()

    holder = threading.Thread(target=upload_like)
    holder.start()
    try:
        assert held.wait(30)
        with computing_under(runtime.heavy_slot):
            figure, _ = explore_tab.cluster_map(None)  # cached: answers while the slot is held
        assert figure is not None
        waiter = threading.Thread(target=new_result)
        waiter.start()
        assert not done.wait(1.0)  # a computation waits for the slot…
    finally:
        release.set()
    assert done.wait(30)  # …and runs once it is free
    holder.join()
    waiter.join()
    CACHE.discard(("test", "new"))
