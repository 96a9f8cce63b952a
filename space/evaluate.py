"""The app's evaluation tab as a plain function: STS of the served models on the bundled test set or on
the visitor's own file, with table, plots, a CSV, and "¿Mejoró el ajuste?" when two models are served.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core import messages
from core.corpora.text import decimal, thousands
from core.errors import InputError
from core.messages import TABLE_COLUMNS
from core.models.backends import FIGURE_BACKEND
from core.models.calibration import shown_reading
from core.models.handle import get_handle
from core.tables import TableError, read_table
from evaluation.datasets import DatasetError, STSDataset, StsFileError, load_sts_dataset, sts_pairs
from evaluation.metrics import evaluate_sts, paired_spearman_difference
from evaluation.report import scatter_predicted_vs_gold, score_bars
from evaluation.runner import run_sts
from space.downloads import csv_file

logger = logging.getLogger(__name__)
BUNDLED_TEST = "bundled:test"
HUB_TEST = "stsb_multi_mt:es:test"
MAX_STS_BYTES = 2 * 2**20
MAX_STS_PAIRS = 5000
SMALL_SET = 30
DATASET_NAMES = {BUNDLED_TEST: "STS propio (test, 150 pares)", HUB_TEST: "stsb_multi_mt es (test)"}


def evaluate_models(specs: list[str], include_hub: bool = False, sts_file: str | None = None, progress=None):
    """STS of every model in ``specs`` on the visitor's file, else on the bundled test set (and on
    stsb_multi_mt es when asked and the Hub answers).

    Returns:
        Table rows, a bar figure, a predicted-vs-gold figure, a note on the data, the "¿Mejoró el
        ajuste?" paragraph (first model against the second), the pairs that changed most, and a CSV
        file of the table.
    """
    if sts_file:
        datasets = [read_visitor_sts(sts_file)]
        pairs = len(datasets[0].scores)
        note = messages.OWN_FILE_NOTE.format(name=datasets[0].name, pairs=thousands(pairs))
        if pairs < SMALL_SET:
            note += messages.SMALL_SET_NOTE.format(minimum=SMALL_SET)
    else:
        datasets = [load_sts_dataset(BUNDLED_TEST)]
        note = messages.BUNDLED_SET_NOTE
    if include_hub is True:
        reason = hub_unreachable()
        if reason is None:
            try:
                datasets.append(load_sts_dataset(HUB_TEST))
            except DatasetError as err:
                logger.warning("stsb_multi_mt could not be loaded: %s", err)
                reason = messages.HUB_DOWNLOAD_FAILED
        if reason is not None:
            note += messages.HUB_SET_MISSING.format(reason=reason)
    records = []
    jobs = [(spec, dataset) for spec in specs for dataset in datasets]
    for number, (spec, dataset) in enumerate(jobs):
        if progress is not None:
            progress(number / len(jobs), desc=messages.EVALUATING.format(model=spec, dataset=dataset.name))
        records.append(_evaluate(spec, dataset, own=bool(sts_file) and dataset is datasets[0]))
    verdict, changed = improvement(specs, datasets[0], records)
    records = [r | {"dataset": DATASET_NAMES.get(r["dataset"], r["dataset"])} for r in records]
    table = [
        [
            r["model"],
            r["dataset"],
            round(r["metrics"]["spearman_cosine"], 4),
            round(r["metrics"]["pearson_cosine"], 4),
            ci_text(r["ci95"], r["n"]),
            r["n"],
            r.get("backend", FIGURE_BACKEND),
            "sí" if r.get("cached") else "no",
        ]
        for r in records
    ]
    download = csv_file("evaluacion", TABLE_COLUMNS, table)
    return table, score_bars(records), scatter_predicted_vs_gold(records), note, verdict, changed, download


def _evaluate(spec: str, dataset: STSDataset, own: bool) -> dict:
    """A visitor's file is evaluated in memory and kept nowhere; the bundled sets go through the cache.
    Every model runs on torch fp32, whatever serves the other tabs: the figures never depend on the
    speed choice."""
    if not own:
        return run_sts(spec, dataset, backend=FIGURE_BACKEND)
    handle = get_handle(spec, backend=FIGURE_BACKEND)
    result = evaluate_sts(handle.model, dataset)
    return result | {"model": spec, "dataset": dataset.name, "backend": handle.backend, "cached": False}


def improvement(specs: list[str], dataset: STSDataset, records: list[dict]) -> tuple[str, list[list]]:
    """ "¿Mejoró el ajuste?": the second model against the first on ``dataset`` (paired bootstrap of the
    Spearman difference), and the pairs whose calibrated 0–5 reading changed most."""
    if len(specs) < 2:
        return messages.NEEDS_TWO_MODELS, []
    before, after = (
        next(r for r in records if r["model"] == s and r["dataset"] == dataset.name) for s in specs[:2]
    )
    result = paired_spearman_difference(before["predictions"], after["predictions"], dataset.scores)
    low, high = result["ci"]
    answer = messages.BETTER if low > 0 else messages.WORSE if high < 0 else messages.NO_CLEAR_DIFFERENCE
    verdict = messages.IMPROVEMENT.format(
        answer=answer,
        after=specs[1],
        before=specs[0],
        dataset=dataset.name,
        difference=decimal(result["difference"], 4, sign=True),
        low=decimal(low, 4, sign=True),
        high=decimal(high, 4, sign=True),
        p=decimal(result["p_value"], 3),
        resamples=thousands(result["n_resamples"]),
        pairs=thousands(result["n"]),
        backend=before.get("backend", FIGURE_BACKEND),
    )
    first = get_handle(specs[0], backend=FIGURE_BACKEND).calibration.many(before["predictions"])
    second = get_handle(specs[1], backend=FIGURE_BACKEND).calibration.many(after["predictions"])
    order = np.argsort(-np.abs(second - first))[:10]
    changed = [
        [dataset.sentences1[i], dataset.sentences2[i], round(dataset.scores[i], 2), shown_reading(first[i]),
         shown_reading(second[i]), shown_reading(second[i] - first[i])]
        for i in order
    ]  # fmt: skip
    return verdict, changed


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why stsb_multi_mt cannot be loaded now, in the visitor's words, or None."""
    from core.hub import OFFLINE
    from core.hub import hub_unreachable as reason

    why = reason(timeout)
    if why is None:
        return None
    return messages.HUB_OFFLINE if why == OFFLINE else messages.HUB_SILENT


