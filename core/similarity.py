"""Similarity helpers shared by the predict CLI, the evaluation and the app."""

from __future__ import annotations

from collections.abc import Sequence


def score_pairs(
    model,
    pairs: Sequence[tuple[str, str]],
    prompt_name: str | None = None,
    batch_size: int = 32,
) -> list[float]:
    """Cosine similarity of each ``(sentence1, sentence2)`` pair.

    Args:
        model: A loaded ``SentenceTransformer``.
        pairs: The sentence pairs.
        prompt_name: Prompt applied to both sides; ``None`` uses the model's default prompt.
        batch_size: Sentences per encoding batch.

    Returns:
        One cosine similarity per pair, in input order.
    """
    from sentence_transformers.util import pairwise_cos_sim

    if not pairs:
        return []
    kwargs = {"prompt_name": prompt_name, "batch_size": batch_size, "convert_to_tensor": True}
    left = model.encode([a for a, _ in pairs], **kwargs)
    right = model.encode([b for _, b in pairs], **kwargs)
    return [float(score) for score in pairwise_cos_sim(left, right)]


def describe_similarity(score: float) -> str:
    """A plain-language reading of a cosine similarity between two sentences.

    The bands suit normalised embedding models, whose cosines for unrelated Spanish sentences sit
    well above zero; they are a reading aid, not a calibrated probability.
    """
    if score >= 0.9:
        return "Casi lo mismo: las frases dicen prácticamente lo mismo."
    if score >= 0.8:
        return "Muy parecidas: comparten la idea principal."
    if score >= 0.7:
        return "Relacionadas: hablan de un tema cercano."
    return "Distintas: tratan de cosas diferentes."
