"""``python -m trainer train``: fine-tune a sentence-embedding model on (headline, body) pairs.

The run reads as numbered steps: output folder -> model -> data -> loss -> evaluators -> baseline ->
trainer -> train (resuming from the latest complete checkpoint) -> test evaluation -> save ``final/``
-> ``metrics.json`` and ``run.json``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core.corpora.data import load_sts, load_sts_with_fallback, load_stsb_multi_mt
from core.io import read_json, save_dir_atomically
from core.models.evaluators import retrieval_evaluator, sts_evaluator
from core.models.handle import load_handle
from core.models.loader import ModelLoadError
from core.runs import read_run_record, write_json, write_metrics, write_run_record
from core.versions import library_versions
from trainer.arguments import PRIMARY_METRIC, ConfigError, check_sts_train_spec, parse_train_args
from trainer.checkpoints import OutputDirError, plan_output_dir
from trainer.prepare import PrepareArguments, PrepareError, prepare, save_prepared
from trainer.tracking import (
    MetricLineCallback,
    RunClock,
    print_metric_lines,
    trackio_callback,
)

logger = logging.getLogger(__name__)


# 2. Model ------------------------------------------------------------------------------------------
def build_model(model_args):
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = load_handle(model_args.model_name_or_path).model  # private: training changes it
    if model_args.pooling:
        for index, module in enumerate(model):
            if isinstance(module, Pooling) and module.pooling_mode != model_args.pooling:
                logger.info("Replacing %s pooling with %s", module.pooling_mode, model_args.pooling)
                model[index] = Pooling(module.embedding_dimension, model_args.pooling)
    if model_args.max_seq_length:
        model.max_seq_length = model_args.max_seq_length
    return model


# 3. Data -------------------------------------------------------------------------------------------
def load_training_data(data_args, model_spec: str, output_dir: Path, is_main: bool):
    """The prepared dataset: the folder given, else the bundled corpus prepared into output_dir/data."""
    from datasets import load_from_disk

    folder = Path(data_args.prepared_data) if data_args.prepared_data else output_dir / "data"
    if not data_args.prepared_data and not (folder / "dataset_dict.json").is_file() and is_main:
        logger.info("Preparing the bundled news corpus into %s", folder)
        splits, stats = prepare(PrepareArguments(tokenizer=model_spec, output_dir=str(folder)))
        save_prepared(splits, stats, folder, overwrite=True)
    _wait_for_everyone()
    try:
        splits = load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as err:
        raise PrepareError(
            f"{folder} is not a prepared dataset; create it with "
            f"`python -m trainer prepare --output_dir {folder}`."
        ) from err
    missing = [name for name in ("train", "dev", "test") if name not in splits]
    if missing or not {"anchor", "positive"} <= set(splits["train"].column_names):
        raise PrepareError(
            f"{folder} lacks splits {missing or ''} or anchor/positive columns; re-create it with "
            "`python -m trainer prepare`."
        )
    if len(splits["train"]) == 0:
        raise PrepareError(f"{folder} has an empty train split; prepare more data.")
    if data_args.test_data:
        test = load_from_disk(data_args.test_data)
        splits["test"] = test["test"] if hasattr(test, "keys") else test
    if data_args.max_train_samples and len(splits["train"]) > data_args.max_train_samples:
        splits["train"] = splits["train"].select(range(data_args.max_train_samples))
    return splits


# 4. Loss -------------------------------------------------------------------------------------------
def build_loss(model, loss_args, train_columns: list[str]):
    from sentence_transformers.sentence_transformer import losses

    if loss_args.loss == "cosent":
        if "score" not in train_columns:
            raise ConfigError(
                "--loss cosent needs scored pairs: prepare the data with --score_column, or use --loss mnrl."
            )
        loss = losses.CoSENTLoss(model)
    elif loss_args.loss == "cached-mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=loss_args.mini_batch_size)
    else:
        loss = losses.MultipleNegativesRankingLoss(
            model, gather_across_devices=loss_args.gather_across_devices
        )
    dims = loss_args.dimensions()
    if dims:
        full = model.get_embedding_dimension()
        if dims[0] > full:
            raise ConfigError(f"--matryoshka_dims {dims[0]} exceeds the model's dimension {full}.")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
    return loss


def add_hard_negatives(model, train, count: int, training_args, relative_margin: float | None = 0.05):
    """``train`` with ``count`` mined negative bodies per (anchor, positive) pair, from the other bodies
    of the split, encoded by the base model with its prompts; the negatives get the positive's prompt.
    Pairs without enough bodies below ``relative_margin`` of their own score are dropped."""
    from sentence_transformers.util import mine_hard_negatives

    document = next((p for p in ("document", "passage", "corpus") if p in model.prompts), None)
    mined = mine_hard_negatives(
        train, model, anchor_column_name="anchor", positive_column_name="positive", num_negatives=count,
        relative_margin=relative_margin, sampling_strategy="top", output_format="n-tuple",
        query_prompt_name="query" if "query" in model.prompts else None, corpus_prompt_name=document,
        batch_size=training_args.per_device_eval_batch_size, verbose=False,
    )  # fmt: skip
    if len(mined) == 0:
        raise ConfigError(
            f"No training pair has {count} other bodies clearly less similar than its own: the corpus is too "
            "small or too uniform for --hard_negatives; lower it or set it to 0."
        )
    prompts = training_args.prompts
    if isinstance(prompts, dict) and "positive" in prompts:
        negatives = [name for name in mined.column_names if name.startswith("negative")]
        training_args.prompts = prompts | dict.fromkeys(negatives, prompts["positive"])
    logger.info("Mined %d hard negative(s) for %d of %d training pairs", count, len(mined), len(train))
    return mined


def sts_training_set(spec: str, evaluated: set):
    """Scored STS pairs for CoSENT: a Dataset (sentence1, sentence2, score on 0-1) and its name.

    Refuses a set that shares a pair with the STS dev or test pairs: the checkpoint choice and the test
    figures must stay on pairs the model never trained on.
    """
    from datasets import Dataset

    from evaluation.datasets import DatasetError, load_sts_dataset

    check_sts_train_spec(spec)
    try:
        sts = load_sts_dataset(spec)
    except DatasetError as err:
        if spec.startswith("stsb_multi_mt"):
            message = f"cannot load {spec} from the Hub; check your network (offline, bundled:train works)."
        else:
            message = str(err)
        raise ConfigError(f"--sts_train: {message}") from err
    pairs = zip(sts.sentences1, sts.sentences2, strict=True)
    overlap = sum((a, b) in evaluated or (b, a) in evaluated for a, b in pairs)
    if overlap:
        raise ConfigError(
            f"--sts_train {spec}: {overlap} of its {len(sts.scores)} pairs are STS dev or test pairs; "
            "remove them, or the scores would be measured on training data."
        )
    scores = [score / 5.0 for score in sts.scores]
    columns = {"sentence1": sts.sentences1, "sentence2": sts.sentences2, "score": scores}
    # shuffled once, with a fixed seed: a file sorted by score (bundled:train is) would otherwise show
    # sentence-transformers' card only its first rows, all of one score
    return Dataset.from_dict(columns).shuffle(seed=0).flatten_indices(), sts.name


def training_prompts(prompts, model, names: list[str]):
    """The trainer's prompts once STS pairs join: the news pairs keep the configured column prompts; STS
    pairs get the model's default prompt on both sides, as the app and the STS evaluation encode them."""
    nested = isinstance(prompts, dict) and any(isinstance(v, dict) for v in prompts.values())
    if "sts" not in names or not isinstance(prompts, dict) or nested:
        return prompts  # none, one for every column, or already per dataset
    symmetric = model.prompts.get(model.default_prompt_name or "")
    sts = {"sentence1": symmetric, "sentence2": symmetric} if symmetric else {}
    if names == ["sts"]:
        return sts or None
    return {"news": prompts, "sts": sts}


