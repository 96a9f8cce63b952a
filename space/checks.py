"""Checks on what visitors, API clients and MCP tools send: clean text, whole numbers, known choices.

Each check returns the value in the form the work needs, or raises ``InputError`` with a Spanish message
that says what is expected; a note that does not stop the work (a text cut short) goes to ``warn``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from core import messages
from core.corpora.text import MAX_TEXT_CHARS, cap_text, clean_text, thousands
from core.errors import InputError
from core.models.similarity import token_count

logger = logging.getLogger(__name__)
MAX_SENTENCES = 20


def log_note(message: str) -> None:
    """Where a note goes when the caller gives no ``warn``: the log."""
    logger.info("note: %s", message)


def checked_text(text: object, label: str, handle=None, warn: Callable[[str], None] = log_note) -> str:
    """``text`` cleaned (``core.corpora.text.clean_text``), cut to ``MAX_TEXT_CHARS``; empty is an error."""
    text = clean_text(text)
    if not text:
        raise InputError(messages.EMPTY_TEXT.format(label=label))
    text, cut = cap_text(text)
    if cut:
        warn(messages.TEXT_TOO_LONG.format(label=label.capitalize(), max_chars=MAX_TEXT_CHARS))
    if handle is not None and (tokens := token_count(handle.model, text)) > handle.max_seq_length:
        warn(
            messages.TOO_MANY_TOKENS.format(
                label=label.capitalize(), tokens=tokens, max_tokens=handle.max_seq_length
            )
        )
    return text


def checked_lines(
    text: object, label: str, minimum: int, warn: Callable[[str], None] = log_note
) -> list[str]:
    """Non-empty lines of ``text`` (at least ``minimum``, at most ``MAX_SENTENCES``), each cleaned."""
    raw = text if isinstance(text, str) else ""
    lines = [clean_text(line) for line in raw.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < minimum:
        raise InputError(messages.TOO_FEW_LINES.format(label=label))
    if len(lines) > MAX_SENTENCES:
        raise InputError(
            messages.TOO_MANY_SENTENCES.format(
                count=thousands(len(lines)),
                maximum=MAX_SENTENCES,
                extra=thousands(len(lines) - MAX_SENTENCES),
            )
        )
    capped = [cap_text(line) for line in lines]
    if any(cut for _, cut in capped):
        warn(messages.SENTENCE_TOO_LONG.format(max_chars=MAX_TEXT_CHARS))
    return [line for line, _ in capped]


def whole_number(value: object, name: str, low: int, high: int) -> int:
    """``value`` as an integer in ``[low, high]``; anything else (text, NaN, out of range) is an error."""
    number = _as_float(value)
    if not low <= number <= high:
        raise InputError(
            messages.NOT_A_WHOLE_NUMBER.format(name=name, low=low, high=high, sent=str(value)[:40])
        )
    return int(round(number))


def number_between(value: object, name: str, low: float, high: float) -> float:
    """``value`` as a number in ``(low, high]``."""
    number = _as_float(value)
    if not low < number <= high:
        raise InputError(
            messages.NUMBER_OUT_OF_RANGE.format(name=name, low=low, high=high, sent=str(value)[:40])
        )
    return number


def one_of(value: object, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        sent = str(value)[:40]
        raise InputError(messages.UNKNOWN_CHOICE.format(name=name, sent=sent, choices=", ".join(choices)))
    return str(value)


def _as_float(value: object) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return number if math.isfinite(number) else math.nan
