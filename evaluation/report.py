"""Present evaluation records: a markdown table, flat rows for JSON/CSV, and plotly figures.

The figure builders return ``plotly`` figures (the app shows the same ones); ``write_outputs`` is the
only function here that touches files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.io import write_file_atomically

STS_COLUMNS = [
    ("spearman_cosine", "Spearman cos"),
    ("pearson_cosine", "Pearson cos"),
    ("spearman_dot", "Spearman dot"),
    ("spearman_euclidean", "Spearman euc"),
    ("spearman_manhattan", "Spearman man"),
]
RETRIEVAL_COLUMNS = [
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("recall@10", "R@10"),
    ("map@100", "MAP@100"),
]


def markdown_table(records: list[dict]) -> str:
    """One row per model × dataset; STS rows carry the 95% CI of the cosine Spearman."""
    if not records:
        return ""
    task = records[0]["task"]
    columns = STS_COLUMNS if task == "sts" else RETRIEVAL_COLUMNS
    header = ["model", "dataset"] + ([] if task == "sts" else ["search"]) + [label for _, label in columns]
    header += ["95% CI (Spearman cos)"] if task == "sts" else ["queries", "corpus"]
    header += ["backend", "encode s", "cached"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * (2 if task == "sts" else 3) + "---:|" * (len(header) - (2 if task == "sts" else 3)),
    ]
    for record in records:
        cells = [record["model"], record["dataset"]] + (
            [] if task == "sts" else [record.get("search", "dense")]
        )
        cells += [f"{record['metrics'].get(key, float('nan')):.4f}" for key, _ in columns]
        if task == "sts":
            cells.append(f"[{record['ci95'][0]:.4f}, {record['ci95'][1]:.4f}]")
        else:
            cells += [str(record["n"]), str(record["corpus_size"])]
        cells += [record.get("backend", "torch"), f"{record['encode_seconds']:.1f}"]
        cells.append("yes" if record.get("cached") else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flat_row(record: dict) -> dict:
    """A record without per-pair arrays, with metrics as top-level columns (for CSV)."""
    row = {
        k: v
        for k, v in record.items()
        if k not in ("metrics", "predictions", "gold", "ci95", "versions", "options")
    }
    row |= record["metrics"]
    if "ci95" in record:
        row["spearman_cosine_ci95_low"], row["spearman_cosine_ci95_high"] = record["ci95"]
    row |= {f"version_{k}": v for k, v in record.get("versions", {}).items()}
    return row


def score_bars(records: list[dict]) -> go.Figure:
    """Primary metric per model and dataset; STS bars have CI whiskers."""
    figure = go.Figure()
    task = records[0]["task"] if records else "sts"
    metric = "spearman_cosine" if task == "sts" else "mrr@10"
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        rows = [r for r in records if r["dataset"] == dataset]
        values = [r["metrics"][metric] for r in rows]
        error = None
        if task == "sts":
            error = {
                "type": "data",
                "symmetric": False,
                "array": [r["ci95"][1] - v for r, v in zip(rows, values, strict=True)],
                "arrayminus": [v - r["ci95"][0] for r, v in zip(rows, values, strict=True)],
            }
        figure.add_bar(
            name=dataset,
            x=[r["model"] for r in rows],
            y=values,
            error_y=error,
            text=[f"{v:.3f}" for v in values],
            textposition="inside",
            insidetextanchor="middle",  # inside the bar's middle: clear of the CI whisker at its top
        )
    label = "Spearman (coseno), IC 95 %" if task == "sts" else "MRR@10"
    figure.update_layout(title=label, yaxis_title=label, barmode="group", template="plotly_white", height=420)
    return figure


def scatter_predicted_vs_gold(records: list[dict]) -> go.Figure:
    """Model cosine against gold score, one panel per STS record."""
    records = [r for r in records if r["task"] == "sts"]
    figure = make_subplots(
        rows=1,
        cols=max(1, len(records)),
        subplot_titles=[f"{r['model']} · {r['dataset']}" for r in records] or [""],
        shared_yaxes=True,
    )
    for column, record in enumerate(records, start=1):
        figure.add_scatter(
            x=record["gold"],
            y=record["predictions"],
            mode="markers",
            marker={"size": 6, "opacity": 0.6},
            name=record["model"],
            row=1,
            col=column,
            hovertemplate="referencia %{x:.1f}<br>coseno %{y:.3f}<extra></extra>",
        )
        figure.update_xaxes(title_text="puntuación de referencia (0–5)", row=1, col=column)
    figure.update_yaxes(title_text="similitud coseno", row=1, col=1)
    figure.update_layout(
        showlegend=False,
        template="plotly_white",
        height=420,
        title="Predicción del modelo frente a la referencia",
    )
    return figure


def html_table(records: list[dict]) -> str:
    """``markdown_table`` as an HTML table (every cell escaped)."""
    import html

    lines = [line for line in markdown_table(records).splitlines() if line and not line.startswith("|--")]
    rows = [[html.escape(cell.strip()) for cell in line.strip("|").split("|")] for line in lines]
    if not rows:
        return ""
    head = "".join(f"<th>{cell}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}"
    "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem}"
    "td{text-align:right}td:first-child,td:nth-child(2){text-align:left}th{background:#f3f3f3}"
)


def html_report(records: list[dict]) -> str:
    """A self-contained HTML page (plotly.js inlined, so it opens offline)."""
    figures = [score_bars(records)]
    if records and records[0]["task"] == "sts":
        figures.append(scatter_predicted_vs_gold(records))
    parts = [figures[0].to_html(full_html=False, include_plotlyjs=True)]
    parts += [figure.to_html(full_html=False, include_plotlyjs=False) for figure in figures[1:]]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation</title>"
        f"<style>{STYLE}</style></head><body><h1>Evaluation</h1>{html_table(records)}{''.join(parts)}"
        "</body></html>"
    )


def write_outputs(records: list[dict], output_dir: Path) -> list[Path]:
    """Write results.json, results.csv and report.html into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = [flat_row(r) for r in records]
    buffer = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    outputs = {
        "results.json": json.dumps(records, indent=2, ensure_ascii=False),
        "results.csv": buffer.getvalue(),
        "report.html": html_report(records),
    }
    return [
        write_file_atomically(output_dir / name, lambda handle, text=text: handle.write(text))
        for name, text in outputs.items()
    ]