# 5. Evaluators -------------------------------------------------------------------------------------
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


def describe_card(
    model, model_args, data_stats: dict, train_news: bool = True, sts_train: str | None = None
) -> None:
    """What sentence-transformers' own model card cannot know: language, base model on the Hub, the
    data actually trained on. It writes the rest (widget, model-index, hyperparameters, logs)."""
    from trainer.prepare import KNOWN_SOURCES

    card = model.model_card_data
    card.set_language("es")
    card.add_tags(["spanish", "news"])
    base = hub_base_model(model_args.model_name_or_path)
    if base:
        card.base_model = base  # assigned: set_base_model() asks the Hub, which may be unreachable
        card.model_name = f"{base.split('/')[-1]} fine-tuned on Spanish news"
    source = str(data_stats.get("source") or "bundled")
    if source == "bundled":
        dataset = {"name": "Spanish news bundled with the workbench (assets/news_es.jsonl)"}
    elif source in KNOWN_SOURCES:
        dataset = {"name": source.split("/")[-1], "id": source}
    else:
        dataset = {"name": Path(source).name}  # a local file: its name, never its path
    # One entry per dataset the trainer gets, in its order (news, then STS); the dev loss is on the news.
    card.eval_datasets = [dict(dataset)] if train_news else []
    card.train_datasets = [dict(dataset)] if train_news else []
    if sts_train:  # a spec's name: the Hub id's dataset, the bundled pairs, or a local file's name
        if sts_train.startswith("stsb_multi_mt"):
            card.train_datasets.append({"name": "stsb_multi_mt es (train)", "id": "PhilipMay/stsb_multi_mt"})
        elif sts_train == "bundled:train":
            card.train_datasets.append(
                {"name": "Spanish STS pairs bundled with the workbench (assets/sts_es_calibration.jsonl)"}
            )
        else:
            card.train_datasets.append({"name": sts_train})


