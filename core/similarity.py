"""Similarity helpers shared by the predict CLI, the evaluation and the app."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence


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


def fit_sts_scale(model, cache_key: str | None = None) -> Callable[[float], float]:
    """Map a cosine of this model to the 0–5 STS scale, fitted on the bundled STS dev pairs.

    Cosines are not comparable across models (e5's unrelated sentences sit near 0.8), so a reading of
    "how similar" must be calibrated per model; isotonic regression keeps the mapping monotonic.

    Args:
        model: The loaded model.
        cache_key: The model's fingerprint: with it the dev-pair cosines (240 sentences to encode, the
            slowest part of the app's start) are kept on disk and the next start only refits.
    """
    from sklearn.isotonic import IsotonicRegression

    from core.data import load_sts

    pairs = load_sts("dev")
    cosines = _dev_cosines(model, pairs, cache_key)
    regression = IsotonicRegression(y_min=0.0, y_max=5.0, out_of_bounds="clip")
    regression.fit(cosines, [p["score"] for p in pairs])
    return lambda cosine: float(regression.predict([cosine])[0])


def _dev_cosines(model, pairs: list[dict], cache_key: str | None) -> list[float]:
    from core.fingerprint import data_fingerprint
    from core.io import read_json, write_file_atomically
    from core.paths import cache_dir

    if cache_key is None:
        return score_pairs(model, [(p["sentence1"], p["sentence2"]) for p in pairs])
    path = cache_dir() / "calibration" / f"{cache_key}-{data_fingerprint(pairs)}.json"
    cached = read_json(path)
    if isinstance(cached, list) and len(cached) == len(pairs):
        return cached
    cosines = score_pairs(model, [(p["sentence1"], p["sentence2"]) for p in pairs])
    write_file_atomically(path, lambda handle: json.dump(cosines, handle))
    return cosines


READINGS = (
    (4.5, "Casi lo mismo: dicen prácticamente lo mismo."),
    (3.5, "Muy parecidas: comparten la idea principal, con detalles distintos."),
    (2.0, "Relacionadas: comparten algunos detalles."),
    (1.0, "Mismo tema, distinto contenido."),
    (float("-inf"), "Distintas: tratan de cosas diferentes."),
)


def describe_similarity(sts_score: float) -> str:
    """A plain-language reading of a score on the 0–5 STS scale (see ``fit_sts_scale``)."""
    text = next(label for threshold, label in READINGS if sts_score >= threshold)
    return f"{text} (≈ {sts_score:.1f}/5 en la escala STS)"


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
