"""The app served for real, driven through gradio_client."""

from __future__ import annotations

import socket

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_client(_tiny_model_master):
    from gradio_client import Client

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MODEL_ID", str(_tiny_model_master))
    import app

    demo = app.build_demo()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()
        monkeypatch.undo()


def test_similarity_endpoint(app_client):
    score, reading = app_client.predict(
        "Hoy llueve en Madrid", "Hoy llueve en Madrid", api_name="/similarity"
    )
    assert score == pytest.approx(1.0, abs=1e-3)
    assert reading.startswith("Casi lo mismo")


def test_empty_sentence_is_a_clear_error_and_server_keeps_serving(app_client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Escribe la primera frase"):
        app_client.predict("   ", "algo", api_name="/similarity")
    score, _ = app_client.predict("Una frase", "Otra frase distinta", api_name="/similarity")
    assert -1.0 <= score <= 1.0


def test_demo_shows_the_model_in_use(_tiny_model_master, monkeypatch):
    monkeypatch.setenv("MODEL_ID", str(_tiny_model_master))
    import app

    demo = app.build_demo()
    markdown = [block for block in demo.blocks.values() if type(block).__name__ == "Markdown"]
    assert any(str(_tiny_model_master) in block.value for block in markdown)
