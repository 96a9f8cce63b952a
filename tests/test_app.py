"""The real app server, every endpoint driven through gradio_client, bad input included."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def client(served_app):
    from gradio_client import Client

    return Client(served_app, verbose=False)


def test_every_event_has_an_api_name(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/similarity",
        "/search",
        "/cluster_map",
        "/duplicates",
        "/evaluate",
        "/rank",
        "/matrix",
        "/about",
        "/upload",
        "/reset_corpus",
    } <= names


def test_similarity(client):
    score, reading, table = client.predict(
        "Hoy llueve en Madrid", "Hoy llueve en Madrid", api_name="/similarity"
    )
    assert score == pytest.approx(1.0, abs=1e-3) and reading.startswith("Casi lo mismo")
    assert table["data"][0][1] == pytest.approx(score)


def test_rank_and_matrix(client):
    figure, ranked = client.predict(
        "Sube la luz", "Sube la luz\nGana el Betis\nBaja el gas", api_name="/rank"
    )
    assert ranked["data"][0][0] == "Sube la luz" and len(ranked["data"]) == 3
    assert json.loads(figure["plot"])["data"][0]["type"] == "bar"
    heat = client.predict("Uno\nDos\nTres", api_name="/matrix")
    assert json.loads(heat["plot"])["data"][0]["type"] == "heatmap"


def test_search_with_section_filter_and_defaults(client):
    results = client.predict("incendios forestales", 3, "medio ambiente", api_name="/search")
    assert len(results["data"]) == 3
    assert all(row[1] == "medio ambiente" for row in results["data"])
    scores = [row[0] for row in results["data"]]
    assert scores == sorted(scores, reverse=True)
    assert len(client.predict("vacunas", api_name="/search")["data"]) == 5  # later parameters default


def test_cluster_map_by_section_and_by_cluster_with_sentence(client):
    by_section = json.loads(client.predict(api_name="/cluster_map")["plot"])
    assert len(by_section["data"]) == 10  # one trace per section
    by_cluster = json.loads(
        client.predict(
            "cluster", "kmeans", 4, "2D", "El Barça ficha a un delantero", api_name="/cluster_map"
        )["plot"]
    )
    names = [trace["name"] for trace in by_cluster["data"]]
    assert "tu frase" in names and len(names) == 5
    assert all(" · " in name for name in names if name != "tu frase")  # c-TF-IDF labels


def test_duplicates_finds_known_retellings(client):
    table, summary = client.predict(0.5, api_name="/duplicates")
    assert table["data"] and "pares con similitud ≥ 0.50" in summary
    assert "historias contadas dos veces" in summary


def test_evaluate_is_cached_on_repeat(client):
    table, bars, scatter, note = client.predict(False, api_name="/evaluate")
    assert table["data"][0][1] == "bundled:test" and -1 <= table["data"][0][2] <= 1
    again = client.predict(False, api_name="/evaluate")[0]
    assert again["data"][0][-1] == "sí" and again["data"][0][2] == table["data"][0][2]
    assert "Predicted vs gold" in scatter["plot"]


def test_about(client):
    assert "dimensión: 32" in client.predict(api_name="/about")


@pytest.mark.parametrize(
    ("api", "args", "message"),
    [
        ("/similarity", ("   ", "algo"), "Escribe la primera frase"),
        ("/search", ("", 5, "todas"), "Escribe la búsqueda"),
        ("/search", ("hola", 0, "todas"), "k debe ser un número entero entre 1 y 50"),
        ("/search", ("hola", 10000, "todas"), "k debe ser un número entero entre 1 y 50"),
        ("/search", ("hola", "abc", "todas"), "k debe ser un número entero entre 1 y 50"),
        ("/cluster_map", ("sección", "kmeans", "abc"), "k debe ser un número entero entre 2 y 30"),
        ("/duplicates", ("abc",), "El umbral debe ser un número"),
        ("/matrix", ("\n".join(f"frase {i}" for i in range(21)),), "máximo es 20"),
        ("/rank", ("hola", ""), "al menos una frase candidata"),
        ("/search", ("hola", 5, "todas", "/etc/passwd"), "Modelo no disponible: /etc/passwd"),
        ("/search", ("hola", 5, "cocina"), "La sección 'cocina' no está en noticias incluidas"),
        ("/cluster_map", ("arcoíris",), "el color .'arcoíris'.: elige entre sección, cluster"),
        ("/cluster_map", ("cluster", "dbscan"), "Valor no válido para el método"),
    ],
)
def test_bad_input_is_a_clear_error_and_server_keeps_serving(client, capfd, api, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)
    assert "Traceback" not in capfd.readouterr().err  # a visitor's mistake is one log line, not a bug
    assert client.predict("Una frase", "Otra frase", api_name="/similarity")[0] <= 1.0


def test_huge_texts_and_lone_surrogates_are_served(client):
    huge = "palabra " * 300_000  # 2.4 MB
    assert client.predict(huge, huge, api_name="/similarity")[0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datos.csv", b"a,b\n1,2\n", "no tiene columna de texto"),
        ("vacio.csv", b"text\n", "no tiene filas"),
        ("basura.txt", b"\x00\x01\x02binary\x00", "archivo binario"),
        ("latin1.txt", "canción".encode("latin-1"), "no está en UTF-8"),
        ("torcido.csv", b"title,text\nUno,uno\nDos,dos, tres\n", "Pon entre comillas dobles"),
        ("enorme.csv", b'text\n"' + b"x" * 200_000 + b'"\n', "el CSV no se puede leer"),
        ("anidado.json", b"[" * 100_000 + b"]" * 100_000, "anidado a demasiada profundidad"),
        ("muchas.txt", b"texto\n" * 20_001, "más de 20.000 filas"),
        ("datos.pdf", b"%PDF-1.4", "Tipo de archivo no admitido"),  # gr.File checks the type first
    ],
)
def test_bad_uploads_are_refused(client, tmp_path, capfd, name, content, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), api_name="/upload")
    assert "Traceback" not in capfd.readouterr().err


def test_an_upload_reaches_every_tab_of_its_session_only(served_app, tmp_path):
    from gradio_client import Client, handle_file

    path = tmp_path / "mis_textos.jsonl"
    rows = [
        {"title": f"Receta {i}", "body": f"Cómo cocinar la receta número {i} con arroz", "category": "cocina"}
        for i in range(30)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    mine, other = Client(served_app, verbose=False), Client(served_app, verbose=False)
    status, sections, banner = mine.predict(handle_file(str(path)), api_name="/upload")
    assert "30 textos" in status and "mis_textos.jsonl" in banner and "cocina" in str(sections)
    assert all(
        row[2].startswith("Receta") for row in mine.predict("arroz", 3, "todas", api_name="/search")["data"]
    )
    plot = json.loads(mine.predict(api_name="/cluster_map")["plot"])
    assert [trace["name"] for trace in plot["data"]] == ["cocina"]
    assert all(text.startswith("Receta") for text in plot["data"][0]["text"])
    table, summary = mine.predict(0.5, api_name="/duplicates")
    assert "mis_textos.jsonl" in summary and table["data"][0][1].startswith("Receta")
    assert "mis_textos.jsonl: 30 textos" in mine.predict(api_name="/about")
    # the other session still sees the served corpus everywhere
    assert not any(
        row[2].startswith("Receta") for row in other.predict("arroz", 3, api_name="/search")["data"]
    )
    assert len(json.loads(other.predict(api_name="/cluster_map")["plot"])["data"]) == 10
    assert "historias contadas dos veces" in other.predict(0.5, api_name="/duplicates")[1]
    # and the first one can go back
    status, _, banner, file = mine.predict(api_name="/reset_corpus")
    assert file is None
    assert "noticias incluidas" in banner
    assert not any(
        row[2].startswith("Receta") for row in mine.predict("arroz", 3, api_name="/search")["data"]
    )


def _call_over_http(url: str, api: str, body: str) -> tuple[str, object]:
    """One request through the queue's REST route, with a raw JSON body (NaN included): the last event
    of its stream and that event's data."""
    import httpx

    headers = {"Content-Type": "application/json"}
    event = httpx.post(f"{url}gradio_api/call{api}", content=body, headers=headers, timeout=30).json()
    lines = httpx.get(f"{url}gradio_api/call{api}/{event['event_id']}", timeout=60).text.strip().splitlines()
    return lines[-2].removeprefix("event: "), json.loads(lines[-1].removeprefix("data: "))


