"""The real app server, every endpoint driven through gradio_client, bad input included."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest


def read_csv(path: str) -> list[dict]:
    return list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))


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


def test_similarity_leads_with_the_calibrated_reading(client):
    sts, cosine, table, reading = client.predict(
        "Hoy llueve en Madrid", "Hoy llueve en Madrid", api_name="/similarity"
    )
    assert sts == 5.0 and cosine == pytest.approx(1.0, abs=1e-3) and "Casi lo mismo" in reading
    assert table["headers"] == ["modelo", "0–5", "coseno", "lectura"]
    assert table["data"][0][1:3] == [sts, pytest.approx(cosine)]
    other_sts, other_cosine, *_ = client.predict(
        "Hoy llueve en Madrid", "Gana el Betis", api_name="/similarity"
    )
    assert 0 <= other_sts <= 5 and other_sts < sts


def test_api_outputs_have_names(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in (
        "/similarity",
        "/search",
        "/cluster_map",
        "/duplicates",
        "/evaluate",
        "/embeddings",
        "/about",
    ):
        labels = [output["label"] for output in info[name]["returns"]]
        assert not [label for label in labels if label.startswith("value_")], (name, labels)
    assert [o["label"] for o in info["/similarity"]["returns"]][:3] == [
        "Similitud (0–5)",
        "Coseno",
        "Por modelo",
    ]


def test_rank_and_matrix(client):
    figure, ranked = client.predict(
        "Sube la luz", "Sube la luz\nGana el Betis\nBaja el gas", api_name="/rank"
    )
    assert ranked["data"][0][0] == "Sube la luz" and len(ranked["data"]) == 3
    bars = json.loads(figure["plot"])
    assert bars["data"][0]["type"] == "bar"
    low, high = bars["layout"]["xaxis"]["range"]
    assert low > min(row[1] for row in ranked["data"]) - 0.5 and high <= 1.0  # scaled to the data
    heat = json.loads(client.predict("Uno\nDos\nTres", api_name="/matrix")["plot"])
    assert heat["data"][0]["type"] == "heatmap" and heat["data"][0]["texttemplate"] == "%{text:.2f}"


def test_search_with_section_filter_csv_and_defaults(client):
    results, csv_path = client.predict(
        "incendios forestales", 3, "medio ambiente", None, "significado", api_name="/search"
    )
    assert results["headers"] == ["coseno", "sección", "título", "fragmento", "id", "vía"]
    assert len(results["data"]) == 3
    assert all(row[1] == "medio ambiente" for row in results["data"])
    scores = [row[0] for row in results["data"]]
    assert scores == sorted(scores, reverse=True)
    rows = read_csv(csv_path)
    assert [row["id"] for row in rows] == [row[4] for row in results["data"]]
    shown = [re.sub(r"\\(.)", r"\1", result[3].replace("**", "")).strip("…") for result in results["data"]]
    assert all(part in row["texto"] for part, row in zip(shown, rows, strict=True))
    assert len(client.predict("vacunas", api_name="/search")[0]["data"]) == 5  # later parameters default


def test_search_by_words_finds_a_rare_name_and_says_how(client):
    """A name typed as a keyword: the text that has it comes first, the name in bold, found by words."""
    for mode in ("palabras", "ambos"):
        results, _ = client.predict("Cofete Jandía", 3, "todas", None, mode, api_name="/search")
        first = results["data"][0]
        assert "**Cofete**" in first[3] and first[5] in ("palabras", "ambos"), (mode, first)
    by_meaning, _ = client.predict("Cofete Jandía", 3, "todas", None, "significado", api_name="/search")
    assert {row[5] for row in by_meaning["data"]} <= {"significado", "ambos"}
    assert not any("**" in row[3] for row in by_meaning["data"])  # meaning alone highlights nothing


def test_embeddings_download(client):
    import pyarrow.parquet as pq

    table = pq.read_table(client.predict(api_name="/embeddings"))
    assert table.num_rows == 570 and table.column_names == ["id", "title", "section", "embedding"]
    assert len(table["embedding"][0]) == 32 and table["id"][0].as_py() == "n0001"


def test_cluster_map_by_section_and_by_cluster_with_sentence_and_neighbours(client):
    figure, neighbours = client.predict(api_name="/cluster_map")
    by_section = json.loads(figure["plot"])
    assert len(by_section["data"]) == 10  # one trace per section
    assert by_section["layout"]["xaxis"]["visible"] is False  # UMAP's axes mean nothing
    assert not neighbours["data"] or neighbours["data"] == [[None] * 3]
    figure, neighbours = client.predict(
        "cluster", "kmeans", 4, "2D", "El Barça ficha a un delantero", api_name="/cluster_map"
    )
    by_cluster = json.loads(figure["plot"])
    names = [trace["name"] for trace in by_cluster["data"]]
    assert "tu frase" in names and "sus vecinos" in names and len(names) == 6
    assert all(" · " in name for name in names if name not in ("tu frase", "sus vecinos"))  # c-TF-IDF
    assert neighbours["headers"] == ["título", "sección", "coseno"] and len(neighbours["data"]) == 8
    scores = [row[2] for row in neighbours["data"]]
    assert scores == sorted(scores, reverse=True)
    ringed = next(trace for trace in by_cluster["data"] if trace["name"] == "sus vecinos")
    assert ringed["text"] == [row[0] for row in neighbours["data"]]


def test_duplicates_on_the_calibrated_scale_with_csv(client):
    table, summary, csv_path = client.predict(0.5, api_name="/duplicates")
    assert table["data"] and "pares con lectura ≥ 0,5/5 (coseno ≥" in summary
    assert "historias contadas dos veces" in summary
    assert table["headers"][:2] == ["0–5", "coseno"]
    assert all(row[0] >= 0.5 - 0.01 for row in table["data"])
    rows = read_csv(csv_path)
    assert len(rows) >= len(table["data"]) and {"id A", "id B", "texto A", "texto B"} <= set(rows[0])
    strict_table, strict_summary, _ = client.predict(5.0, api_name="/duplicates")
    count = lambda summary: int(summary.split(" pares")[0].replace(".", ""))  # noqa: E731
    assert count(strict_summary) < count(summary) and all(row[0] == 5.0 for row in strict_table["data"])


def test_evaluate_is_cached_on_repeat_with_spanish_plots_and_csv(client, _tiny_model_master):
    from evaluation.datasets import load_sts_dataset
    from evaluation.runner import run_sts

    table, bars, scatter, note, verdict, changed, csv_path = client.predict(None, False, api_name="/evaluate")
    assert table["data"][0][1] == "STS propio (test, 150 pares)"
    # the served model's Spearman on the bundled test, as `evaluation sts` computes it (same backend choice)
    ours = run_sts(
        str(_tiny_model_master), load_sts_dataset("bundled:test"), n_resamples=100, use_cache=False
    )
    assert table["data"][0][2] == pytest.approx(ours["metrics"]["spearman_cosine"], abs=1e-3)
    again = client.predict(None, False, api_name="/evaluate")[0]
    assert again["data"][0][-1] == "sí" and again["data"][0][2] == table["data"][0][2]
    assert "Predicción del modelo frente a la referencia" in scatter["plot"]
    assert "Predicted" not in scatter["plot"] and "gold" not in scatter["plot"]
    assert "dos modelos" in verdict  # one served model: nothing to compare
    rows = list(csv.reader(Path(csv_path).read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:3] == ["modelo", "conjunto", "Spearman"] and float(rows[1][2]) == table["data"][0][2]


def test_evaluate_on_the_visitors_own_sts_file(client, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "mis_pares.tsv"
    lines = ["sentence1\tsentence2\tscore"]
    lines += [f"Frase número {i} sobre el tiempo\tOtra frase {i} sobre fútbol\t{i % 6}" for i in range(30)]
    path.write_text("\n".join(lines), encoding="utf-8")
    table, *_ = client.predict(handle_file(str(path)), False, api_name="/evaluate")
    assert table["data"][0][1] == "mis_pares.tsv" and table["data"][0][5] == 30


def test_hub_option_says_at_once_when_the_hub_is_unreachable(client):
    import time

    started = time.perf_counter()
    note = client.predict(None, True, api_name="/evaluate")[3]
    assert "stsb_multi_mt no está disponible" in note
    assert time.perf_counter() - started < 15


def test_about(client):
    about = client.predict(api_name="/about")
    assert "| modelo | dimensión |" in about and "| 32 |" in about
    assert "gradio_client" in about and "/gradio_api/mcp/" in about
    assert "{'" not in about  # no raw Python dict


def _expected_sts() -> float:
    """The 0–5 reading of ("Una frase", "Otra frase"), computed in this process with the served model, as
    the page's number shows it (one decimal)."""
    from space import similarity as similarity_tab

    return round(similarity_tab.compare("Una frase", "Otra frase")[0], 1)


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
        ("/duplicates", (7,), "El umbral debe ser un número"),
        ("/matrix", ("\n".join(f"frase {i}" for i in range(21)),), "máximo es 20"),
        ("/rank", ("hola", ""), "al menos una frase candidata"),
        ("/search", ("hola", 5, "todas", "/etc/passwd"), "Modelo no disponible: /etc/passwd"),
        ("/search", ("hola", 5, "cocina"), "La sección 'cocina' no está en noticias incluidas"),
        ("/search", ("hola", 5, "todas", None, "magia"), "Valor no válido para el modo de búsqueda"),
        ("/cluster_map", ("arcoíris",), "el color .'arcoíris'.: elige entre sección, cluster"),
        ("/cluster_map", ("cluster", "dbscan"), "Valor no válido para el método"),
    ],
)
def test_bad_input_is_a_clear_error_and_server_keeps_serving(client, capfd, api, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)
    assert "Traceback" not in capfd.readouterr().err  # a visitor's mistake is one log line, not a bug
    assert client.predict("Una frase", "Otra frase", api_name="/similarity")[0] == pytest.approx(
        _expected_sts()
    )


