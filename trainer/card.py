"""What the model card of a run says: its base on the Hub, its data, its figures (``describe_card``)."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


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