def test_nan_numbers_and_lone_surrogates_sent_over_http_get_clear_answers(served_app):
    event, data = _call_over_http(served_app, "/search", '{"data": ["hola", NaN, "todas", null, null]}')
    assert event == "error" and "k debe ser un número entero entre 1 y 50" in data["error"]
    event, data = _call_over_http(served_app, "/duplicates", '{"data": [NaN, null, null]}')
    assert event == "error" and "El umbral debe ser un número" in data["error"]
    event, data = _call_over_http(served_app, "/similarity", '{"data": ["hola \\ud800 mundo", "hola mundo"]}')
    assert event == "complete" and -1 <= data[0] <= 1  # the lone surrogate (a JSON escape) is dropped


def test_the_queue_is_the_only_way_in(served_app):
    import httpx

    response = httpx.post(
        f"{served_app}gradio_api/run/similarity", json={"data": ["Hola", "Adiós"]}, timeout=30
    )
    assert response.status_code == 404 and "join the queue" in response.text


def test_an_upload_in_one_session_does_not_hold_a_search_in_another(served_app, tmp_path, monkeypatch):
    """The upload is paused inside its embedding while the other session searches."""
    import threading
    import time

    from gradio_client import Client, handle_file

    import core.embeddings

    inside, release = threading.Event(), threading.Event()
    real = core.embeddings.encode_documents

    def paused(model, texts, *args, **kwargs):
        inside.set()
        release.wait(60)
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(core.embeddings, "encode_documents", paused)
    path = tmp_path / "lento.txt"
    path.write_text("".join(f"texto lento número {i}\n" for i in range(50)), encoding="utf-8")
    uploader, searcher = Client(served_app, verbose=False), Client(served_app, verbose=False)
    job = uploader.submit(handle_file(str(path)), api_name="/upload")
    try:
        assert inside.wait(60)
        started = time.perf_counter()
        assert len(searcher.predict("sequía", 3, api_name="/search")["data"]) == 3
        assert searcher.predict("Una frase", "Otra frase", api_name="/similarity")[0] <= 1
        waited = time.perf_counter() - started
    finally:
        release.set()
    assert "50 textos" in job.result()[0]
    assert waited < 15  # a generous margin: both answer in well under a second here


