"""Computing functions: STS and retrieval metrics through sentence-transformers' own evaluators.

Nothing here prints or writes files; the CLI and the app decide what to show and keep.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import rankdata

from core.models.evaluators import prompt_names, retrieval_evaluator, sts_cosines, sts_evaluator
from evaluation.datasets import RetrievalDataset, STSDataset

SIMILARITIES = ["cosine", "dot", "euclidean", "manhattan"]
RETRIEVAL_METRICS = ("mrr@10", "ndcg@10", "recall@1", "recall@5", "recall@10", "map@100")


def bootstrap_spearman_ci(
    predicted, gold, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """BCa bootstrap confidence interval of Spearman's rho, resampling pairs (``scipy.stats.bootstrap``).

    Args:
        predicted: Model similarities, one per pair.
        gold: Gold scores, one per pair.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling, so that intervals are reproducible.
        level: Coverage of the interval.

    Returns:
        The lower and upper bounds.
    """
    predicted, gold = np.asarray(predicted, dtype=float), np.asarray(gold, dtype=float)
    result = _paired_bootstrap(lambda p, g: spearman_rows(p, g), (predicted, gold), n_resamples, seed, level)
    return result["ci"][0], result["ci"][1]


def spearman_rows(predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis of ``predicted`` and ``gold`` (NaN where one is constant)."""
    rank_p = rankdata(predicted, axis=-1)
    rank_g = rankdata(gold, axis=-1)
    rank_p -= rank_p.mean(axis=-1, keepdims=True)
    rank_g -= rank_g.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rank_p**2).sum(axis=-1) * (rank_g**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_p * rank_g).sum(axis=-1) / denominator