def hub_base_model(spec: str) -> str | None:
    """The Hub id behind a model spec (``core.models.loader.hub_id``), or None for a local folder."""
    from core.models.loader import hub_id

    return hub_id(spec)


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


def evaluate(evaluator, model) -> dict[str, float]:
    return {k: float(v) for k, v in evaluator(model).items() if isinstance(v, int | float)}


def prepared_stats(data_args, output_dir: Path) -> dict:
    folder = Path(data_args.prepared_data) if data_args.prepared_data else output_dir / "data"
    return read_json(folder / "stats.json")


BASELINE_ITEMS = "baseline_items.json"
MATRYOSHKA_KEYS = (
    "sts-test_spearman_cosine",
    "retrieval-test_cosine_ndcg@10",
    "retrieval-test_cosine_mrr@10",
)


# 6. Trainer ----------------------------------------------------------------------------------------
def _trainer_class():
    from sentence_transformers import SentenceTransformerTrainer

    class Trainer(SentenceTransformerTrainer):
        """Shares rank 0's evaluator metrics with every rank, so that all agree on the best checkpoint.

        Only rank 0 runs the evaluator; the library's broadcast goes through accelerate, which does not
        see a process group that the trainer started itself (torchrun with the gloo backend on CPUs).
        """

        def _load_best_model(self):
            # Rank 0 writes the checkpoints; the others must not read the best one before it is complete.
            _wait_for_everyone()
            super()._load_best_model()

        def evaluation_loop(self, *args, **kwargs):
            output = super().evaluation_loop(*args, **kwargs)
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                shared = [output.metrics]
                dist.broadcast_object_list(shared, src=0)
                output.metrics.update(shared[0])
            return output

    return Trainer


