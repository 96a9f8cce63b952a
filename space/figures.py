"""Plotly figures for the app; each builder fails soft with a placeholder that says what went wrong."""

from __future__ import annotations

import functools
import logging

import numpy as np
import plotly.graph_objects as go

from core import messages

logger = logging.getLogger(__name__)


def placeholder(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(
        text=message, showarrow=False, font={"size": 15}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    figure.update_layout(xaxis_visible=False, yaxis_visible=False, template="plotly_white", height=360)
    return figure


def failsafe(builder):
    """Return a placeholder figure instead of raising (mteb's ``_failsafe_plot``)."""

    @functools.wraps(builder)
    def wrapper(*args, **kwargs):
        try:
            return builder(*args, **kwargs)
        except Exception as err:  # a plot must never take the event down
            logger.exception("Figure %s failed", builder.__name__)
            return placeholder(messages.FIGURE_FAILED.format(error=err))

    return wrapper


@failsafe
def ranked_bars(ranked: list[tuple[str, float]]) -> go.Figure:
    """Candidates by cosine, best on top; the axis spans the scores (from 0, 0.81 and 0.92 look alike)."""
    texts = [text for text, _ in ranked][::-1]
    labels = [text if len(text) <= 60 else text[:57] + "…" for text in texts]
    scores = [score for _, score in ranked][::-1]
    low, high = min(scores), max(scores)
    margin = max(0.02, (high - low) * 0.15)
    figure = go.Figure(
        go.Bar(
            x=scores, y=labels, orientation="h", text=[f"{s:.3f}" for s in scores], customdata=texts,
            hovertemplate="%{customdata}<br>coseno %{x:.3f}<extra></extra>", textposition="outside",
            cliponaxis=False, textfont={"size": 13},
        )
    )  # fmt: skip
    figure.update_layout(
        template="plotly_white",
        height=120 + 32 * len(ranked),
        xaxis={"title": "similitud coseno", "range": [max(-1.0, low - margin), min(1.0, high + margin / 2)]},
        margin={"l": 10, "r": 60},
    )
    return figure


@failsafe
def heatmap(sentences: list[str], matrix: np.ndarray) -> go.Figure:
    """Pairwise cosines, two decimals in the cells, both full sentences on hover."""
    labels = [f"{i + 1}. {s[:40]}{'…' if len(s) > 40 else ''}" for i, s in enumerate(sentences)]
    full = np.array([[f"{a}<br>{b}" for b in sentences] for a in sentences], dtype=object)
    figure = go.Figure(
        go.Heatmap(
            z=matrix, x=labels, y=labels, colorscale="Viridis", zmin=float(matrix.min()), zmax=1.0,
            text=np.round(matrix, 2), texttemplate="%{text:.2f}", customdata=full,
            hovertemplate="%{customdata}<br>coseno %{z:.3f}<extra></extra>", colorbar={"title": "coseno"},
        )
    )  # fmt: skip
    figure.update_layout(
        template="plotly_white", height=260 + 30 * len(sentences), yaxis_autorange="reversed"
    )
    return figure


@failsafe
def cluster_map(
    points: np.ndarray, items: list[dict], colours: list[str], highlight=None, title: str = ""
) -> go.Figure:
    """Scatter of the corpus on the map, one trace per colour group.

    Args:
        highlight: ``(point, sentence, nearest rows)``: a visitor's sentence, marked where it lands, and
            its nearest texts ringed.
    """
    three_d = points.shape[1] == 3
    trace = go.Scatter3d if three_d else go.Scattergl
    figure = go.Figure()
    colours = np.asarray(colours)

    def coords(rows) -> dict:
        rows = np.atleast_2d(rows)
        return {"x": rows[:, 0], "y": rows[:, 1]} | ({"z": rows[:, 2]} if three_d else {})

    for group in sorted(set(colours)):
        mask = colours == group
        hover = [items[i]["title"] or items[i]["body"][:80] for i in np.flatnonzero(mask)]
        marker = {"size": 4 if three_d else 7, "opacity": 0.8}
        template = "%{text}<extra>" + group + "</extra>"
        figure.add_trace(
            trace(**coords(points[mask]), mode="markers", name=group, text=hover, hovertemplate=template,
                  marker=marker)
        )  # fmt: skip
    if highlight is not None:
        point, label, nearest = highlight
        hover = [items[i]["title"] or items[i]["body"][:80] for i in nearest]
        line = {"color": "black", "width": 2}
        ring = {"size": 8 if three_d else 14, "color": "rgba(0,0,0,0)", "line": line}
        figure.add_trace(
            trace(**coords(points[nearest]), mode="markers", name="sus vecinos", text=hover,
                  hovertemplate="%{text}<extra>vecino</extra>", marker=ring)
        )  # fmt: skip
        marker = {"size": 10 if three_d else 18, "symbol": "diamond", "color": "black"}
        figure.add_trace(
            trace(**coords(point), mode="markers+text", name="tu frase", text=[label[:40]],
                  textposition="top center", marker=marker, hovertemplate="%{text}<extra>tu frase</extra>")
        )  # fmt: skip
    hidden = {"visible": False, "showgrid": False, "zeroline": False}  # UMAP's axes mean nothing
    figure.update_layout(
        template="plotly_white", height=620, title=title, legend={"itemsizing": "constant"},
        xaxis=hidden, yaxis=hidden, scene={"xaxis": hidden, "yaxis": hidden, "zaxis": hidden},
    )  # fmt: skip
    return figure