def paired_spearman_difference(
    first, second, gold, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict:
    """Spearman of ``second`` minus Spearman of ``first`` on the same pairs, with a paired bootstrap.

    Each resample draws pairs with replacement and scores both models on the same draw, so what the
    pairs have in common (some are hard for any model) cancels out: the interval is that of the
    difference, far narrower than the two models' own intervals side by side.

    Args:
        first: The first model's similarities (the baseline), one per pair.
        second: The second model's similarities (the fine-tuned one), on the same pairs.
        gold: Gold scores, one per pair.

    Returns:
        ``difference`` (second − first), ``ci`` (BCa interval at ``level``), ``p_value`` (two-sided, from
        inverting the BCa interval: below 0.05 exactly when the 95 % interval excludes 0; at least
        1 / resamples), ``first`` and
        ``second`` (each model's Spearman), ``n`` and ``n_resamples``.
    """
    first, second, gold = (np.asarray(x, dtype=float) for x in (first, second, gold))
    if not len(gold) == len(first) == len(second):
        raise ValueError("first, second and gold must have one value per pair each")
    result = _paired_bootstrap(
        lambda a, b, g: spearman_rows(b, g) - spearman_rows(a, g),
        (first, second, gold),
        n_resamples,
        seed,
        level,
    )
    rho_first, rho_second = (float(spearman_rows(x, gold)) for x in (first, second))
    return {
        "difference": rho_second - rho_first,
        "ci": result["ci"],
        "p_value": result["p_value"],
        "first": rho_first,
        "second": rho_second,
        "n": len(gold),
        "n_resamples": result["n_resamples"],
    }


def paired_mean_difference(
    first, second, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict:
    """Mean of ``second − first`` over paired per-item scores (e.g. each query's reciprocal rank), with
    a BCa bootstrap interval and a two-sided p-value as in ``paired_spearman_difference``."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if len(first) != len(second):
        raise ValueError("first and second must have one value per item each")
    result = _paired_bootstrap(lambda a, b: (b - a).mean(axis=-1), (first, second), n_resamples, seed, level)
    return {
        "difference": float((second - first).mean()),
        "ci": result["ci"],
        "p_value": result["p_value"],
        "first": float(first.mean()),
        "second": float(second.mean()),
        "n": len(first),
        "n_resamples": result["n_resamples"],
    }


def _paired_bootstrap(statistic, samples: tuple, n_resamples: int, seed: int, level: float) -> dict:
    """``scipy.stats.bootstrap`` with paired resampling and BCa intervals (the percentile interval
    where BCa is undefined, e.g. a statistic that never varies), plus a two-sided bootstrap p-value."""
    import warnings

    from scipy.stats import bootstrap

    def vectorised(*arrays, axis=-1):
        return statistic(*(np.moveaxis(x, axis, -1) for x in arrays))

    kwargs = {"paired": True, "vectorized": True, "n_resamples": n_resamples, "confidence_level": level}
    kwargs["batch"] = 50  # resamples (and jackknife samples) per call: bounded memory for 5,000 pairs
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")  # scipy warns when BCa degenerates; the percentile one follows
        result = bootstrap(samples, vectorised, method="BCa", rng=np.random.default_rng(seed), **kwargs)
        low, high = result.confidence_interval
        if not (np.isfinite(low) and np.isfinite(high)):
            result = bootstrap(
                samples, vectorised, method="percentile", rng=np.random.default_rng(seed), **kwargs
            )
            low, high = result.confidence_interval
    distribution = np.asarray(result.bootstrap_distribution, dtype=float)
    distribution = distribution[np.isfinite(distribution)]
    far_side = min((distribution <= 0).mean(), (distribution >= 0).mean()) if len(distribution) else 1.0
    p_value = float(min(1.0, max(2 * far_side, 1 / max(1, len(distribution)))))
    bca = _bca_p_value(statistic, samples, distribution)
    return {
        "ci": [float(low), float(high)],
        "p_value": p_value if bca is None else max(bca, 1 / len(distribution)),
        "n_resamples": len(distribution),
    }


def _bca_p_value(statistic, samples: tuple, distribution: np.ndarray, batch: int = 50) -> float | None:
    """The two-sided p-value that agrees with the BCa interval: twice the tail level at which one edge of
    the interval lies at 0 (Efron & Tibshirani 1993, 14.3), so that p < 0.05 exactly when the 95 %
    interval excludes 0. None where BCa is undefined (a statistic that never varies)."""
    from scipy.special import ndtr, ndtri

    if not len(distribution):
        return None
    n = len(samples[0])

    def share_below(value: float) -> float:  # scipy's percentile of score, as for its own z0
        return float(((distribution < value).sum() + (distribution <= value).sum()) / (2 * len(distribution)))

    theta = float(statistic(*(np.asarray(x)[None, :] for x in samples))[0])
    z0 = ndtri(share_below(theta))
    jackknife = []
    everyone = np.arange(n)
    for start in range(0, n, batch):
        keep = np.stack([np.delete(everyone, i) for i in range(start, min(n, start + batch))])
        jackknife.append(statistic(*(np.asarray(x)[keep] for x in samples)))
    spread = np.mean(np.concatenate(jackknife)) - np.concatenate(jackknife)
    edge = 0.5 / len(distribution)
    tails = []
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (spread**3).sum() / (6 * ((spread**2).sum()) ** 1.5)
        for level in _quantile_levels(distribution, 0.0):  # resamples tied at 0: any level among them
            w = ndtri(min(max(level, edge), 1 - edge)) - z0
            tails.append((w * (1 - a * z0) - z0) / (1 + a * w))
    if not (np.isfinite(z0) and np.isfinite(a) and np.all(np.isfinite(tails))):
        return None
    if min(tails) <= 0 <= max(tails):  # 0 sits among tied resamples at the interval's centre
        return 1.0
    z = min(tails, key=abs)  # the level nearest the centre: the largest p the ties allow
    return float(min(1.0, 2 * min(ndtr(z), 1 - ndtr(z))))


def _quantile_levels(distribution: np.ndarray, value: float) -> tuple[float, ...]:
    """The levels q at which ``np.percentile(distribution, 100 q)`` (linear, as scipy's BCa endpoints)
    is ``value``: one level, or the first and the last of a run of resamples equal to it."""
    ordered = np.sort(distribution)
    last = max(1, len(ordered) - 1)
    first = int(np.searchsorted(ordered, value, "left"))
    after = int(np.searchsorted(ordered, value, "right"))
    if after > first:  # resamples equal to value
        return (first / last, (after - 1) / last)
    if first == 0:
        return (0.0,)
    if first == len(ordered):
        return (1.0,)
    low, high = ordered[first - 1], ordered[first]
    return ((first - 1 + (value - low) / (high - low)) / last,)


def evaluate_sts(
    model, dataset: STSDataset, n_resamples: int = 1000, seed: int = 0, batch_size: int = 32
) -> dict:
    """Spearman and Pearson for cosine, dot, Euclidean and Manhattan; a bootstrap CI for cosine Spearman.

    Returns:
        ``metrics`` (e.g. ``spearman_cosine``), ``ci95`` for ``spearman_cosine``, the per-pair cosine
        ``predictions`` and ``gold`` scores (0–5), ``n`` and the encoding time.
    """
    evaluator = sts_evaluator(
        dataset, batch_size=batch_size, similarity_fn_names=SIMILARITIES, write_csv=False
    )
    started = time.perf_counter()
    metrics = evaluator(model)
    seconds = time.perf_counter() - started
    n = len(dataset.scores)
    cosine = sts_cosines(evaluator)
    low, high = bootstrap_spearman_ci(cosine, dataset.scores, n_resamples, seed)
    return {
        "task": "sts",
        "metrics": {k: float(v) for k, v in metrics.items() if k.startswith(("spearman_", "pearson_"))},
        "ci95": [low, high],
        "predictions": cosine.tolist(),
        "gold": list(dataset.scores),
        "n": n,
        "encode_seconds": seconds,
        "sentences_per_second": 2 * n / seconds if seconds else None,
    }


def evaluate_retrieval(model, dataset: RetrievalDataset, batch_size: int = 32, search: str = "dense") -> dict:
    """MRR@10, nDCG@10, Recall@1/5/10 and MAP@100 with the model's prompts where it defines them:
    through sentence-transformers' evaluator for ``dense``; for ``bm25`` and ``hybrid`` from the app's own
    ranking (``ranked_rows``), with the same definitions."""
    if search != "dense":
        started = time.perf_counter()
        metrics = ranked_metrics(dataset, ranked_rows(model, dataset, (search,), 100, batch_size)[search])
        return {
            "task": "retrieval",
            "search": search,
            "metrics": metrics,
            "n": len(dataset.queries),
            "corpus_size": len(dataset.corpus),
            "encode_seconds": time.perf_counter() - started,
        }
    evaluator = retrieval_evaluator(
        model,
        dataset,
        batch_size=batch_size,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=[1, 5, 10],
        map_at_k=[100],
        write_csv=False,
        show_progress_bar=None,
        score_functions={"cosine": _cosine},
    )
    started = time.perf_counter()
    raw = evaluator(model)
    seconds = time.perf_counter() - started
    metrics = {name: float(raw[f"cosine_{name}"]) for name in RETRIEVAL_METRICS}
    return {
        "task": "retrieval",
        "search": "dense",
        "metrics": metrics,
        "n": len(dataset.queries),
        "corpus_size": len(dataset.corpus),
        "encode_seconds": seconds,
    }


def ranked_rows(
    model, dataset: RetrievalDataset, searches=("dense",), k: int = 100, batch_size: int = 32
) -> dict[str, list[list[int]]]:
    """Per way to search, each query's best ``k`` passages (indices into ``dataset.corpus``), best first:
    by meaning (``dense``: the model's embeddings, with its prompts as in ``evaluate_retrieval``), by
    words (``bm25``) or both (``hybrid``), ranked by the app's own search (``core.corpora.search.rank``).
    The texts are encoded once for all of ``searches``."""
    import torch

    from core.corpora.lexical import LexicalIndex
    from core.corpora.search import MODES, POOL, rank

    unknown = [search for search in searches if search not in MODES]
    if unknown:
        raise ValueError(f"Unknown search {unknown[0]!r}: use one of {', '.join(MODES)}.")
    query_prompt, document_prompt = prompt_names(model)
    query_ids, corpus_ids = list(dataset.queries), list(dataset.corpus)
    texts = [dataset.queries[q] for q in query_ids]
    queries = model.encode(
        texts,
        prompt_name=query_prompt,
        batch_size=batch_size,
        convert_to_tensor=True,
        normalize_embeddings=True,
    )
    passages = model.encode(
        [dataset.corpus[c] for c in corpus_ids], prompt_name=document_prompt, batch_size=batch_size,
        convert_to_tensor=True, normalize_embeddings=True,
    )  # fmt: skip
    top = torch.topk(queries @ passages.T, min(max(k, POOL), len(corpus_ids)), dim=1)
    dense = [
        list(zip(rows, scores, strict=True))
        for rows, scores in zip(top.indices.tolist(), top.values.tolist(), strict=True)
    ]
    lexical = None
    if set(searches) - {"dense"}:
        index = LexicalIndex.build([dataset.corpus[c] for c in corpus_ids])
        lexical = [index.scores(text) for text in texts]
    ranked = {}
    for search in searches:
        if search == "dense":
            ranked[search] = [[row for row, _ in hits[:k]] for hits in dense]
        else:
            ranked[search] = [
                [row for row, _, _ in rank(text, hits, scores, k, search)]
                for text, hits, scores in zip(texts, dense, lexical, strict=True)
            ]
    return ranked


def reciprocal_ranks(
    model, dataset: RetrievalDataset, k: int = 10, batch_size: int = 32, search: str = "dense"
) -> list[float]:
    """Each query's reciprocal rank of its best relevant passage within the top ``k`` (0 beyond): the
    per-query scores behind MRR@k, so that two models (or two ways to search) can be compared query by
    query."""
    return reciprocal_ranks_by_search(model, dataset, (search,), k, batch_size)[search]


def reciprocal_ranks_by_search(
    model, dataset: RetrievalDataset, searches, k: int = 10, batch_size: int = 32
) -> dict[str, list[float]]:
    """``reciprocal_ranks`` for several ways to search, the texts encoded once."""
    corpus_ids = list(dataset.corpus)
    result = {}
    for search, lists in ranked_rows(model, dataset, searches, k, batch_size).items():
        ranks = []
        for query, found in zip(dataset.queries, lists, strict=True):
            relevant = dataset.relevant.get(query, set())
            hit = next((rank for rank, index in enumerate(found, 1) if corpus_ids[index] in relevant), None)
            ranks.append(1.0 / hit if hit else 0.0)
        result[search] = ranks
    return result


def ranked_metrics(dataset: RetrievalDataset, ranked: list[list[int]]) -> dict[str, float]:
    """``RETRIEVAL_METRICS`` of ranked lists, defined as sentence-transformers' retrieval evaluator does."""
    corpus_ids = list(dataset.corpus)
    sums = dict.fromkeys(RETRIEVAL_METRICS, 0.0)
    for query, found in zip(dataset.queries, ranked, strict=True):
        relevant = dataset.relevant.get(query, set())
        hits = [corpus_ids[index] in relevant for index in found]
        first = next((position for position, hit in enumerate(hits[:10], 1) if hit), None)
        sums["mrr@10"] += 1 / first if first else 0.0
        dcg = sum(1 / np.log2(position + 1) for position, hit in enumerate(hits[:10], 1) if hit)
        ideal = sum(1 / np.log2(position + 1) for position in range(1, min(len(relevant), 10) + 1))
        sums["ndcg@10"] += dcg / ideal if ideal else 0.0
        for cut in (1, 5, 10):
            sums[f"recall@{cut}"] += sum(hits[:cut]) / len(relevant) if relevant else 0.0
        precisions = [sum(hits[:position]) / position for position, hit in enumerate(hits[:100], 1) if hit]
        sums["map@100"] += sum(precisions) / min(100, len(relevant)) if relevant else 0.0
    return {name: float(total / max(1, len(ranked))) for name, total in sums.items()}


def _cosine(a, b):
    from sentence_transformers.util import cos_sim

    return cos_sim(a, b)
