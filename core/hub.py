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
