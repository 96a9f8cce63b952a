"""The 0–5 reading: a smooth monotone map that covers the whole scale, fitted without its held-out pairs;
and the paired difference of two models' Spearman behind "¿Mejoró el ajuste?"."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from core.models.calibration import (
    StsScale,
    calibration_pairs,
    describe_similarity,
    held_out_error,
    pair_cosines,
)
from evaluation.metrics import paired_spearman_difference


def noisy_pairs(n: int = 400, seed: int = 0):
    """Cosines in e5's narrow band (0.7–1) that rise with the gold score, with noise."""
    rng = np.random.default_rng(seed)
    gold = rng.uniform(0, 5, n)
    cosine = np.clip(0.72 + 0.05 * gold + rng.normal(0, 0.03, n), -1, 1)
    return cosine, gold


def test_the_map_is_monotone_smooth_and_covers_zero_to_five():
    scale = StsScale.fit(*noisy_pairs())
    grid = np.linspace(-1, 1, 4001)
    read = scale.many(grid)
    assert np.all(np.diff(read) >= -1e-12)  # never reads less for a higher cosine
    assert scale(-1.0) == 0.0 and scale(1.0) == 5.0
    inside = (grid > -0.99) & (grid < 0.98)  # the data's band, away from the anchors at -1 and 1
    assert np.max(np.diff(read)[inside[1:]]) < 0.05  # no step: neighbouring cosines read alike
    # the band where the data lies spreads over the scale instead of sticking in the middle
    assert scale(0.73) < 1.0 and scale(0.96) > 4.0
    assert scale.many([2.0, -3.0, np.nan]).tolist()[:2] == [5.0, 0.0]


def test_cosine_for_is_the_inverse_of_the_map():
    scale = StsScale.fit(*noisy_pairs())
    for score in (0.5, 2.0, 4.5):
        cosine = scale.cosine_for(score)
        assert scale(cosine) >= score - 1e-6
        assert scale(cosine - 1e-3) < score


def test_a_tight_cluster_still_yields_a_valid_map():
    scale = StsScale.fit([0.9, 0.9, 0.9], [1.0, 3.0, 5.0])
    readings = scale.many(np.linspace(-1, 1, 101))
    assert np.isfinite(readings).all() and readings.min() >= 0 and readings.max() <= 5
    assert scale(1.0) - scale(-1.0) > 2  # the map still spreads the cosines over the scale
    assert np.all(np.diff(scale.many(np.linspace(-1, 1, 101))) >= -1e-12)


def test_held_out_pairs_are_a_stratified_quarter_never_used_for_fitting():
    fit, held_out = calibration_pairs()
    keys = lambda pairs: {(p["sentence1"], p["sentence2"]) for p in pairs}  # noqa: E731
    assert not keys(fit) & keys(held_out)
    assert 0.2 < len(held_out) / (len(fit) + len(held_out)) < 0.3
    scores = np.array([p["score"] for p in held_out])
    assert (scores >= 4.5).sum() >= 15 and (scores <= 1.0).sum() >= 15  # both ends are measured


def test_held_out_error_of_a_model(_tiny_model_master, isolated_cache):
    from core.models.handle import load_handle

    handle = load_handle(str(_tiny_model_master))
    figures = held_out_error(handle.model, handle.fingerprint)
    assert figures["n"] > 100 and figures["n_fit"] > 3 * figures["n"] - 10
    fit, held_out = calibration_pairs()  # the same figures, computed here without the cache
    scale = StsScale.fit(pair_cosines(handle.model, fit, None), [p["score"] for p in fit])
    read = scale.many(pair_cosines(handle.model, held_out, None))
    gold = np.array([p["score"] for p in held_out])
    assert figures["mae"] == pytest.approx(float(np.abs(read - gold).mean()), abs=1e-4)
    assert figures["high_read_4_or_more"] == pytest.approx(float((read[gold >= 4.5] >= 4.0).mean()))
    assert figures["low_read_1_5_or_less"] == pytest.approx(float((read[gold <= 1.0] <= 1.5).mean()))
    assert list((isolated_cache / "calibration").iterdir())  # the cosines are kept for the next start