# The run -------------------------------------------------------------------------------------------
def train(model_args, data_args, loss_args, run_args, training_args) -> dict:
    """Run every step; returns the run record (also written to ``<output_dir>/run.json``)."""
    started = time.time()
    output_dir = Path(training_args.output_dir)
    shares = run_args.shares()
    metric = training_args.metric_for_best_model or PRIMARY_METRIC
    if shares and not metric.removeprefix("eval_").startswith(("sts-dev_", "retrieval-dev_")):
        raise ConfigError(
            f"--interpolate_base picks a share by a dev evaluator's score, not by {metric}; set "
            "--metric_for_best_model to one such as eval_sts-dev_spearman_cosine."
        )
    is_main = training_args.process_index == 0
    # 1. Output folder: resume, refuse or start afresh — decided before any heavy work.
    resume = plan_output_dir(output_dir, training_args.resume_from_checkpoint, run_args.overwrite_output_dir)
    previous = read_run_record(output_dir) if resume else {}
    # Time spent by earlier attempts (killed, preempted), kept in run.json while they ran.
    earlier_seconds = float(previous.get("seconds") or 0.0)
    model = build_model(model_args)  # 2
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if shares else None
    splits = load_training_data(data_args, model_args.model_name_or_path, output_dir, is_main)  # 3
    batch = training_args.per_device_eval_batch_size
    evaluators = build_evaluators(model, splits, data_args, batch)  # 5 (STS training must not overlap)
    dev_evaluator, test_evaluator, sources = evaluators.dev, evaluators.test, dict(evaluators.sources)
    test_sets = evaluators.paired_sets
    train_sets, losses = {}, {}
    if data_args.train_news:
        if data_args.hard_negatives:
            if loss_args.loss == "cosent":
                raise ConfigError("--hard_negatives is for --loss mnrl or cached-mnrl, not cosent.")
            splits["train"] = add_hard_negatives(
                model, splits["train"], data_args.hard_negatives, training_args
            )
        train_sets["news"] = splits["train"]
        losses["news"] = build_loss(model, loss_args, splits["train"].column_names)  # 4
    if data_args.sts_train:
        train_sets["sts"], sources["sts_train"] = sts_training_set(data_args.sts_train, evaluators.sts_pairs)
        losses["sts"] = build_loss(model, replace(loss_args, loss="cosent"), train_sets["sts"].column_names)
    training_args.prompts = training_prompts(training_args.prompts, model, list(train_sets))
    # The dev loss is the news pairs' (the STS pairs' quality is the evaluator's sts-dev score).
    eval_dataset = splits["dev"] if "news" in train_sets else None
    if len(train_sets) == 1:  # one dataset: the plain form (its loss logs without a dataset prefix)
        train_dataset, loss = next(iter(train_sets.values())), next(iter(losses.values()))
    else:
        from datasets import DatasetDict

        train_dataset, loss = DatasetDict(train_sets), losses
        eval_dataset = DatasetDict({"news": splits["dev"]})
    stats = prepared_stats(data_args, output_dir)
    describe_card(model, model_args, stats, data_args.train_news, sources.get("sts_train"))
    # A resumed run keeps its tracker run; a fresh one gets a new name, never mixing two runs' logs.
    training_args.run_name = (
        training_args.run_name
        or previous.get("run_name")
        or f"{output_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    record = {
        "experiment": run_args.experiment,
        "run_name": training_args.run_name,
        "status": "running",
        "model": model_args.model_name_or_path,
        "loss": "+".join(
            ([loss_args.loss] if data_args.train_news else []) + (["cosent"] if data_args.sts_train else [])
        )
        + (f"+matryoshka{loss_args.dimensions()}" if loss_args.dimensions() else ""),
        "data": {name: len(split) for name, split in splits.items()}
        | ({"sts_train": len(train_sets["sts"])} if "sts" in train_sets else {}),
        "sources": sources,
        "config": _config(model_args, data_args, loss_args, run_args, training_args),
        "versions": library_versions(),
        "resumed_from": str(resume) if resume else None,
        "world_size": training_args.world_size,
        "attempts": int(previous.get("attempts") or 1) + 1 if resume else 1,
        "seconds": round(earlier_seconds, 1),
    }
    # 6. Baseline on the test split, before any training (kept from the first attempt when resuming).
    baseline = previous.get("baseline_metrics")
    if baseline is None and run_args.evaluate_before_training:
        logger.info("Evaluating the untrained model on the test split (baseline)")
        baseline = evaluate(test_evaluator, model)
    record["baseline_metrics"] = baseline
    # Per-item scores of the untrained model, for the paired before/after differences (kept on resume).
    baseline_items = read_json(output_dir / BASELINE_ITEMS) if resume else {}
    if is_main and baseline is not None and not baseline_items:
        baseline_items = item_scores(model, test_sets, batch)
        write_json(output_dir / BASELINE_ITEMS, baseline_items)
    if is_main:
        write_run_record(output_dir, record)
    # 7. Trainer and training.
    training_args.project = run_args.experiment
    tracked = False
    if training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False  # nothing to pin to; avoids a warning per epoch
    callbacks = [MetricLineCallback(), RunClock(output_dir, record, started, earlier_seconds)]
    if run_args.early_stopping_patience:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run_args.early_stopping_patience))
    if "trackio" in (training_args.report_to or []):  # ours logs on the global step (trainer/tracking.py)
        training_args.report_to = [name for name in training_args.report_to if name != "trackio"]
        callbacks.append(trackio_callback(training_args.project, training_args.run_name, bool(resume)))
        tracked = True
    trainer = _trainer_class()(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        loss=loss,
        evaluator=dev_evaluator,
        callbacks=callbacks,
    )
    train_result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    # 8. Interpolation with the base, chosen on dev; then the test evaluation of the model kept.
    interpolation = None
    if shares:
        best = trainer.state.best_metric if training_args.load_best_model_at_end else None
        interpolation = interpolate_with_base(model, base_state, shares, dev_evaluator, metric, best)
        record["interpolation"] = interpolation
    metrics = evaluate(test_evaluator, model)
    if is_main:
        test_metrics = {f"test_{k}": v for k, v in metrics.items()}
        print_metric_lines(test_metrics, trainer.state.global_step, trainer.state.epoch)
        if tracked:
            _log_final_to_trackio(training_args, test_metrics, trainer.state.global_step, record["config"])
    # Matryoshka: the test figures at every trained dimension (the embedding cut to its first d values).
    per_dimension = None
    if loss_args.dimensions() and is_main:
        per_dimension = {}
        for dim in loss_args.dimensions():
            with model.truncate_embeddings(dim):
                scores = evaluate(test_evaluator, model)
            per_dimension[str(dim)] = {key: scores[key] for key in MATRYOSHKA_KEYS if key in scores}
            logger.info("Test at %d dimensions: %s", dim, per_dimension[str(dim)])
    # 9. Save the final model atomically, then the metrics and the record.
    final_dir = Path(run_args.model_dir) if run_args.model_dir else output_dir / "final"
    if trainer.is_world_process_zero():
        save_dir_atomically(model.save_pretrained, final_dir)
        summary = {
            "test": metrics,
            "baseline_test": baseline,
            "sources": sources,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "best_dev_metric": trainer.state.best_metric,
            "global_step": trainer.state.global_step,
            "train_runtime_s": train_result.metrics.get("train_runtime"),
            "interpolation": interpolation,
            "matryoshka": per_dimension,
            "backend": "torch",  # every figure of the run, base and fine-tuned: fp32 (or the GPU's own)
        }
        if baseline_items:
            after = item_scores(model, test_sets, batch)
            base_name = hub_base_model(model_args.model_name_or_path) or "base"
            summary["paired"] = paired_differences(baseline_items, after, test_sets, base_name)
        # metrics.json also travels inside the model folder (model.tar.gz), where `push` reads it.
        extra = [Path(run_args.output_data_dir)] if run_args.output_data_dir else []
        for folder in [output_dir, final_dir, *extra]:
            write_metrics(folder, summary)
        record |= {
            "status": "finished",
            "metrics": metrics,
            "global_step": trainer.state.global_step,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "final_model": str(final_dir),
            "seconds": round(earlier_seconds + time.time() - started, 1),
            "attempts": record.get("attempts", 1),
            "paired": summary.get("paired"),  # against the base, on the same test items
        }
        for folder in [output_dir, final_dir, *extra]:  # the model carries its own record (for `push`)
            write_run_record(folder, record)
    _wait_for_everyone()
    return record


