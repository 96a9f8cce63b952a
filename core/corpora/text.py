"""Cleaning what people type or upload before any model sees it."""

from __future__ import annotations

import re

# Texts longer than this are cut before tokenizing: a model reads at most 512 tokens (~2,500 characters
# of Spanish), and tokenizing megabytes would hold a shared tokenizer for seconds.
MAX_TEXT_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# invisible characters (zero-width spaces and joiners, direction marks, BOM) go without a trace: a text of
# nothing but them is empty, not something to score
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: object) -> str:
    """``value`` as one line of text: control characters and lone surrogates removed (they break
    tokenizers and UTF-8 output), runs of whitespace collapsed, ends stripped."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return " ".join(_INVISIBLE.sub("", _SURROGATE.sub("", _CONTROL.sub(" ", text))).split())


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters at a word boundary; the flag says whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut), True


def counted(count: int, singular: str, plural: str) -> str:
    """``1 fila``, ``2 filas``, ``1.200 filas``: a count with its noun in the right number."""
    return f"{thousands(count)} {singular if count == 1 else plural}"


def thousands(number: int) -> str:
    """``20000`` as Spanish readers write it: ``20.000``."""
    return f"{number:,}".replace(",", ".")


def decimal(number: float, digits: int = 1, sign: bool = False) -> str:
    """``3.5`` as Spanish readers write it in prose: ``3,5`` (``+0,0123`` with ``sign``)."""
    return f"{number:{'+' if sign else ''}.{digits}f}".replace(".", ",")
