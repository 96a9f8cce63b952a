"""The about tab and the "still loading" line."""

from __future__ import annotations

import gradio as gr

from space import about as about_tab
from space import runtime
from space.pages.wiring import api_only, call


@api_only
def about(corpus=None) -> str:
    """The served models (dimension, max length, prompts, backend, training) and the active corpus."""
    return call(about_tab.about, corpus)


@api_only
def loading_state():
    """Hide the "loading" line once the warm-up is over, and stop asking."""
    message = runtime.loading_message()
    return gr.update(value=message or "", visible=bool(message)), gr.Timer(active=bool(message))
