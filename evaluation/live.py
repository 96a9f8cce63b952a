"""The app's evaluation tab as a plain function: STS of the served models, with table and plots."""

from __future__ import annotations

from evaluation.datasets import DatasetError, load_sts_dataset
from evaluation.report import scatter_predicted_vs_gold, score_bars
from evaluation.runner import run_sts

BUNDLED_TEST = "bundled:test"
HUB_TEST = "stsb_multi_mt:es:test"


def evaluate_models(specs: list[str], include_hub: bool = False, progress=None):
    """STS of every model in ``specs`` on the bundled test set (and stsb_multi_mt es when asked).

    Returns:
        Table rows, a bar figure, a predicted-vs-gold figure and a note on the datasets used.
    """
    datasets = [load_sts_dataset(BUNDLED_TEST)]
    note = "Conjunto STS propio (150 pares)."
    if include_hub is True:
        try:
            datasets.append(load_sts_dataset(HUB_TEST))
        except DatasetError as err:
            note += f" stsb_multi_mt no disponible: {err}"
    records = []
    jobs = [(spec, dataset) for spec in specs for dataset in datasets]
    for number, (spec, dataset) in enumerate(jobs):
        if progress is not None:
            progress(number / len(jobs), desc=f"Evaluando {spec} en {dataset.name}")
        records.append(run_sts(spec, dataset))
    table = [
        [
            r["model"],
            r["dataset"],
            round(r["metrics"]["spearman_cosine"], 4),
            round(r["metrics"]["pearson_cosine"], 4),
            f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]",
            r["n"],
            "sí" if r.get("cached") else "no",
        ]
        for r in records
    ]
    return table, score_bars(records), scatter_predicted_vs_gold(records), note
