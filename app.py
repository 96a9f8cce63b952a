"""The Gradio Space: Spanish sentence similarity, semantic search, cluster map, duplicates, evaluation.

``python app.py`` runs it locally and on a Hugging Face Space. Models come from ``$MODEL_ID`` (one) or
``$MODELS`` (a comma list of up to 3), else the built-in offline model; the corpus served to everyone
from ``$CORPUS`` (a Hub dataset id or a local file), else the bundled news. A visitor's upload becomes
their session's corpus, used by every tab.

This file puts the page together: each tab's components and events come from ``space.pages`` (Gradio),
which wires them to the plain functions of ``space``; their ``WorkbenchError`` becomes a ``gr.Error``
the visitor reads (one log line, no traceback).
"""

from __future__ import annotations

import logging
import os

import gradio as gr
from starlette.middleware import Middleware

from space import about as about_tab
from space import runtime
from space import search as search_tab
from space.edges import BodyLimit, register_endpoints
from space.logs import quiet_logs
from space.pages import about as about_page
from space.pages import evaluate as evaluate_page
from space.pages import explore as explore_page
from space.pages import search as search_page
from space.pages import similarity as similarity_page
from space.pages.intake import lazy_session_configs, spanish_input_refusals
from space.pages.wiring import QUICK, SESSION_TTL_S

logger = logging.getLogger(__name__)

# How the app is launched, here and in the tests: uploads up to 10 MB; also an MCP server; tables in the
# page's own font, not monospace; the footer without "Runs" (Gradio's run history link is not translated).
LAUNCH = {
    "max_file_size": "10mb",
    "mcp_server": True,
    "css": ".gradio-container table, .gradio-container table *, .gradio-container .body-cell, "
    ".gradio-container .body-cell * { font-family: var(--font) !important; }",
    "footer_links": ["api", "gradio", "settings"],
    # Bodies over their route's limit are refused (413, Spanish) before a byte is read (space/edges.py).
    "app_kwargs": {"middleware": [Middleware(BodyLimit)]},
}


def build_demo() -> gr.Blocks:
    """The whole app, ready to ``launch()``."""
    specs = runtime.app_models()
    # Files visitors upload are removed an hour after upload (checked every 10 minutes).
    with gr.Blocks(title="Embeddings de frases en español", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Embeddings de frases en español")
        gr.Markdown(about_tab.introduction(), elem_id="introduction")
        loading = gr.Markdown(runtime.loading_message() or "", visible=False, elem_id="loading")
        with gr.Row(equal_height=True):  # on every tab: which corpus, and the way back
            banner = gr.Markdown(search_tab.corpus_banner(None), elem_id="corpus-banner")
            back = gr.Button("Volver al corpus de noticias", size="sm", scale=0, elem_id="reset-corpus")
        corpus = gr.State(None, time_to_live=SESSION_TTL_S)  # this visitor's corpus; None: the served one
        models = gr.Dropdown(
            specs, value=specs[0], label="Modelo", visible=len(specs) > 1, allow_custom_value=True
        )
        with gr.Tab("Similitud"):
            similarity_page.build()
        with gr.Tab("Búsqueda semántica"):
            search_page.build(corpus, models, banner, back)
        with gr.Tab("Mapa de clusters"):
            explore_page.build_cluster_tab(corpus, models)
        with gr.Tab("Duplicados"):
            explore_page.build_duplicates_tab(corpus, models)
        with gr.Tab("Evaluación"):
            evaluate_page.build()
        with gr.Tab("Acerca de"):
            info = gr.Markdown(elem_id="about", label="Acerca de")
            demo.load(about_page.about, [corpus], info, api_name="about", **QUICK)
        timer = gr.Timer(1.5)  # while the models load: say so, then stop asking
        timer.tick(about_page.loading_state, None, [loading, timer], api_name=False, show_progress="hidden")
        demo.load(about_page.loading_state, None, [loading, timer], api_name=False, show_progress="hidden")
    # Gradio summarises its last 10,000 events in a pandas table after every event (for its monitoring
    # page): ~20 ms of CPU per answer once a Space has served that many. Every 100th event is enough.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
    # The queue is the only way in: no direct POST /gradio_api/run/... that would skip its limits.
    demo.queue(default_concurrency_limit=2, max_size=64, api_open=False)
    register_endpoints(demo)  # unknown endpoints and short calls are refused in Spanish (space/edges.py)
    lazy_session_configs()  # a new session costs no config of every component (space/pages/intake.py)
    # a bad file link or reference in a call's inputs: Spanish, no traceback (space/pages/intake.py)
    spanish_input_refusals(demo)
    return demo


def main() -> None:
    quiet_logs()
    host = os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    logger.info(
        "Serving http://%s:%d with %s (backend %s); MCP server at /gradio_api/mcp/",
        "localhost" if host == "0.0.0.0" else host, port, ", ".join(runtime.app_models()),
        os.environ.get("WORKBENCH_BACKEND", "auto"),
    )  # fmt: skip
    demo = build_demo()
    demo.launch(server_name=host, server_port=port, quiet=True, prevent_thread_lock=True, **LAUNCH)
    # the models load once the page is served: started earlier, their imports (torch, sentence-
    # transformers) took the GIL from the page's build and slowed both (docs/performance.md)
    runtime.start_warm_up()
    demo.block_thread()


if __name__ == "__main__":
    main()
