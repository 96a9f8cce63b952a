"""The training data of a run: the prepared (headline, body) pairs, hard negatives mined with the model,
the STS pairs trained with CoSENT (never an evaluated pair), and the prompts each column gets."""

from __future__ import annotations

import logging
from pathlib import Path

from core.io import read_json
from trainer.arguments import ConfigError, check_sts_train_spec
from trainer.checkpoints import wait_for_everyone
from trainer.prepare import PrepareArguments, PrepareError, prepare, save_prepared

logger = logging.getLogger(__name__)


def load_training_data(data_args, model_spec: str, output_dir: Path, is_main: bool):
    """The prepared dataset: the folder given, else the bundled corpus prepared into output_dir/data."""
    from datasets import load_from_disk

    folder = Path(data_args.prepared_data) if data_args.prepared_data else output_dir / "data"
    if not data_args.prepared_data and not (folder / "dataset_dict.json").is_file() and is_main:
        logger.info("Preparing the bundled news corpus into %s", folder)
        splits, stats = prepare(PrepareArguments(tokenizer=model_spec, output_dir=str(folder)))
        save_prepared(splits, stats, folder, overwrite=True)
    wait_for_everyone()
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


def prepared_stats(data_args, output_dir: Path) -> dict:
    folder = Path(data_args.prepared_data) if data_args.prepared_data else output_dir / "data"
    return read_json(folder / "stats.json")