def test_long_texts_are_served_cut_and_huge_bodies_refused(client, served_app):
    import httpx

    long = "palabra " * 40_000  # 320 KB each: read up to the 4,000-character cap
    assert client.predict(long, long, api_name="/similarity")[1] == pytest.approx(1.0, abs=1e-3)
    huge = "palabra " * 300_000  # 2.4 MB each: over the 1 MB a call may hold, refused before it is read
    answer = httpx.post(f"{served_app}gradio_api/call/similarity", json={"data": [huge, huge]}, timeout=30)
    assert answer.status_code == 413 and "el máximo es 1,0 MB" in answer.json()["error"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datos.csv", b"a,b\n1,2\n", "no tiene columna de texto"),
        ("vacio.csv", b"text\n", "no tiene filas"),
        ("basura.txt", b"\x00\x01\x02binary\x00", "archivo binario"),
        ("latin1.txt", "canción".encode("latin-1"), "no está en UTF-8"),
        ("torcido.csv", b"title,text\nUno,uno\nDos,dos, tres\n", "Pon entre comillas dobles"),
        ("enorme.csv", b'text\n"' + b"x" * 200_000 + b'"\n', "ocupa más de 128 KB"),
        ("anidado.json", b"[" * 100_000 + b"]" * 100_000, "anidado a demasiada profundidad"),
        ("muchas.txt", b"texto\n" * 20_001, "más de 20.000 filas"),
        ("datos.pdf", b"%PDF-1.4", "tipo de archivo no admitido; sube un .csv"),
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
        row[2].startswith("Receta")
        for row in mine.predict("arroz", 3, "todas", api_name="/search")[0]["data"]
    )
    plot = json.loads(mine.predict(api_name="/cluster_map")[0]["plot"])
    assert [trace["name"] for trace in plot["data"]] == ["cocina"]
    assert all(text.startswith("Receta") for text in plot["data"][0]["text"])
    table, summary, _ = mine.predict(0.5, api_name="/duplicates")
    assert "mis_textos.jsonl" in summary and table["data"][0][2].startswith("Receta")
    assert "mis_textos.jsonl (tu archivo, solo en tu sesión): 30 textos" in mine.predict(api_name="/about")
    # the other session still sees the served corpus everywhere
    assert not any(
        row[2].startswith("Receta") for row in other.predict("arroz", 3, api_name="/search")[0]["data"]
    )
    assert len(json.loads(other.predict(api_name="/cluster_map")[0]["plot"])["data"]) == 10
    assert "historias contadas dos veces" in other.predict(0.5, api_name="/duplicates")[1]
    # and the first one can go back
    status, _, banner, file = mine.predict(api_name="/reset_corpus")
    assert file is None
    assert "noticias incluidas" in banner
    assert not any(
        row[2].startswith("Receta") for row in mine.predict("arroz", 3, api_name="/search")[0]["data"]
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
    event, data = _call_over_http(
        served_app, "/search", '{"data": ["hola", NaN, "todas", null, "ambos", null]}'
    )
    assert event == "error" and "k debe ser un número entero entre 1 y 50" in data["error"]
    event, data = _call_over_http(served_app, "/duplicates", '{"data": [NaN, null, null]}')
    assert event == "error" and "El umbral debe ser un número" in data["error"]
    event, data = _call_over_http(served_app, "/similarity", '{"data": ["hola \\ud800 mundo", "hola mundo"]}')
    assert event == "complete" and data[0] == 5.0  # the lone surrogate is dropped: the same text, read 5/5


def test_the_queue_is_the_only_way_in(served_app):
    import httpx

    response = httpx.post(
        f"{served_app}gradio_api/run/similarity", json={"data": ["Hola", "Adiós"]}, timeout=30
    )
    assert response.status_code == 404 and "join the queue" in response.text


def _paused_upload(served_app, tmp_path, monkeypatch, line: str, rows: int):
    """Another visitor's upload of ``rows`` texts, paused inside its embedding until ``release`` is set;
    returns the job and the ``inside`` and ``release`` events."""
    import threading

    from gradio_client import Client, handle_file

    import core.corpora.embeddings

    inside, release = threading.Event(), threading.Event()
    real = core.corpora.embeddings.encode_documents

    def paused(model, texts, *args, **kwargs):
        inside.set()
        release.wait(60)
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(core.corpora.embeddings, "encode_documents", paused)
    path = tmp_path / "lento.txt"
    path.write_text("".join(f"{line} {i}\n" for i in range(rows)), encoding="utf-8")
    return (
        Client(served_app, verbose=False).submit(handle_file(str(path)), api_name="/upload"),
        inside,
        release,
    )


def test_an_upload_in_one_session_does_not_hold_a_search_in_another(served_app, tmp_path, monkeypatch):
    """The upload is paused inside its embedding while the other session searches."""
    import time

    from gradio_client import Client

    searcher = Client(served_app, verbose=False)
    searcher.predict("sequía", 3, api_name="/search")  # the served corpus embedded (the warm-up's job)
    job, inside, release = _paused_upload(served_app, tmp_path, monkeypatch, "texto lento número", 50)
    try:
        assert inside.wait(60)
        started = time.perf_counter()
        assert len(searcher.predict("sequía", 3, api_name="/search")[0]["data"]) == 3
        assert searcher.predict("Una frase", "Otra frase", api_name="/similarity")[0] == pytest.approx(
            _expected_sts()
        )
        waited = time.perf_counter() - started
    finally:
        release.set()
    assert "50 textos" in job.result()[0]
    assert waited < 15  # a generous margin: both answer in well under a second here


def test_a_rejected_upload_through_the_app_leaves_nothing_behind(served_app, tmp_path):
    """Regression: ``raise gr.Error(...) from err`` kept the parse (~330 MB per 10 MB file) until a gc."""
    import gradio as gr

    from space.pages import search as search_page
    from tests.conftest import memory_kept_by_rejections

    path = tmp_path / "rechazo.txt"
    path.write_bytes(b"una linea de texto de ejemplo\n" * 300_000)  # 9 MB, 300,000 rows
    kept, _, error = memory_kept_by_rejections(lambda: search_page.upload(str(path)), gr.Error)
    assert "más de 20.000 filas" in str(error) and error.__context__ is None
    assert kept < 2**20, f"{kept / 2**20:.1f} MB still held after 3 rejected uploads"


def test_models_env_lists_up_to_three(monkeypatch):
    from space.runtime import app_models

    monkeypatch.setenv("MODELS", "a/one, b/two,,c/three,d/four")
    assert app_models() == ["a/one", "b/two", "c/three"]
    monkeypatch.delenv("MODELS")
    monkeypatch.setenv("MODEL_ID", "org/model")
    assert app_models() == ["org/model"]


def test_similarity_side_by_side_with_two_models(_tiny_model_master, tmp_path, monkeypatch):
    import shutil

    from space.pages import similarity as similarity_page

    other = shutil.copytree(_tiny_model_master, tmp_path / "second")
    monkeypatch.setenv("MODELS", f"{_tiny_model_master},{other}")
    sts, cosine, rows, reading = similarity_page.similarity("Sube la luz", "Baja el gas")
    assert [row[0] for row in rows] == [str(_tiny_model_master), str(other)]
    assert rows[0][1] == pytest.approx(rows[1][1]) == pytest.approx(sts)
    assert rows[0][2] == pytest.approx(cosine) and reading == rows[0][3]


def test_did_fine_tuning_help_compares_two_models_pair_by_pair(_tiny_model_master, tmp_path, monkeypatch):
    """Two served models: the paired difference of their Spearman, its interval and p-value, and the
    pairs whose 0–5 reading changed most."""
    import torch
    from sentence_transformers import SentenceTransformer

    from space.evaluate import evaluate_models

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    changed_model = SentenceTransformer(str(_tiny_model_master), device="cpu")
    with torch.no_grad():
        for parameter in changed_model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    changed_model.save(str(tmp_path / "changed"))
    specs = [str(_tiny_model_master), str(tmp_path / "changed")]
    monkeypatch.setenv("MODELS", ",".join(specs))
    table, _, _, _, verdict, changed, _ = evaluate_models(specs)
    difference = table[1][2] - table[0][2]
    assert "¿Mejoró el ajuste?" in verdict and "IC 95 %" in verdict and "p = " in verdict
    shown = float(re.search(r"\*\*([+-][0-9,]+)\*\*", verdict).group(1).replace(",", "."))
    assert shown == pytest.approx(difference, abs=2e-4)
    assert len(changed) == 10 and all(len(row) == 6 for row in changed)
    moves = [abs(row[5]) for row in changed]
    assert moves == sorted(moves, reverse=True) and moves[0] > 0


def test_the_served_log_is_quiet_and_honest(_tiny_model_master, tmp_path):
    """``python app.py``: a start-up line with the URL, one with the models and their backend, one line
    per refused request; no progress bars, warnings or tracebacks from the libraries."""
    import time

    from gradio_client import Client

    from benchmarks.load import start_app, stop_app

    log = tmp_path / "app.log"
    env = {
        "MODEL_ID": str(_tiny_model_master),
        "WORKBENCH_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
    }
    process, url, _ = start_app(env, log=log)
    try:
        started = time.perf_counter()
        while "Ready: " not in log.read_text() and time.perf_counter() - started < 180:
            time.sleep(0.5)
        client = Client(url, verbose=False)
        client.predict("Sube la luz", "Baja el gas", api_name="/similarity")
        client.predict("sequía", 3, api_name="/search")
        client.predict("cluster", "kmeans", 4, "2D", "una frase", api_name="/cluster_map")
        with pytest.raises(Exception, match="Escribe la primera frase"):
            client.predict("", "algo", api_name="/similarity")
        while "Prepared: " not in log.read_text() and time.perf_counter() - started < 240:
            time.sleep(0.5)  # the faster variant, built in a process of its own, logs here too
    finally:
        stop_app(process)
    text = log.read_text()
    assert "Prepared: " in text
    assert f"Serving {url.rstrip('/')}" in text and "MCP server at /gradio_api/mcp/" in text
    assert f"Ready: {_tiny_model_master} on " in text
    for noise in ("Batches", "it/s]", "Traceback", "Warning", "LOAD REPORT", "INFO root", "fusion", "DEBUG"):
        assert noise not in text, f"{noise!r} in the log:\n{text}"
    assert text.count("refused: Escribe la primera frase") == 1


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_oversized_bodies_are_refused_in_spanish_before_they_are_read(served_app, caplog):
    """413 and a Spanish message for a body over its route's limit, declared or streamed; 100 of them
    leave the server's memory where it was (the server runs in this process here)."""
    import httpx

    body = b'{"data": ["' + b"x" * (5 * 2**20) + b'"]}'
    call = f"{served_app}gradio_api/call/duplicates"
    answer = httpx.post(call, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert (
        answer.status_code == 413
        and "La petición ocupa 5,0 MB y el máximo es 1,0 MB" in answer.json()["error"]
    )

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 2**17

    streamed = httpx.post(f"{served_app}gradio_api/queue/join", content=chunks(), timeout=30)
    assert streamed.status_code == 413 and "el máximo es 1,0 MB" in streamed.json()["error"]
    upload = httpx.post(
        f"{served_app}gradio_api/upload", files={"files": ("grande.csv", b"a" * (12 * 2**20))}, timeout=30
    )
    assert upload.status_code == 413 and "hasta 10 MB" in upload.json()["error"]
    before = _rss_mb()
    for number in range(100):  # from 100 addresses: the per-client burst limit is another test's
        forwarded = {"X-Forwarded-For": f"10.2.0.{number}"}
        assert httpx.post(call, content=body, headers=forwarded, timeout=30).status_code == 413
    assert _rss_mb() - before < 50, f"{_rss_mb() - before:.0f} MB kept by 100 refused bodies"
    ok = httpx.post(f"{served_app}gradio_api/call/similarity", json={"data": ["hola", "hola"]}, timeout=30)
    assert ok.status_code == 200  # a normal call still goes through
    assert "refused: a body of" in caplog.text


def test_unknown_endpoints_and_short_calls_are_refused_in_spanish_without_a_traceback(served_app, caplog):
    import httpx

    with httpx.Client(base_url=served_app, timeout=30) as http:
        unknown = http.post("gradio_api/call/predict", json={"data": ["hola"]})
        assert unknown.status_code == 404 and "No existe el punto /predict" in unknown.json()["error"]
        assert "/similarity" in unknown.json()["error"]
        short = http.post("gradio_api/call/similarity", json={"data": ["hola"]})
        assert short.status_code == 422
        assert (
            "/similarity necesita 2 valores, uno por entrada (sentence_a, sentence_b" in short.json()["error"]
        )
        empty = http.post("gradio_api/call/evaluate", json={"data": []})  # every parameter has a default
        assert empty.status_code == 422 and "llegaron 0" in empty.json()["error"]
        for bad in (b"no es json", b'{"data": "hola"}', b"[1, 2]"):
            answer = http.post("gradio_api/call/similarity", content=bad)
            assert answer.status_code == 422 and 'una lista "data"' in answer.json()["error"]
        fine = http.post("gradio_api/call/similarity", json={"data": ["hola", "adiós"]})
        assert fine.status_code == 200 and "event_id" in fine.json()
    assert caplog.text.count("refused: /gradio_api/call/") >= 5 and "Traceback" not in caplog.text


def test_one_flooding_client_waits_alone_and_others_are_served(served_app, caplog):
    import httpx

    flood = {"X-Forwarded-For": "10.9.9.9"}
    with httpx.Client(base_url=served_app, timeout=30) as http:
        answers = [
            http.post("gradio_api/call/similarity", json={"data": ["uno", "dos"]}, headers=flood)
            for _ in range(60)
        ]
        refused = [a for a in answers if a.status_code == 429]
        assert len(refused) >= 15 and sum(a.status_code == 200 for a in answers) >= 8
        assert all("Espera a que terminen tus consultas" in a.json()["error"] for a in refused)
        other = http.post(
            "gradio_api/call/similarity",
            json={"data": ["hola", "hola"]},
            headers={"X-Forwarded-For": "10.1.1.1"},
        )
        assert other.status_code == 200
        event = http.get(f"gradio_api/call/similarity/{other.json()['event_id']}").text
        assert "event: complete" in event  # the innocent visitor is answered
    assert "refused: /gradio_api/call/similarity from 10.9.9.9" in caplog.text


def test_a_client_may_have_only_a_few_jobs_waiting_and_others_are_served(served_app, caplog, monkeypatch):
    """One address cannot hold the queue: past 8 jobs waiting it is told to wait, alone."""
    import threading

    import httpx

    import space.evaluate

    release = threading.Event()
    real = space.evaluate.evaluate_models

    def slow(*args, **kwargs):
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(space.evaluate, "evaluate_models", slow)
    flood = {"X-Forwarded-For": "10.8.8.8"}
    with httpx.Client(base_url=served_app, timeout=60) as http:
        try:
            answers = [
                http.post("gradio_api/call/evaluate", json={"data": [None, False]}, headers=flood)
                for _ in range(14)
            ]
            accepted = [a for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code == 429]
            # 8 waiting, and the one running once it has left the queue
            assert 8 <= len(accepted) <= 9 and len(accepted) + len(refused) == 14
            assert "tienes 8 en la cola y el máximo es 8" in refused[0].json()["error"]
            other = http.post(
                "gradio_api/call/similarity",
                json={"data": ["hola", "hola"]},
                headers={"X-Forwarded-For": "10.1.2.3"},
            )
            assert other.status_code == 200
            assert (
                "event: complete" in http.get(f"gradio_api/call/similarity/{other.json()['event_id']}").text
            )
        finally:
            release.set()
        for answer in accepted:  # the flood's jobs end, and the next one from that address is taken
            http.get(f"gradio_api/call/evaluate/{answer.json()['event_id']}")
        again = http.post("gradio_api/call/similarity", json={"data": ["uno", "dos"]}, headers=flood)
        assert again.status_code == 200
    assert "refused: /gradio_api/call/evaluate from 10.8.8.8, 8 waiting in the queue" in caplog.text


def test_a_call_without_a_session_configures_only_what_it_touches(served_app):
    """Gradio built the config of every component for each new session (~33 ms and ~210 KB kept, for
    each call of the call API); now only the components a call touches, and a deep link still all."""
    import gc

    import httpx
    from gradio.state_holder import SessionState

    before = {id(obj) for obj in gc.get_objects() if type(obj) is SessionState}  # other tests' sessions
    with httpx.Client(base_url=served_app, timeout=30) as http:
        for _ in range(5):
            event = http.post("gradio_api/call/similarity", json={"data": ["hola", "adiós"]}).json()
            assert "event: complete" in http.get(f"gradio_api/call/similarity/{event['event_id']}").text
    sessions = [obj for obj in gc.get_objects() if type(obj) is SessionState and id(obj) not in before]
    components = len(sessions[0].blocks_config.blocks)
    assert len(sessions) >= 5 and components > 50
    assert max(dict.__len__(session.config_values) for session in sessions) < 10  # inputs and outputs
    every = list(sessions[0].components)  # what a deep link reads
    assert len(every) == len(sessions[0].config_values) > 50


def test_bad_file_links_and_references_are_refused_in_spanish_without_a_traceback(served_app, caplog, capfd):
    """What Gradio refuses in a call's inputs before our code runs: a link to a loopback or link-local
    address (its SSRF check), a path never uploaded, a string or a dict that is not a file."""
    import httpx

    file = {"meta": {"_type": "gradio.FileData"}}
    cases = {
        "No se descarga http://127.0.0.1:9/x.csv: solo se aceptan enlaces http(s) a direcciones públicas": [
            file | {"path": "http://127.0.0.1:9/x.csv", "url": "http://127.0.0.1:9/x.csv"},
            False,
        ],
        "No se descarga http://169.254.169.254/latest": [
            file | {"path": "http://169.254.169.254/latest", "url": "http://169.254.169.254/latest"},
            False,
        ],
        "El archivo /etc/passwd no se subió a este Space": [file | {"path": "/etc/passwd"}, False],
        "Lo enviado para /evaluate no es un archivo": ["hola", False],
    }
    with httpx.Client(base_url=served_app, timeout=60) as http:
        for message, data in cases.items():
            event = http.post("gradio_api/call/evaluate", json={"data": data}).json()["event_id"]
            answer = http.get(f"gradio_api/call/evaluate/{event}").text
            assert "event: error" in answer and message in json.loads(answer.split("data: ", 1)[1])["error"]
        fine = http.post("gradio_api/call/similarity", json={"data": ["hola", "hola"]}).json()["event_id"]
        assert "event: complete" in http.get(f"gradio_api/call/similarity/{fine}").text
    assert caplog.text.count("refused: inputs of /evaluate") == 4
    assert "Traceback" not in caplog.text + capfd.readouterr().err


def test_uploads_stop_in_spanish_while_the_temp_folder_is_over_its_budget(served_app, caplog, monkeypatch):
    import httpx
    from gradio.utils import get_upload_folder

    from space.quotas import TempFolder, _folder_size, _upload_folder

    monkeypatch.setattr(TempFolder, "RESCAN_S", -1.0)  # looked at on each upload: no stale size
    assert _upload_folder() == get_upload_folder()  # the folder Gradio writes to, named without importing it
    used = _folder_size(get_upload_folder())
    monkeypatch.setenv("WORKBENCH_TEMP_BUDGET_MB", str((used + 700) / 2**20))  # room for 700 bytes
    with httpx.Client(base_url=served_app, timeout=30) as http:
        small = {"files": ("poco.csv", b"a" * 400)}
        first = http.post("gradio_api/upload", files=small, headers={"X-Forwarded-For": "10.3.0.1"})
        assert first.status_code == 200  # ~600 bytes with the form's envelope
        full = http.post("gradio_api/upload", files=small, headers={"X-Forwarded-For": "10.3.0.2"})
        assert full.status_code == 507
        assert "El Space guarda ahora demasiados archivos subidos" in full.json()["error"]
        monkeypatch.delenv("WORKBENCH_TEMP_BUDGET_MB")
        again = http.post("gradio_api/upload", files=small, headers={"X-Forwarded-For": "10.3.0.3"})
        assert again.status_code == 200
    assert "refused: an upload from 10.3.0.2, temp folder at" in caplog.text


def test_a_cached_map_answers_while_an_upload_is_being_embedded(served_app, tmp_path, monkeypatch):
    """The served corpus' map, already computed, does not wait behind another visitor's upload (it
    waited in the heavy lane before)."""

    from gradio_client import Client

    visitor = Client(served_app, verbose=False)
    visitor.predict(api_name="/cluster_map")  # computed once (the warm-up would have done it)
    job, inside, release = _paused_upload(served_app, tmp_path, monkeypatch, "otro texto lento número", 40)
    try:
        assert inside.wait(60)
        figure, _ = visitor.predict(api_name="/cluster_map")
        assert figure is not None and not job.done()  # answered while the upload still holds the slot
    finally:
        release.set()
    assert "40 textos" in job.result()[0]


def test_every_refusal_gradio_raises_on_a_file_link_reads_in_spanish():
    from space.pages.intake import input_refusal

    link = [{"path": "https://noexiste.invalid/a.csv", "url": "https://noexiste.invalid/a.csv"}, False]
    cases = {
        ValueError("Unable to resolve hostname noexiste.invalid: [Errno -2]"): "(ese nombre no existe)",
        Exception("Failed to download file. Status code: 404"): "(código 404): comprueba el enlace",
        ValueError("Hostname noexiste.invalid failed validation"): "solo se aceptan enlaces http(s)",
        TypeError("something else"): "Un valor enviado a /evaluate no es válido (TypeError)",
    }
    for error, expected in cases.items():
        message = input_refusal("evaluate", error, link)
        assert expected in message and "Errno" not in message and "Status code" not in message


def test_a_full_queue_answers_in_spanish_with_one_log_line(caplog):
    """Gradio's own 503 "Queue is full…" (English) becomes a Spanish message; the body is never sent twice."""
    import asyncio

    from core.messages import QUEUE_FULL
    from space.edges import BodyLimit

    async def full_queue(scope, receive, send):
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"detail": "Queue is full. Max size is 64."}'})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b'{"data": []}', "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join",
             "headers": [(b"content-length", b"12")], "client": ("10.7.7.7", 1)}  # fmt: skip
    asyncio.run(BodyLimit(full_queue)(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"] and sent[0][
        "status"
    ] == 503
    assert json.loads(sent[1]["body"])["error"] == QUEUE_FULL and b"Queue is full" not in sent[1]["body"]
    assert "refused: /gradio_api/queue/join from 10.7.7.7, the queue is full" in caplog.text


def test_a_script_calling_one_after_another_is_never_stopped(served_app):
    """The limits stop floods, not a developer's loop: 80 calls in a row, each awaited, all answered."""
    import httpx

    script = {"X-Forwarded-For": "10.6.6.6"}
    with httpx.Client(base_url=served_app, timeout=60) as http:
        for number in range(80):
            call = http.post(
                "gradio_api/call/similarity", json={"data": ["hola", f"frase {number}"]}, headers=script
            )
            assert call.status_code == 200, (number, call.text)
            assert "event: complete" in http.get(f"gradio_api/call/similarity/{call.json()['event_id']}").text
