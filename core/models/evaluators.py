"""The evaluators, built in one place: sentence-transformers' own STS and retrieval evaluators, with the
model's prompts as the app encodes, for training (dev and test), the evaluation CLI and tab, the backend
quality check and the benchmark.

STS data is anything with ``sentences1``, ``sentences2`` and ``scores`` (0–5); retrieval data anything
with ``queries``, ``corpus`` (id -> text) and ``relevant`` (query id -> passage ids), such as
``evaluation.datasets.STSDataset`` and ``RetrievalDataset``.
"""

from __future__ import annotations

import numpy as np

DOCUMENT_PROMPTS = ("document", "passage", "corpus")


def prompt_names(model) -> tuple[str | None, str | None]:
    """The names of the model's query and document prompts, where it defines them (e5: query, passage)."""
    prompts = getattr(model, "prompts", None) or {}
    document = next((name for name in DOCUMENT_PROMPTS if name in prompts), None)
    return ("query" if "query" in prompts else None), document


def sts_evaluator(data, name: str = "", batch_size: int = 32, **kwargs):
    """Cosine (and other) Spearman/Pearson against the gold scores; both sentences get the model's default
    prompt, as the app's comparison encodes them. The evaluator keeps the embeddings it computed
    (``recorded``), so that per-pair cosines need no second encoding (``sts_cosines``)."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    class RecordingSTSEvaluator(EmbeddingSimilarityEvaluator):
        def embed_inputs(self, model, sentences, **embed_kwargs):
            embeddings = super().embed_inputs(model, sentences, **embed_kwargs)
            self.recorded.append(embeddings)
            return embeddings

    evaluator = RecordingSTSEvaluator(
        list(data.sentences1),
        list(data.sentences2),
        [score / 5.0 for score in data.scores],
        name=name,
        batch_size=batch_size,
        **kwargs,
    )
    evaluator.recorded = []
    return evaluator


def sts_cosines(evaluator) -> np.ndarray:
    """The per-pair cosines of the last run of an ``sts_evaluator``, computed in float32 whatever the
    precision the model encoded in, by the evaluator's own function (``pairwise_cos_sim``): a random
    model puts pairs within 1e-7 of each other, and another order of float32 operations swapped their
    ranks, so that the Spearman of these cosines differed from the evaluator's in the 5th decimal."""
    import torch
    from sentence_transformers.util import pairwise_cos_sim

    embeddings = np.concatenate([_float32(part) for part in evaluator.recorded])
    evaluator.recorded.clear()
    n = len(evaluator.scores)
    first, second = torch.from_numpy(embeddings[:n]), torch.from_numpy(embeddings[n:])
    return pairwise_cos_sim(first, second).numpy().astype(np.float32)


def sts_spearman(model, data, batch_size: int = 32) -> tuple[float, np.ndarray]:
    """Spearman of the float32 cosines against the gold scores, and the cosines, through the evaluator."""
    from scipy.stats import spearmanr

    evaluator = sts_evaluator(data, batch_size=batch_size, write_csv=False)
    evaluator(model)
    cosine = sts_cosines(evaluator)
    return float(spearmanr(cosine, list(data.scores)).statistic), cosine


def retrieval_evaluator(model, data, name: str = "", batch_size: int = 32, **kwargs):
    """Queries against the corpus with the model's query and document prompts (headlines and bodies)."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    query_prompt, document_prompt = prompt_names(model)
    kwargs.setdefault("show_progress_bar", False)
    return InformationRetrievalEvaluator(
        queries=data.queries,
        corpus=data.corpus,
        relevant_docs=data.relevant,
        name=name,
        batch_size=batch_size,
        query_prompt_name=query_prompt,
        corpus_prompt_name=document_prompt,
        **kwargs,
    )


def _float32(embeddings) -> np.ndarray:
    if hasattr(embeddings, "detach"):  # a tensor (bf16 cannot go to numpy directly)
        embeddings = embeddings.detach().float().cpu().numpy()
    return np.asarray(embeddings, dtype=np.float32)
