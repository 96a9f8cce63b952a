"""How every event is wired: the concurrency lanes and the heavy slot, the ZeroGPU durations, the
visitor's error message instead of a traceback (``call``), values reaching the functions as sent
(``AS_SENT``), and which events stay out of the MCP server's tools (``api_only``)."""

from __future__ import annotations

import logging

import gradio as gr

from core import messages
from core.cache import computing_under
from core.errors import ModelLoadError, WorkbenchError
from space import runtime

logger = logging.getLogger(__name__)


SESSION_TTL_S = (
    3600  # an idle visitor's corpus is dropped after this (docs/performance.md, "Many visitors at once")
)


# Two vCPUs: quick requests (similarity, search) run two at a time; heavy ones (upload, map, duplicates,
# evaluation) one at a time in their own group, so they never take the quick requests' places.
QUICK = {"concurrency_id": "quick", "concurrency_limit": 2}


HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 1}


# The map, duplicates and export: what the cache holds (the served corpus' map, its embeddings) answers at
# once, beside the heavy lane; what must be computed waits for the one heavy slot (``explore_call``).
EXPLORE = {"concurrency_id": "explore", "concurrency_limit": 2}


# ZeroGPU: the longest each kind of event may hold a GPU (seconds; a shorter duration queues sooner). Every
# decorated event runs the model; the decorator is a no-op off ZeroGPU (docs/space.md, "Deploy the Space").
QUICK_GPU_S, HEAVY_GPU_S, EVALUATE_GPU_S = 15, 120, 300


def call(function, *args, **kwargs):
    """``function(...)``, its ``WorkbenchError`` turned into a message for the visitor. Raised outside the
    handler, so the error keeps no frame of the failed work alive (a rejected upload's bytes)."""
    message = None
    try:
        with runtime.job():  # counted: a long job uses every core only while nothing else runs
            return function(*args, **kwargs)
    except ModelLoadError as err:  # the Space's configuration, not the visitor: the details go to the log
        logger.error("%s: a model could not be loaded: %s", function.__name__, err)
        message = messages.MODEL_UNAVAILABLE.format(spec=", ".join(runtime.app_models()))
    except WorkbenchError as err:
        message = str(err)
    logger.info("%s refused: %s", function.__name__, message)
    raise gr.Error(message, print_exception=False)


def heavy_call(function, *args, **kwargs):
    """``call`` holding the one heavy slot throughout (an upload, an evaluation)."""
    with runtime.heavy_slot(kwargs.get("progress")):
        return call(function, *args, **kwargs)


def explore_call(function, *args, **kwargs):
    """``call`` in which only what the cache does not hold yet is computed in the heavy slot (a cached
    map of the served corpus answers while an upload is being embedded)."""
    with computing_under(lambda: runtime.heavy_slot(kwargs.get("progress"))):
        return call(function, *args, **kwargs)


# An event whose function checks every input itself (``space.checks``: numbers, choices, texts) takes
# the values as sent, unprocessed by Gradio (an event's ``preprocess=False``): Gradio's own checks answer
# in English, or with a stack trace for text in a slider. Not for an event with a file input: its function
# would get the file's JSON, not a path. Dropdowns whose choices an event updates use allow_custom_value.
AS_SENT = {"preprocess": False}


def api_only(function):
    """Keep an event in the API but out of the MCP server's tools: Gradio 6.31 lists as tools the events
    whose function has no ``_mcp_type`` or ``"tool"``. The tools are similarity, search and evaluate;
    the rest need the page (an upload, a session's corpus) or only make sense beside it."""
    function._mcp_type = "api-only"
    return function
