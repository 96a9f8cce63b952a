"""Plotly figures for the app; each builder fails soft with a placeholder that says what went wrong."""

from __future__ import annotations

import functools
import logging

import numpy as np
import plotly.graph_objects as go

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
            return placeholder(f"No se pudo dibujar el gráfico: {err}")

    return wrapper


@failsafe
def ranked_bars(ranked: list[tuple[str, float]]) -> go.Figure:
    labels = [text if len(text) <= 60 else text[:57] + "…" for text, _ in ranked][::-1]
    scores = [score for _, score in ranked][::-1]
    figure = go.Figure(go.Bar(x=scores, y=labels, orientation="h", text=[f"{s:.3f}" for s in scores]))
    figure.update_layout(
        template="plotly_white",
        height=120 + 32 * len(ranked),
        xaxis_title="similitud coseno",
        margin={"l": 10},
    )
    return figure


@failsafe
def heatmap(sentences: list[str], matrix: np.ndarray) -> go.Figure:
    labels = [f"{i + 1}. {s[:40]}" for i, s in enumerate(sentences)]
    figure = go.Figure(
        go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Viridis", zmin=float(matrix.min()), zmax=1.0,
                   text=np.round(matrix, 2), texttemplate="%{text}")
    )  # fmt: skip
    figure.update_layout(
        template="plotly_white", height=200 + 30 * len(sentences), yaxis_autorange="reversed"
    )
    return figure


@failsafe
def cluster_map(
    points: np.ndarray, items: list[dict], colours: list[str], highlight=None, title: str = ""
) -> go.Figure:
    """Scatter of the corpus on the map, one trace per colour group; ``highlight`` marks a user sentence."""
    three_d = points.shape[1] == 3
    figure = go.Figure()
    colours = np.asarray(colours)
    for group in sorted(set(colours)):
        mask = colours == group
        hover = [items[i]["title"] or items[i]["body"][:80] for i in np.flatnonzero(mask)]
        trace = go.Scatter3d if three_d else go.Scattergl
        coords = {"x": points[mask, 0], "y": points[mask, 1]} | ({"z": points[mask, 2]} if three_d else {})
        marker = {"size": 4 if three_d else 7, "opacity": 0.8}
        template = "%{text}<extra>" + group + "</extra>"
        figure.add_trace(
            trace(**coords, mode="markers", name=group, text=hover, hovertemplate=template, marker=marker)
        )
    if highlight is not None:
        point, label = highlight
        coords = {"x": [point[0]], "y": [point[1]]} | ({"z": [point[2]]} if three_d else {})
        trace = go.Scatter3d if three_d else go.Scatter
        marker = {"size": 10 if three_d else 18, "symbol": "diamond", "color": "black"}
        figure.add_trace(
            trace(
                **coords,
                mode="markers+text",
                name="tu frase",
                text=[label[:40]],
                textposition="top center",
                marker=marker,
            )
        )
    figure.update_layout(template="plotly_white", height=620, title=title, legend={"itemsizing": "constant"})
    return figure
