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
        # the slider's own bounds check answers first, with a clear message
        ("/search", ("hola", 0, "todas"), "less than minimum value 1"),
        ("/search", ("hola", 10000, "todas"), "greater than maximum value 50"),
        ("/matrix", ("\n".join(f"frase {i}" for i in range(21)),), "máximo es 20"),
        ("/rank", ("hola", ""), "al menos una frase candidata"),
        ("/search", ("hola", 5, "todas", "/etc/passwd"), "not in the list of choices"),
    ],
)
def test_bad_input_is_a_clear_error_and_server_keeps_serving(client, api, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)
    assert client.predict("Una frase", "Otra frase", api_name="/similarity")[0] <= 1.0


def test_long_text_is_truncated_with_a_note(client):
    job = client.submit("palabra " * 7000, "palabra", api_name="/similarity")
    score = job.result()[0]
    assert -1 <= score <= 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datos.csv", b"a,b\n1,2\n", "no text column"),
        ("vacio.csv", b"text\n", "no rows"),
        ("basura.txt", b"\x00\x01\x02binary\x00", "binary file"),
        ("latin1.txt", "canción".encode("latin-1"), "not UTF-8"),
        ("datos.pdf", b"%PDF-1.4", "Invalid file type"),  # gr.File checks the type first
    ],
)
def test_bad_uploads_are_refused(client, tmp_path, name, content, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), api_name="/upload")


def test_upload_is_private_to_the_session(served_app, tmp_path):
    from gradio_client import Client, handle_file

    path = tmp_path / "mis_textos.jsonl"
    rows = [
        {"title": f"Receta {i}", "body": f"Cómo cocinar la receta número {i} con arroz", "category": "cocina"}
        for i in range(30)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    mine, other = Client(served_app, verbose=False), Client(served_app, verbose=False)
    status = mine.predict(handle_file(str(path)), api_name="/upload")
    assert "30 textos" in status[0] if isinstance(status, tuple | list) else "30 textos" in status
    ours = mine.predict("arroz", 3, "todas", api_name="/search")["data"]
    theirs = other.predict("arroz", 3, "todas", api_name="/search")["data"]
    assert all(row[2].startswith("Receta") for row in ours)
    assert not any(row[2].startswith("Receta") for row in theirs)


def test_models_env_lists_up_to_three(monkeypatch):
    import app

    monkeypatch.setenv("MODELS", "a/one, b/two,,c/three,d/four")
    assert app.app_models() == ["a/one", "b/two", "c/three"]
    monkeypatch.delenv("MODELS")
    monkeypatch.setenv("MODEL_ID", "org/model")
    assert app.app_models() == ["org/model"]


def test_similarity_side_by_side_with_two_models(_tiny_model_master, tmp_path, monkeypatch):
    import shutil

    import app

    other = shutil.copytree(_tiny_model_master, tmp_path / "second")
    monkeypatch.setenv("MODELS", f"{_tiny_model_master},{other}")
    score, _, rows = app.compare("Sube la luz", "Baja el gas")
    assert [row[0] for row in rows] == [str(_tiny_model_master), str(other)]
    assert rows[0][1] == pytest.approx(rows[1][1]) == pytest.approx(score)
