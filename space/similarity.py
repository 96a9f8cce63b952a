"""The similarity tab: two sentences on the calibrated 0–5 scale under every served model, one sentence
against a list, and the similarity matrix of a few sentences."""

from __future__ import annotations

import logging

from core.models.calibration import describe_similarity, shown_reading
from core.models.similarity import rank_candidates, score_pairs, similarity_matrix
from space.checks import checked_lines, checked_text, log_note
from space.figures import heatmap, ranked_bars
from space.runtime import Warn, app_models, model_handle

logger = logging.getLogger(__name__)


PAIR_EXAMPLES = [
    ["El Gobierno aprueba los presupuestos", "El Ejecutivo da luz verde a las cuentas públicas"],
    ["El Gobierno aprueba los presupuestos", "El Real Madrid gana la Liga"],
    ["Llueve con fuerza en Bogotá desde el amanecer", "Un aguacero cae sobre la capital colombiana"],
]


RANK_EXAMPLE = [
    "Sube el precio de la vivienda en Madrid",
    "Los alquileres se disparan en la capital\nEl Atlético gana en Sevilla\nBaja el paro en Andalucía\n"
    "La compraventa de casas se encarece en Madrid",
]


MATRIX_EXAMPLE = (
    "El Banco Central sube los tipos de interés\nLa autoridad monetaria encarece el crédito\n"
    "Argentina gana la Copa América\nLa selección albiceleste se corona campeona\nNieva en los Andes"
)


def compare(sentence_a: object, sentence_b: object, warn: Warn = log_note) -> tuple[float, float, list[list]]:
    """How close two sentences are under every configured model (the first one leads): the reading on
    the 0–5 STS scale, calibrated per model (``core.models.calibration``), then the raw cosine.

    Returns:
        The first model's 0–5 score, its cosine, and one row per model: model, 0–5, cosine, reading.
    """
    rows = []
    for spec in app_models():
        handle = model_handle(spec)
        a = checked_text(sentence_a, "la primera frase", handle, warn)
        b = checked_text(sentence_b, "la segunda frase", handle, warn)
        (score,) = score_pairs(handle.model, [(a, b)])
        if a == b:  # the same text means the same, whatever the model
            sts, band = 5.0, None
        else:
            sts, band = handle.calibration(score), handle.calibration.band(score)
        rows.append([spec, shown_reading(sts), round(score, 4), describe_similarity(sts, band)])
    return rows[0][1], rows[0][2], rows


def rank(sentence: object, candidates: object, warn: Warn = log_note):
    """One sentence against a list (one per line): ranked bars and the table."""
    handle = model_handle()
    sentence = checked_text(sentence, "la frase", handle, warn)
    lines = checked_lines(candidates, "una frase candidata", 1, warn)
    ranked = rank_candidates(handle.model, sentence, lines)
    return ranked_bars(ranked), [[text, round(score, 4)] for text, score in ranked]


def matrix(sentences: object, warn: Warn = log_note):
    """Up to 20 sentences (one per line): a heatmap of their pairwise similarities."""
    handle = model_handle()
    lines = checked_lines(sentences, "dos frases", 2, warn)
    return heatmap(lines, similarity_matrix(handle.model, lines))
