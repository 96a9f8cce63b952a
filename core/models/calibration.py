"""The 0–5 reading of a cosine: a smooth monotone map fitted per model on Spanish STS pairs.

Cosines are not comparable across models (e5's unrelated sentences sit near 0.8), so "how similar"
must be calibrated per model. The map is fitted on the bundled STS dev pairs plus the calibration pairs
written for it (``assets/sts_es_calibration.jsonl``), minus a held-out quarter, stratified by score, on
which ``python -m benchmarks.calibration`` measures its error. The map matches quantiles of the cosines
to quantiles of people's scores (``StsScale.fit``); a PCHIP curve through them makes it smooth and keeps
it monotone, from 0 at a cosine of -1 to 5 at a cosine of 1 (the same text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

HELD_OUT_EVERY = 4  # one pair in four, taken along the score order, is held out


READING_DIGITS = 1  # the 0–5 reading is shown with one decimal everywhere: page, tables, API, downloads


def shown_reading(sts: float) -> float:
    """A 0–5 reading as every place shows it (``READING_DIGITS``)."""
    return round(float(sts), READING_DIGITS)


def calibration_pairs() -> tuple[list[dict], list[dict]]:
    """The pairs the map is fitted on and the held-out pairs, stratified by gold score."""
    from core.corpora.data import load_sts

    pairs = load_sts("dev") + load_sts("calibration")
    ordered = sorted(pairs, key=lambda p: (p["score"], p["sentence1"], p["sentence2"]))
    held_out = ordered[HELD_OUT_EVERY // 2 :: HELD_OUT_EVERY]
    kept = {id(p) for p in held_out}
    return [p for p in ordered if id(p) not in kept], held_out


def sts_training_pairs() -> list[dict]:
    """``bundled:train``: the calibration pairs the map is fitted on, for fine-tuning with a scored loss.

    Never a dev pair (training picks its checkpoint on them), a test pair, or a held-out pair (on which
    the map's error is measured), so that every bundled measurement stays on text the model never saw.
    """
    from core.corpora.data import load_sts

    dev = {(p["sentence1"], p["sentence2"]) for p in load_sts("dev")}
    fit, _ = calibration_pairs()
    return [p for p in fit if (p["sentence1"], p["sentence2"]) not in dev]


@dataclass(frozen=True)
class StsScale:
    """Cosine -> 0–5 on the STS scale for one model; monotone, smooth, 0 at -1 and 5 at 1."""

    knots: tuple[float, ...]
    values: tuple[float, ...]
    # what people scored (20th and 80th percentiles) for the fit pairs nearest each knot: how sure a
    # reading is (wide where the model cannot tell a paraphrase from a pair that changes a fact)
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @classmethod
    def fit(cls, cosines, scores, levels: int = 21) -> StsScale:
        """Match quantiles: a cosine at the p-th percentile of the pairs' cosines reads as the p-th
        percentile of their people's scores. The readings then spread over the scale as people's scores
        do; a fit of the mean score per cosine (isotonic regression) pulls every reading towards the
        middle, where e5-small's cosines cannot tell a paraphrase (4.5–5) from a pair that shares most
        words but changes a fact (2–3): ``python -m benchmarks.calibration`` compares the two."""
        cosines = np.asarray(cosines, dtype=float)
        scores = np.asarray(scores, dtype=float)
        quantiles = np.linspace(0.5 / levels, 1 - 0.5 / levels, levels)
        knots, values = [-1.0], [0.0]
        for cosine, score in zip(
            np.quantile(cosines, quantiles), np.quantile(scores, quantiles), strict=True
        ):
            if knots[-1] < cosine < 1.0 - 1e-6:
                knots.append(float(cosine))
                values.append(float(min(5.0, max(values[-1], score))))
        order = np.argsort(cosines, kind="stable")
        window = max(5, len(cosines) // 7)  # the nearest ~15 % of the pairs by cosine
        low, high = [0.0], [0.0]
        for knot in knots[1:]:
            middle = int(np.searchsorted(cosines[order], knot))
            start = min(max(0, middle - window // 2), max(0, len(cosines) - window))
            near = scores[order][start : start + window]
            low.append(float(np.percentile(near, 20)))
            high.append(float(np.percentile(near, 80)))
        return cls((*knots, 1.0), (*values, 5.0), (*low, 5.0), (*high, 5.0))

    def band(self, cosine: float) -> tuple[float, float]:
        """The range people scored pairs with about this cosine (20th to 80th percentile), around the
        reading."""
        reading = self(cosine)
        if not self.low:
            return reading, reading
        low = float(np.interp(cosine, self.knots, self.low))
        high = float(np.interp(cosine, self.knots, self.high))
        return min(low, reading), max(high, reading)

    def __call__(self, cosine: float) -> float:
        return float(self.many([cosine])[0])

    def many(self, cosines) -> np.ndarray:
        from scipy.interpolate import PchipInterpolator

        curve = PchipInterpolator(self.knots, self.values, extrapolate=False)
        return np.clip(curve(np.clip(np.asarray(cosines, dtype=float), -1.0, 1.0)), 0.0, 5.0)

    def cosine_for(self, score: float) -> float:
        """The lowest cosine that reads ``score`` or more (the map is monotone: bisection)."""
        low, high = -1.0, 1.0
        for _ in range(40):
            middle = (low + high) / 2
            low, high = (low, middle) if self(middle) >= score else (middle, high)
        return high


def fit_sts_scale(model, cache_key: str | None = None) -> StsScale:
    """The model's map, fitted on the calibration pairs that are not held out.

    Args:
        model: The loaded model.
        cache_key: The model's fingerprint: with it the pairs' cosines (the slowest part of the app's
            start) are kept on disk and the next start only refits.
    """
    fit, _ = calibration_pairs()
    return StsScale.fit(pair_cosines(model, fit, cache_key), [p["score"] for p in fit])


def held_out_error(model, cache_key: str | None = None) -> dict:
    """The map's error on the held-out pairs: mean absolute error on 0–5, and how often the extremes
    read as they should (gold ≥ 4.5 read ≥ 4; gold ≤ 1 read ≤ 1.5)."""
    fit, held_out = calibration_pairs()
    scale = StsScale.fit(pair_cosines(model, fit, cache_key), [p["score"] for p in fit])
    read = scale.many(pair_cosines(model, held_out, cache_key))
    gold = np.array([p["score"] for p in held_out])
    high, low = gold >= 4.5, gold <= 1.0
    return {
        "n": len(gold),
        "mae": float(np.abs(read - gold).mean()),
        "n_high": int(high.sum()),
        "high_read_4_or_more": float((read[high] >= 4.0).mean()),
        "n_low": int(low.sum()),
        "low_read_1_5_or_less": float((read[low] <= 1.5).mean()),
        "n_fit": len(fit),
    }


def pair_cosines(model, pairs: list[dict], cache_key: str | None) -> list[float]:
    from core.cache import on_disk
    from core.models.fingerprint import data_fingerprint
    from core.models.similarity import score_pairs
    from core.paths import cache_dir

    def compute() -> list[float]:
        return score_pairs(model, [(p["sentence1"], p["sentence2"]) for p in pairs])

    if cache_key is None:
        return compute()
    path = cache_dir() / "calibration" / f"{cache_key}-fp32-{data_fingerprint(pairs)}.json"

    def valid(cached) -> bool:
        return isinstance(cached, list) and len(cached) == len(pairs)

    return on_disk(
        path, compute, lambda p: json.loads(p.read_text(encoding="utf-8")), _save_json, valid=valid
    )[0]


def describe_similarity(sts_score: float, band: tuple[float, float] | None = None) -> str:
    """A plain-language reading of a score on the 0–5 STS scale, with the range people gave pairs
    with a cosine like it (``StsScale.band``) when it is known and not a point."""
    from core import messages
    from core.corpora.text import decimal

    words = next(words for threshold, words in messages.READINGS if sts_score >= threshold)
    reading = messages.READING.format(score=decimal(sts_score), words=words)
    if band is not None and band[1] - band[0] >= 0.5:
        reading += messages.READING_BAND.format(low=decimal(band[0]), high=decimal(band[1]))
    return reading


def _save_json(handle, value) -> None:
    json.dump(value, handle)
