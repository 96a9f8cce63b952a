"""How a run is scored: the dev and test evaluators (STS and retrieval, built in
``core.models.evaluators``), the per-item scores of the test sets and the paired differences of the
fine-tuned model against its base."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.corpora.data import load_sts, load_sts_with_fallback, load_stsb_multi_mt
from core.models.evaluators import retrieval_evaluator, sts_evaluator

logger = logging.getLogger(__name__)


def sts_pairs(source: str, split: str) -> tuple[list[dict], str]:
    if source == "bundled":
        return load_sts(split), f"bundled:{split}"
    if source == "hub":
        return load_stsb_multi_mt(split), f"stsb_multi_mt:es:{split}"
    return load_sts_with_fallback(split)


def retrieval_items(split, distractors=()) -> tuple[dict, dict, dict]:
    """Queries (headlines), corpus (their bodies, then the distractors) and each query's relevant body."""
    corpus = {f"d{i}": text for i, text in enumerate(split["positive"])}
    corpus |= {f"x{i}": text for i, text in enumerate(distractors)}
    queries = {f"q{i}": text for i, text in enumerate(split["anchor"])}
    return queries, corpus, {f"q{i}": {f"d{i}"} for i in range(len(queries))}


@dataclass
class Evaluators:
    dev: object  # SequentialEvaluator: STS dev, then retrieval dev (picks the checkpoint)
    test: object  # the same on the test split
    sources: dict  # where the STS pairs came from
    paired_sets: dict  # the test data as evaluation datasets, for per-item (paired) scores
    sts_pairs: set  # (sentence1, sentence2) of every STS pair evaluated: never trained on


def build_evaluators(model, splits, data_args, batch_size: int) -> Evaluators:
    from sentence_transformers.base.evaluation import SequentialEvaluator

    train = splits["train"].shuffle(seed=0)
    distractors = train.select(range(min(data_args.retrieval_distractors, len(train))))["positive"]
    data = {}
    for split in ("dev", "test"):
        pairs, source = sts_pairs(data_args.sts_source, split)
        data[split] = evaluation_sets(pairs, source, splits[split], distractors, f"{split} split")
    dev, test = (
        SequentialEvaluator(
            [
                sts_evaluator(data[split]["sts"], f"sts-{split}", batch_size),
                retrieval_evaluator(model, data[split]["retrieval"], f"retrieval-{split}", batch_size),
            ]
        )
        for split in ("dev", "test")
    )
    return Evaluators(
        dev,
        test,
        {"sts_dev": data["dev"]["sts"].name, "sts_test": data["test"]["sts"].name},
        data["test"],
        {pair for d in data.values() for pair in zip(d["sts"].sentences1, d["sts"].sentences2, strict=True)},
    )


def evaluation_sets(sts: list[dict], sts_name: str, split, distractors, retrieval_name: str) -> dict:
    """The STS pairs and the split's headline -> body retrieval as the evaluation package's datasets: the
    evaluators are built from them, and so are the per-item (paired) scores."""
    from evaluation.datasets import RetrievalDataset, STSDataset

    queries, corpus, relevant = retrieval_items(split, distractors)
    return {
        "sts": STSDataset(
            sts_name, [p["sentence1"] for p in sts], [p["sentence2"] for p in sts], [p["score"] for p in sts]
        ),
        "retrieval": RetrievalDataset(retrieval_name, queries, corpus, relevant),
    }


def item_scores(model, sets: dict, batch_size: int) -> dict[str, list[float]]:
    """Per-pair cosine (STS) and per-query reciprocal rank at 10 (retrieval), as `evaluation compare`."""
    from evaluation.metrics import evaluate_sts, reciprocal_ranks

    return {
        "sts": evaluate_sts(model, sets["sts"], n_resamples=100, batch_size=batch_size)["predictions"],
        "retrieval": reciprocal_ranks(model, sets["retrieval"], batch_size=batch_size),
    }


def paired_differences(before: dict, after: dict, sets: dict, base: str) -> dict:
    """The fine-tuned model minus its base on the same test items: difference, BCa 95 % CI, p, n."""
    from evaluation.compare import comparison_record
    from evaluation.metrics import paired_mean_difference, paired_spearman_difference

    sts = paired_spearman_difference(before["sts"], after["sts"], sets["sts"].scores)
    retrieval = paired_mean_difference(before["retrieval"], after["retrieval"])
    return {
        "sts": comparison_record("spearman_cosine", "sts", base, "fine-tuned", sets["sts"].name, sts),
        "retrieval": comparison_record("mrr@10", "retrieval", base, "fine-tuned", "test split", retrieval)
        | {"corpus_size": len(sets["retrieval"].corpus)},
    }


def evaluate(evaluator, model) -> dict[str, float]:
    return {k: float(v) for k, v in evaluator(model).items() if isinstance(v, int | float)}


MATRYOSHKA_KEYS = (
    "sts-test_spearman_cosine",
    "retrieval-test_cosine_ndcg@10",
    "retrieval-test_cosine_mrr@10",
)