def format_summary(record: dict) -> str:
    metrics, baseline = record.get("metrics", {}), record.get("baseline_metrics") or {}
    lines = [
        f"Finished in {record['seconds'] / 60:.1f} min, {record['global_step']} steps.",
        f"Model: {record['final_model']}",
    ]
    for key, label in (
        ("sts-test_spearman_cosine", "STS test Spearman"),
        ("retrieval-test_cosine_mrr@10", "Retrieval MRR@10"),
    ):
        if key in metrics:
            before = f"{baseline[key]:.4f} -> " if key in baseline else ""
            lines.append(f"{label}: {before}{metrics[key]:.4f}")
    lines.append(f"Sources: {', '.join(f'{k}={v}' for k, v in record['sources'].items())}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The evaluators log every metric at INFO; the metric lines already carry them.
    logging.getLogger("sentence_transformers.sentence_transformer.evaluation").setLevel(logging.WARNING)
    try:
        args = parse_train_args(sys.argv[1:] if argv is None else argv)
        record = train(*args)
    except (ConfigError, OutputDirError, PrepareError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if record.get("status") == "finished":
        print(format_summary(record))
    return 0


def _config(*dataclasses) -> dict:
    config = {}
    for item in dataclasses:
        values = item.to_dict() if hasattr(item, "to_dict") else asdict(item)
        config |= {k: v for k, v in values.items() if not k.startswith("_")}
    return config


def _log_final_to_trackio(training_args, metrics: dict, step: int, config: dict) -> None:
    """Add the test metrics and the full resolved config to the run the trainer's callback closed."""
    import trackio

    config = json.loads(json.dumps(config, default=str))
    trackio.init(project=training_args.project, name=training_args.run_name, resume="allow", config=config)
    trackio.log(metrics, step=step)
    trackio.finish()


def _wait_for_everyone() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