def test_reading_words_follow_the_score_with_the_range_people_gave():
    assert describe_similarity(4.8).startswith("4,8/5 · Casi lo mismo")
    assert "Distintas" in describe_similarity(0.2)
    assert describe_similarity(2.1, (1.2, 3.9)).endswith("las personas puntuaron entre 1,2 y 3,9.")
    assert "puntuaron" not in describe_similarity(5.0, (5.0, 5.0))


def test_the_band_holds_the_reading_and_widens_where_scores_scatter():
    rng = np.random.default_rng(2)
    clear = rng.uniform(0.7, 0.8, 200)  # low cosines: people agree it is unrelated (0–1)
    muddled = rng.uniform(0.9, 1.0, 200)  # high cosines: anything from 2 to 5
    scale = StsScale.fit(np.r_[clear, muddled], np.r_[rng.uniform(0, 1, 200), rng.uniform(2, 5, 200)])
    for cosine in (0.75, 0.95):
        low, high = scale.band(cosine)
        assert low <= scale(cosine) <= high
    assert np.diff(scale.band(0.75))[0] < 1 < np.diff(scale.band(0.95))[0]


def test_paired_difference_finds_a_real_gain_and_no_gain_where_there_is_none():
    rng = np.random.default_rng(3)
    gold = rng.uniform(0, 5, 200)
    weak = gold + rng.normal(0, 2.0, 200)
    strong = gold + rng.normal(0, 0.8, 200)
    gain = paired_spearman_difference(weak, strong, gold, n_resamples=1000)
    assert gain["first"] == pytest.approx(spearmanr(weak, gold).statistic)
    assert gain["second"] == pytest.approx(spearmanr(strong, gold).statistic)
    assert gain["difference"] == pytest.approx(gain["second"] - gain["first"])
    assert 0 < gain["ci"][0] < gain["difference"] < gain["ci"][1]
    assert gain["p_value"] < 0.01
    # the same model up to noise that swaps a few ranks: a small difference whose interval holds 0
    same = paired_spearman_difference(weak, weak + rng.normal(0, 0.05, 200), gold, n_resamples=1000)
    assert same["ci"][0] < 0 < same["ci"][1] and abs(same["difference"]) < 0.01
    assert same["p_value"] > 0.05


def test_the_p_value_agrees_with_the_interval_near_the_edge():
    """p < 0.05 exactly when the 95 % BCa interval excludes 0, also for differences near the edge, where a
    percentile p-value beside a BCa interval once read "interval [+0.0024, +0.0509], p = 0.052"."""
    rng = np.random.default_rng(2)
    near_edge = 0
    for _ in range(60):
        gold = rng.uniform(0, 5, 150)
        first = gold + rng.normal(0, 2.0, 150)
        second = first + rng.normal(0, 0.5, 150) + 0.1 * (gold - 2.5)
        result = paired_spearman_difference(first, second, gold, n_resamples=1000)
        low, high = result["ci"]
        assert (low > 0 or high < 0) == (result["p_value"] < 0.05), result
        near_edge += 0.02 < result["p_value"] < 0.1
    assert near_edge >= 5  # the check reached the cases that matter
    # reciprocal ranks: many resamples tie at exactly 0; no difference at all reads p = 1, not 0.72
    from evaluation.metrics import paired_mean_difference

    first = np.array([1.0] * 50 + [0.5] * 4 + [0.0] * 3)
    second = first.copy()
    second[[0, 50]] = second[[50, 0]]  # one query better, one worse
    same = paired_mean_difference(first, second)
    assert same["difference"] == 0 and same["ci"][0] < 0 < same["ci"][1] and same["p_value"] == 1.0


def test_paired_interval_is_narrower_than_the_two_intervals_side_by_side():
    from evaluation.metrics import bootstrap_spearman_ci

    rng = np.random.default_rng(5)
    gold = rng.uniform(0, 5, 150)
    shared = rng.normal(0, 1.5, 150)  # what makes a pair hard for both models
    first, second = gold + shared, gold + shared + rng.normal(0, 0.3, 150)
    paired = paired_spearman_difference(first, second, gold)
    width = paired["ci"][1] - paired["ci"][0]
    low, high = bootstrap_spearman_ci(first, gold)
    assert width < (high - low) / 2


def test_paired_difference_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="one value per pair"):
        paired_spearman_difference([0.1, 0.2], [0.1, 0.2, 0.3], [1, 2])
