"""The Lessons page's Plotly figures: pure functions from arrays to plotly Figures (no Streamlit), unit-tested.

The embedding scenes are not here: they play in the embedding player (dashboard.player), with the mode → proxy
links and ✓/✗ marks drawn by the browser at every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import colour


@dataclass(frozen=True)
class Style:
    """Sizes for a laptop or a lecture room (presenter mode: fonts ≥ 18 px, markers ≥ 9 px)."""
    font: int = 13
    sample: int = 4  # the player's sample markers (presenter mode only; else sized by the number of points)
    proxy: int = 10  # the player's proxy markers (presenter mode only)
    mark: int = 9
    height: int = 560
    player_height: int = 440  # the embedding player's canvas

    @classmethod
    def presenter(cls) -> "Style":
        return cls(font=20, sample=9, proxy=24, mark=14, height=470, player_height=340)


def sized(fig: go.Figure, style: Style) -> go.Figure:
    """Every text of `fig` at the style's font size: ticks, axis and legend titles, subplot titles, colour bars and
    cell texts (Streamlit's Plotly theme sets its own, smaller, sizes for those; an explicit size wins)."""
    size = style.font
    fig.update_layout(font=dict(size=size), legend=dict(font=dict(size=size)), title=dict(font=dict(size=size + 2)))
    for axes in (fig.update_xaxes, fig.update_yaxes):
        axes(tickfont=dict(size=size), title=dict(font=dict(size=size)))
    fig.update_annotations(font_size=size)
    fig.update_traces(colorbar=dict(tickfont=dict(size=size), title=dict(font=dict(size=size))),
                      textfont=dict(size=size), selector=dict(type="heatmap"))
    return fig


def margin_figure(best: dict[str, np.ndarray], margins: dict[str, float], *, style: Style = Style(),
                  title: str = "Best cosine of each mode to its own class's proxies") -> go.Figure:
    """One dot strip per run (rows) of per-mode best own-proxy cosines, each run's margin δ as a dashed tick."""
    fig = go.Figure()
    for i, (run, values) in enumerate(best.items()):
        fig.add_trace(go.Box(x=values, name=f"{run} (δ = {margins[run]:g})", boxpoints="all", jitter=0.4,
                             pointpos=0, marker=dict(size=style.mark, color=colour(i)), line=dict(color=colour(i)),
                             fillcolor="rgba(0,0,0,0)", orientation="h",
                             hovertemplate="best own-proxy cos %{x:.2f}<extra></extra>"))
        fig.add_shape(type="line", x0=margins[run], x1=margins[run], y0=i - 0.45, y1=i + 0.45,
                      line=dict(color=colour(i), dash="dash", width=3))
    fig.update_layout(title=title, height=max(320, style.height * 0.6),
                      showlegend=False, xaxis=dict(range=[-0.05, 1.02], title="cosine (1 = proxy on the mode)"),
                      margin=dict(l=10, r=10, t=60, b=40))
    return sized(fig, style)


def gram_pair_figure(grams: dict[str, np.ndarray], *, style: Style = Style(),
                     title: str = "Cosine between every pair of proxies") -> go.Figure:
    """Proxy Gram matrices side by side on one [-1, 1] scale (one colour bar)."""
    fig = make_subplots(rows=1, cols=len(grams), subplot_titles=list(grams), horizontal_spacing=0.06)
    for col, gram in enumerate(grams.values(), start=1):
        fig.add_trace(go.Heatmap(z=gram, zmin=-1, zmax=1, colorscale="RdBu_r", showscale=col == 1,
                                 colorbar=dict(title="cos"), hovertemplate="%{y} · %{x}: cos %{z:.2f}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col,
                         showticklabels=col == 1)  # the same proxies in the same order: one set of labels
    fig.update_layout(title=title, height=style.height * 0.8, margin=dict(l=10, r=10, t=80, b=10))
    return sized(fig, style)
