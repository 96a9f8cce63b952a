"""How Gradio takes in a call before our functions run, made cheap and Spanish: a new session computes its
components' configs when they are read (``lazy_session_configs``), and what Gradio refuses in a call's
inputs (a file link to a private address, a path never uploaded, a value that is not a file) is answered
in Spanish with one ``refused:`` line (``spanish_input_refusals``). The requests themselves are bounded
before Gradio reads them (``space.edges``)."""

from __future__ import annotations

import logging

from core import messages

logger = logging.getLogger(__name__)


class _LazyConfigs(dict):
    """A session's component configs, each computed when first read; all of them when listed."""

    def __init__(self, blocks_config, ids):
        super().__init__()
        self._blocks_config, self._ids = blocks_config, ids

    def __missing__(self, key):
        value = self[key] = self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
        return value

    def __contains__(self, key) -> bool:
        return key in self._ids or super().__contains__(key)

    def items(self):
        for key in self._ids:
            if not super().__contains__(key):
                self[key]  # noqa: B018 (computes it)
        return super().items()


def lazy_session_configs() -> None:
    """Let a new session compute its components' configs when they are read, not all at its start.

    Gradio 6.31 builds, for every new session, the config of every component on the page
    (``gradio.state_holder.SessionState``): for this app ~33 ms of CPU and ~210 KB kept per session,
    before our code runs. A call without a session (``curl``, the call API) is a new session each
    time, so every such call paid it, and a client sending new sessions grew the server by ~2 GB
    before Gradio's cap of 10,000 sessions (docs/performance.md#abuse). The configs are read only by a
    deep link (``/gradio_api/deep_link``), which still gets all of them."""
    from gradio import state_holder

    session = state_holder.SessionState
    if getattr(session.__init__, "lazy_configs", False):
        return
    original = session.__init__

    class NoComponents:  # what the original reads: the default config, and no components to configure
        def __init__(self, blocks):
            self.default_config, self.blocks = blocks.default_config, {}

    def __init__(self, blocks):
        original(self, NoComponents(blocks))
        ids = [key for key in self.blocks_config.blocks if key in blocks.blocks]
        self.config_values = _LazyConfigs(self.blocks_config, ids)

    __init__.lazy_configs = True
    session.__init__ = __init__


def spanish_input_refusals(demo) -> None:
    """Turn what Gradio refuses in a call's inputs, before our code runs, into a Spanish message and
    one ``refused:`` line: a file link to a private or loopback address (Gradio's SSRF check), a
    download that fails, a path that was never uploaded, a malformed file reference. Gradio answered
    them with ``{"error": null}`` (an MCP client: an English line) and a traceback in the log."""
    import gradio as gr

    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:  # only what a visitor sent reaches here: the inputs, before our code
            message = input_refusal(block_fn.api_name or block_fn.name, err, inputs)
            logger.warning(
                "refused: inputs of /%s: %s", block_fn.api_name, f"{type(err).__name__}: {err}"[:200]
            )
            raise gr.Error(message, print_exception=False) from None

    demo.preprocess_data = preprocess_data


def input_refusal(name: str, err: Exception, inputs) -> str:
    """The Spanish message for ``err``, raised by Gradio while taking in a call's ``inputs``."""
    import re

    text = str(err)
    urls = [
        value.get("url") or value.get("path")
        for value in inputs
        if isinstance(value, dict) and isinstance(value.get("url") or value.get("path"), str)
    ]
    url = next((u for u in urls if u.startswith(("http://", "https://"))), "el enlace")[:120]
    if "failed validation" in text:
        return messages.NOT_PUBLIC.format(url=url)
    if "Unable to resolve hostname" in text:
        return messages.NOT_DOWNLOADED.format(url=url, reason=messages.NO_SUCH_HOST)
    if found := re.search(r"Status code: (\d+)", text):
        return messages.NOT_DOWNLOADED.format(
            url=url, reason=messages.HTTP_STATUS.format(status=found.group(1))
        )
    if type(err).__name__ == "InvalidPathError":
        path = next((u for u in urls if not u.startswith(("http://", "https://"))), "")
        return messages.NOT_UPLOADED.format(path=path[:120])
    if "FileData" in text:
        return messages.BAD_FILE.format(name=name)
    if type(err).__name__ in ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError"):
        return messages.NOT_DOWNLOADED.format(url=url, reason=messages.NO_ANSWER)
    return messages.BAD_VALUE.format(name=name, reason=type(err).__name__)
