"""The Lessons page's figures: pure functions from arrays to plotly Figures (no Streamlit), unit-tested.

The embedding scenes are Plotly animations: every snapshot step is a frame, so ▶ plays training in the browser
and one step slider drives both panels of a side-by-side pair (no Python rerun per step).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import colour
from dashboard.scenes import PanelStep

SAMPLE_SYMBOLS_3D = ("circle", "square", "diamond-open", "circle-open")  # by a mode's rank within its class
SAMPLE_SYMBOLS_2D = ("circle", "square", "triangle-up", "diamond")


@dataclass(frozen=True)
class Style:
    """Sizes for a laptop or a lecture room (presenter mode: fonts ≥ 18 px, markers ≥ 9 px)."""
    font: int = 13
    sample: int = 4
    proxy: int = 10
    mark: int = 9
    height: int = 560

    @classmethod
    def presenter(cls) -> "Style":
        return cls(font=20, sample=9, proxy=16, mark=14, height=470)


def _class_name(cls: int, class_names: Sequence[str] | None) -> str:
    return class_names[cls] if class_names and 0 <= cls < len(class_names) else f"class {cls}"


def _panel_traces(state: PanelStep, dims: int, class_names, style: Style, num_classes: int) -> list:
    """Dynamic traces of one panel, always the same number and order (frames replace them by index)."""
    axes = "xyz"[:dims]
    scatter = go.Scatter3d if dims == 3 else go.Scatter
    symbols = SAMPLE_SYMBOLS_3D if dims == 3 else SAMPLE_SYMBOLS_2D
    traces = []
    for cls in range(num_classes):  # one trace per class, also when a class is absent (empty)
        member = state.labels == cls
        ranks = state.mode_rank[member]
        traces.append(scatter(
            mode="markers", name=_class_name(cls, class_names), legendgroup=f"class-{cls}",
            marker=dict(size=style.sample, color=colour(cls), opacity=0.55,
                        symbol=[symbols[r % len(symbols)] if r >= 0 else symbols[0] for r in ranks]),
            hovertemplate=f"{_class_name(cls, class_names)}<extra></extra>",
            **{a: state.points[member, i] for i, a in enumerate(axes)}))
    proxies = state.proxies
    c, k = (proxies.shape[:2] if proxies is not None else (0, 0))
    flat = proxies.reshape(c * k, dims) if proxies is not None else np.zeros((0, dims))
    proxy_class = np.repeat(np.arange(c), k)
    traces.append(scatter(
        mode="markers", name="proxies", legendgroup="proxies",
        marker=dict(size=style.proxy, color=[colour(i) for i in proxy_class], symbol="diamond",
                    line=dict(color="black", width=2)),
        text=[f"proxy of {_class_name(int(i), class_names)}, sub-proxy {j}" for i, j in
              zip(proxy_class, np.tile(np.arange(k), c))], hovertemplate="%{text}<extra></extra>",
        **{a: flat[:, i] for i, a in enumerate(axes)}))
    traces.extend(_assignment_traces(state.assignments, dims, class_names, style))
    return traces


def _assignment_traces(cov: pd.DataFrame | None, dims: int, class_names, style: Style) -> list:
    """A line from each mode centre to its assigned proxy, and the centre marked ✓ (covered) or ✗ — by shape
    and text, not by colour alone."""
    axes = "xyz"[:dims]
    scatter = go.Scatter3d if dims == 3 else go.Scatter
    if cov is None or cov.empty:
        centres, proxies, covered, cls, best = (np.zeros((0, dims)),) * 2 + (np.zeros(0, bool),) + (np.zeros(0, int),) \
            + (np.zeros(0),)
    else:
        centres, proxies = np.stack(cov["centre"].to_list()), np.stack(cov["proxy"].to_list())
        covered, cls, best = cov["covered"].to_numpy(bool), cov["class"].to_numpy(int), cov["best_cos_own"].to_numpy()
    lines = {}
    for i, a in enumerate(axes):  # centre → proxy, then a gap (NaN) before the next segment
        lines[a] = np.column_stack([centres[:, i], proxies[:, i], np.full(len(centres), np.nan)]).ravel()
    line_trace = scatter(mode="lines", name="mode → its proxy", legendgroup="assign",
                         line=dict(color="rgba(40,40,40,0.8)", width=4 if dims == 3 else 2.5), hoverinfo="skip",
                         **lines)
    mark_trace = scatter(
        mode="markers+text", name="mode centre (✓ covered, ✗ not)", legendgroup="assign",
        text=np.where(covered, "✓", "✗").tolist(), textposition="top center",
        textfont=dict(size=style.font + 4, color=np.where(covered, "darkgreen", "crimson").tolist()),
        marker=dict(size=style.mark, symbol=np.where(covered, "circle", "x").tolist(),
                    color=[colour(c) for c in cls], line=dict(color="black", width=2)),
        customdata=np.column_stack([best]) if len(best) else None,
        hovertext=[f"a mode of {_class_name(int(c), class_names)}: best own-proxy cos {b:.2f}, "
                   f"{'covered' if ok else 'NOT covered: another class’s proxy is nearer'}"
                   for c, b, ok in zip(cls, best, covered)], hoverinfo="text",
        **{a: centres[:, i] for i, a in enumerate(axes)})
    return [line_trace, mark_trace]


def _static_sphere(dims: int) -> go.BaseTraceType:
    if dims == 2:
        t = np.linspace(0, 2 * np.pi, 181)
        return go.Scatter(x=np.cos(t), y=np.sin(t), mode="lines", line=dict(color="lightgrey", width=1),
                          hoverinfo="skip", showlegend=False, name="unit circle")
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 37), np.linspace(0, np.pi, 19))
    return go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.07, showscale=False,
                      colorscale=[[0, "grey"], [1, "grey"]], hoverinfo="skip", name="unit sphere")


def training_player_figure(panels: Sequence[dict[int, PanelStep]], titles: Sequence[str], *,
                           class_names: Sequence[str] | None = None, num_classes: int,
                           style: Style = Style(), start_step: int | None = None) -> go.Figure:
    """Side-by-side native views (d = 2 or 3) of one or more runs, animated over their common snapshot steps.

    panels: one {step: PanelStep} per run; their common steps become frames. The slider and ▶/❚❚ buttons drive
    every panel at once. In 3-D each panel keeps its own camera (plotly scenes are independent); all start alike.
    """
    steps = sorted(set.intersection(*(set(p) for p in panels)))
    if not steps:
        raise ValueError("panels must share at least one snapshot step, got none in common")
    first = panels[0][steps[0]]
    dims = first.points.shape[1]
    if dims not in (2, 3):
        raise ValueError(f"the native view needs d = 2 or 3, got d = {dims}")
    start = start_step if start_step in steps else steps[-1]
    kind = "scene" if dims == 3 else "xy"
    fig = make_subplots(rows=1, cols=len(panels), specs=[[{"type": kind}] * len(panels)],
                        subplot_titles=list(titles), horizontal_spacing=0.02)
    dynamic: list[int] = []
    for col, panel in enumerate(panels, start=1):
        fig.add_trace(_static_sphere(dims), row=1, col=col)
        for trace in _panel_traces(panel[start], dims, class_names, style, num_classes):
            trace.showlegend = col == 1
            fig.add_trace(trace, row=1, col=col)
            dynamic.append(len(fig.data) - 1)
    frames = []
    for step in steps:
        data = [t for panel in panels for t in _panel_traces(panel[step], dims, class_names, style, num_classes)]
        frames.append(go.Frame(name=str(step), data=data, traces=dynamic))
    fig.frames = frames
    # ▶ replays training from the first snapshot (the view opens on the last one)
    play = dict(frame=dict(duration=450, redraw=True), transition=dict(duration=0), fromcurrent=False, mode="immediate")
    fig.update_layout(
        height=style.height, font=dict(size=style.font), margin=dict(l=0, r=0, t=60, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0.5, xanchor="center", itemsizing="constant"),
        updatemenus=[dict(type="buttons", direction="left", x=0, y=0.02, xanchor="left", yanchor="top",
                          showactive=False,
                          buttons=[dict(label="▶ play", method="animate", args=[None, play]),
                                   dict(label="❚❚ pause", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        sliders=[dict(active=steps.index(start), x=0.2, len=0.8, y=0.06, yanchor="top",
                      currentvalue=dict(prefix="training step ", font=dict(size=style.font)),
                      steps=[dict(label=str(s), method="animate",
                                  args=[[str(s)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                       transition=dict(duration=0))]) for s in steps])])
    if dims == 3:
        axis = dict(range=[-1.15, 1.15], showticklabels=False, title="", showbackground=False)
        fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube",
                          camera=dict(eye=dict(x=1.35, y=1.35, z=0.9)))
    else:
        for col in range(1, len(panels) + 1):
            fig.update_xaxes(range=[-1.2, 1.2], visible=False, row=1, col=col)
            fig.update_yaxes(range=[-1.2, 1.2], visible=False, scaleanchor=f"x{col if col > 1 else ''}",
                             row=1, col=col)
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
    fig.update_layout(title=title, height=max(320, style.height * 0.6), font=dict(size=style.font),
                      showlegend=False, xaxis=dict(range=[-0.05, 1.02], title="cosine (1 = proxy on the mode)"),
                      margin=dict(l=10, r=10, t=60, b=40))
    return fig


def gram_pair_figure(grams: dict[str, np.ndarray], *, style: Style = Style(),
                     title: str = "Cosine between every pair of proxies") -> go.Figure:
    """Proxy Gram matrices side by side on one [-1, 1] scale (one colour bar)."""
    fig = make_subplots(rows=1, cols=len(grams), subplot_titles=list(grams), horizontal_spacing=0.06)
    for col, gram in enumerate(grams.values(), start=1):
        fig.add_trace(go.Heatmap(z=gram, zmin=-1, zmax=1, colorscale="RdBu_r", showscale=col == 1,
                                 colorbar=dict(title="cos"), hovertemplate="%{y} · %{x}: cos %{z:.2f}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    fig.update_layout(title=title, height=style.height * 0.8, font=dict(size=style.font),
                      margin=dict(l=10, r=10, t=80, b=10))
    return fig
