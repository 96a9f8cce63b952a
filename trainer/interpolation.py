"""WiSE-FT: the fine-tuned weights mixed with the base's, the share chosen on dev."""

from __future__ import annotations

import logging

from trainer.scores import evaluate

logger = logging.getLogger(__name__)


def mix_weights(tuned: dict, base: dict, share: float) -> dict:
    """``share`` of the fine-tuned weights plus ``1 - share`` of the base's (floating-point tensors)."""
    return {
        name: share * value + (1 - share) * base[name] if value.is_floating_point() else value
        for name, value in tuned.items()
    }


def interpolate_with_base(model, base: dict, shares: list[float], evaluator, metric: str, tuned_score):
    """WiSE-FT (Wortsman et al., 2022): try mixes of the fine-tuned and the base weights on the dev
    evaluator and keep the best in ``model``; the fine-tuned model (share 1) competes with its own dev
    score. Returns the dev score of every share and the share kept."""
    tuned = {name: value.detach().clone() for name, value in model.state_dict().items()}
    key = metric.removeprefix("eval_")
    scores = {1.0: float(tuned_score) if tuned_score is not None else evaluate(evaluator, model)[key]}
    for share in shares:
        model.load_state_dict(mix_weights(tuned, base, share))
        scores[share] = evaluate(evaluator, model)[key]
        logger.info(
            "Interpolation with the base: share %.2f of the fine-tuned weights, %s %.4f",
            share,
            key,
            scores[share],
        )
    kept = max(scores, key=lambda share: (scores[share], share))  # a tie keeps more of the fine-tuning
    model.load_state_dict(tuned if kept == 1.0 else mix_weights(tuned, base, kept))
    return {"dev_metric": key, "dev_scores": {str(k): v for k, v in scores.items()}, "kept": kept}