MIN_CI_PAIRS = 10  # a bootstrap over fewer pairs gives no interval worth showing (or NaN)


def ci_text(ci, n: int) -> str:
    """The 95 % CI as the table shows it, or why there is none."""
    low, high = ci
    if n < MIN_CI_PAIRS or low != low or high != high:  # NaN: too few pairs, or all scores alike
        return messages.NO_CI.format(minimum=MIN_CI_PAIRS)
    return f"[{low:.3f}, {high:.3f}]"


def read_visitor_sts(path: str) -> STSDataset:
    """A visitor's STS file (CSV, TSV, JSONL or JSON list; columns sentence1, sentence2, score on 0–5
    or 0–1), read by the same reader and rules as ``python -m evaluation sts`` (``core.tables``,
    ``evaluation.datasets.sts_pairs``) with Spanish messages and the tab's limits. Nothing is written."""
    name = Path(path).name
    try:
        table = read_table(path, max_rows=MAX_STS_PAIRS, max_bytes=MAX_STS_BYTES)
        pairs = sts_pairs(table, name)
    except TableError as err:
        raise InputError(_table_message(err, name)) from None
    except StsFileError as err:
        raise InputError(_pairs_message(err, name)) from None
    return STSDataset(
        name=name,
        sentences1=[p["sentence1"][:2000] for p in pairs],
        sentences2=[p["sentence2"][:2000] for p in pairs],
        scores=[p["score"] for p in pairs],
    )


def _table_message(err: TableError, name: str) -> str:
    if err.code == "type":
        return messages.STS_FILE_TYPE.format(name=name)
    if err.code == "too_big":
        return messages.STS_FILE_TOO_BIG.format(name=name, limit="2 MB")
    if err.code == "encoding":
        return messages.NOT_UTF8.format(name=name)
    if err.code == "empty":
        return messages.STS_FILE_EMPTY.format(name=name)
    if err.code == "too_many_rows":
        return messages.STS_FILE_TOO_MANY.format(name=name, limit=thousands(MAX_STS_PAIRS))
    if err.code == "not_rows":
        return messages.STS_FILE_ROW.format(name=name, row=err.line)
    return messages.STS_FILE_UNREADABLE.format(name=name)


def _pairs_message(err: StsFileError, name: str) -> str:
    if err.code == "columns":
        return messages.STS_FILE_COLUMNS.format(name=name, found=err.found)
    if err.code == "row":
        return messages.STS_FILE_ROW.format(name=name, row=err.line)
    return messages.STS_FILE_TOO_FEW.format(name=name)