def test_a_rejected_upload_through_the_app_leaves_nothing_behind(served_app, tmp_path):
    """Regression: ``raise gr.Error(...) from err`` kept the parse (~330 MB per 10 MB file) until a gc."""
    import gradio as gr

    import app
    from tests.conftest import memory_kept_by_rejections

    path = tmp_path / "rechazo.txt"
    path.write_bytes(b"una linea de texto de ejemplo\n" * 300_000)  # 9 MB, 300,000 rows
    kept, _, error = memory_kept_by_rejections(lambda: app.upload(str(path)), gr.Error)
    assert "más de 20.000 filas" in str(error) and error.__context__ is None
    assert kept < 2**20, f"{kept / 2**20:.1f} MB still held after 3 rejected uploads"


def test_models_env_lists_up_to_three(monkeypatch):
    from core.service import app_models

    monkeypatch.setenv("MODELS", "a/one, b/two,,c/three,d/four")
    assert app_models() == ["a/one", "b/two", "c/three"]
    monkeypatch.delenv("MODELS")
    monkeypatch.setenv("MODEL_ID", "org/model")
    assert app_models() == ["org/model"]


def test_similarity_side_by_side_with_two_models(_tiny_model_master, tmp_path, monkeypatch):
    import shutil

    import app

    other = shutil.copytree(_tiny_model_master, tmp_path / "second")
    monkeypatch.setenv("MODELS", f"{_tiny_model_master},{other}")
    score, _, rows = app.compare("Sube la luz", "Baja el gas")
    assert [row[0] for row in rows] == [str(_tiny_model_master), str(other)]
    assert rows[0][1] == pytest.approx(rows[1][1]) == pytest.approx(score)
