"""The Gradio Space: compare Spanish sentences with a sentence-embedding model.

Run locally or on a Hugging Face Space with ``python app.py``. The model comes from ``$MODEL_ID``,
else the built-in offline model (see ``core.loader``).
"""

from __future__ import annotations

import logging
import os

import gradio as gr

from core.loader import ModelLoadError, get_model, resolve_spec
from core.similarity import describe_similarity, score_pairs

logger = logging.getLogger(__name__)

MAX_SENTENCE_CHARS = 2000
EXAMPLES = [
    ["El Gobierno aprueba los presupuestos", "El Ejecutivo da luz verde a las cuentas públicas"],
    ["El Gobierno aprueba los presupuestos", "El Real Madrid gana la Liga"],
    ["Llueve con fuerza en Bogotá desde el amanecer", "Un aguacero cae sobre la capital colombiana"],
]


def compare(sentence_a: str, sentence_b: str) -> tuple[float, str]:
    """Cosine similarity of two sentences and a plain-language reading of it."""
    for label, sentence in (("primera", sentence_a), ("segunda", sentence_b)):
        if not (sentence or "").strip():
            raise gr.Error(f"Escribe la {label} frase: está vacía.")
        if len(sentence) > MAX_SENTENCE_CHARS:
            raise gr.Error(f"La {label} frase es demasiado larga: máximo {MAX_SENTENCE_CHARS} caracteres.")
    try:
        model = get_model(resolve_spec())
    except ModelLoadError as err:
        raise gr.Error(str(err)) from err
    (score,) = score_pairs(model, [(sentence_a.strip(), sentence_b.strip())])
    return round(score, 4), describe_similarity(score)


def build_similarity_tab() -> None:
    with gr.Row():
        sentence_a = gr.Textbox(label="Frase A", lines=2, max_length=MAX_SENTENCE_CHARS)
        sentence_b = gr.Textbox(label="Frase B", lines=2, max_length=MAX_SENTENCE_CHARS)
    button = gr.Button("Comparar", variant="primary")
    with gr.Row():
        score = gr.Number(label="Similitud coseno", precision=4)
        reading = gr.Textbox(label="Lectura", interactive=False)
    gr.Examples(EXAMPLES, inputs=[sentence_a, sentence_b])
    button.click(compare, [sentence_a, sentence_b], [score, reading], api_name="similarity")


def build_demo() -> gr.Blocks:
    """The whole app, ready to ``launch()``."""
    with gr.Blocks(title="Similitud de frases en español") as demo:
        gr.Markdown(
            "# Similitud de frases en español\n"
            f"Modelo: `{resolve_spec()}`. Escribe dos frases y compara su significado."
        )
        with gr.Tab("Similitud"):
            build_similarity_tab()
    # Two vCPUs: a few requests at a time keep latency low; the rest wait in the queue.
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    get_model(resolve_spec())  # load before serving so the first visitor does not wait
    build_demo().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )


if __name__ == "__main__":
    main()
