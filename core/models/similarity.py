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
    # one encode call for both sides: a single pair is one forward pass instead of two
    sentences = [a for a, _ in pairs] + [b for _, b in pairs]
    embeddings = model.encode(
        sentences, prompt_name=prompt_name, batch_size=batch_size, convert_to_tensor=True
    )
    left, right = embeddings[: len(pairs)], embeddings[len(pairs) :]
    return [float(score) for score in pairwise_cos_sim(left, right)]


def rank_candidates(model, sentence: str, candidates: Sequence[str]) -> list[tuple[str, float]]:
    """Candidates sorted by cosine similarity to ``sentence``, most similar first."""
    from sentence_transformers.util import cos_sim

    query = model.encode([sentence], convert_to_tensor=True)
    others = model.encode(list(candidates), convert_to_tensor=True)
    scores = cos_sim(query, others)[0].tolist()
    return sorted(zip(candidates, scores, strict=True), key=lambda pair: -pair[1])


def similarity_matrix(model, sentences: Sequence[str]):
    """Pairwise cosine similarities of ``sentences`` as a numpy matrix."""
    from sentence_transformers.util import cos_sim

    embeddings = model.encode(list(sentences), convert_to_tensor=True)
    return cos_sim(embeddings, embeddings).cpu().numpy()


def token_count(model, text: str) -> int:
    """Tokens the model would see for ``text`` before truncation (prompt not counted)."""
    return len(model.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
