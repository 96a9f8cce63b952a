"""A quiet, honest log for the served app: one line per event worth knowing, no library chatter.

What is silenced is known noise, each at its source: sentence-transformers draws a "Batches:" progress
bar on every encode when its logger is at INFO; transformers prints a load report listing the unused
pooler of the built-in model; umap and scikit-learn warn about their own API changes (``FutureWarning``
raised inside umap, not by our code); the ONNX export traces the model (``TracerWarning``: the shapes
it records are the ones we export; a ``UserWarning`` on advanced indexing, which our graph does not use
with negative indices; OpenVINO's converter the same, and a renamed transformers attribute it reads) and
onnxruntime's optimiser and quantiser log every fused node and tensor at
INFO, the quantiser on the root logger; Gradio warns that the ``search`` tool has a ``gr.State`` input (over
MCP it is the served corpus, as documented); the MCP server logs every request at INFO. Our own loggers
stay at INFO.
"""

from __future__ import annotations

import logging
import warnings

NOISY_LOGGERS = ("sentence_transformers", "transformers", "httpx", "urllib3", "huggingface_hub", "mcp")


OUR_LOGGERS = ("__main__", "app", "space", "core", "evaluation", "trainer", "benchmarks")


def quiet_logs(level: int = logging.INFO) -> None:
    """Our loggers at ``level``; every other logger at WARNING, and nothing below ERROR from the root
    logger, which only libraries use (onnxruntime's quantiser logs each tensor there)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.name != "root" or record.levelno >= logging.ERROR)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a requirement
        pass
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(umap|sklearn)(\..*)?$")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(umap|torch\.onnx)(\..*)?$")
    warnings.filterwarnings("ignore", message=r"This MCP server includes a tool that has a gr.State input")
    # OpenVINO's converter asks transformers' module about gradient checkpointing, which warns it renamed it
    warnings.filterwarnings(
        "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )
    try:
        from torch.jit import TracerWarning

        warnings.filterwarnings("ignore", category=TracerWarning)
    except ImportError:  # pragma: no cover
        pass
