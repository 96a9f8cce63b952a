"""Whether the Hugging Face Hub can be used now: one short probe, answered at once in offline mode."""

from __future__ import annotations

import os

OFFLINE = "offline"  # HF_HUB_OFFLINE is set
NO_ANSWER = "no-answer"  # the Hub did not answer within the timeout


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be used right now (``OFFLINE`` or ``NO_ANSWER``), or None when it answers."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return OFFLINE
    import httpx

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError:
        return NO_ANSWER
    return None


_decided: list[str | None] = []


def offline_unless_reachable(timeout: float = 3.0) -> str | None:
    """Probe the Hub once per process; when it does not answer, switch this process to offline mode
    (``HF_HUB_OFFLINE``), so that no later call waits on it with retries (every input of an offline run
    is bundled, local or built in). Returns ``hub_unreachable``'s reason, or None when the Hub answers."""
    import logging

    if not _decided:
        reason = hub_unreachable(timeout)
        if reason == NO_ANSWER:
            from huggingface_hub import constants

            os.environ["HF_HUB_OFFLINE"] = "1"
            constants.HF_HUB_OFFLINE = True
            logging.getLogger(__name__).warning(
                "The Hugging Face Hub does not answer: working offline (bundled, local and built-in inputs)."
            )
        _decided.append(reason)
    return _decided[0]
