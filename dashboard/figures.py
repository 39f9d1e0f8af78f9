"""Every chart of the dashboard: pure functions from data (DataFrames / numpy arrays) to a plotly Figure.

No Streamlit here, so each function is unit-tested on its traces and axes. Conventions: sample traces
carry `customdata[:, 0]` = sample id (snapshot row) and proxy traces carry -1, so a lasso selection maps
back to samples only (see dashboard.neighbours.selected_ids); a class keeps its colour on every chart.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

PALETTE = qualitative.Plotly + qualitative.Dark24
UNSELECTED = "rgba(170,170,170,0.25)"
PROXY_SYMBOLS = ["star", "diamond", "cross", "x", "triangle-up", "square", "pentagon", "hexagram"]
MODE_SYMBOLS = ["circle", "square", "triangle-up", "diamond-open", "circle-open", "square-open"]
MODE_SYMBOLS_3D = ["circle", "square", "diamond", "cross", "circle-open", "square-open"]  # Scatter3d has no triangles
PROXY_SYMBOLS_3D = ["diamond", "cross", "x", "square", "circle-open", "diamond-open", "square-open"]
WEBGL_FROM = 2_000  # SVG is crisper and faster below this; WebGL wins above
CATEGORICAL = ("label", "mode", "split")
CONTINUOUS = ("grad_norm",)
COLOUR_TITLES = {"label": "class", "mode": "mode", "split": "split", "grad_norm": "‖∂L/∂f(x)‖"}


def colour(i: int) -> str:
    """The colour of category i (class, mode, run), the same on every chart."""
    return PALETTE[int(i) % len(PALETTE)]


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False,
                      annotations=[dict(text=message, showarrow=False, xref="paper", yref="paper",
                                        x=0.5, y=0.5, font_size=14)])
    return fig


# ---------------------------------------------------------------- embedding space

def _hover_customdata(samples: pd.DataFrame) -> np.ndarray:
    cols = ["id", "index", "label_name", "mode", "nearest_proxy", "grad_norm"]
    present = samples.reindex(columns=cols)
    present["id"] = samples["id"]
    return present.to_numpy(dtype=object)


_HOVER = ("sample %{customdata[0]} (row %{customdata[1]} of its split)<br>class %{customdata[2]}"
          "<br>mode %{customdata[3]}<br>nearest proxy %{customdata[4]}<br>‖∂L/∂f‖ %{customdata[5]:.3g}"
          "<extra></extra>")


def _scatter(dims: int, n_points: int, **kwargs) -> go.BaseTraceType:
    if dims == 3:
        kwargs["marker"]["size"] = min(kwargs["marker"].get("size", 5), 3)
        return go.Scatter3d(mode="markers", **kwargs)
    cls = go.Scattergl if n_points >= WEBGL_FROM else go.Scatter
    return cls(mode="markers", **kwargs)


def _axes_of(frame: pd.DataFrame, dims: int) -> dict:
    names = ["x", "y", "z"][:dims]
    return {name: frame[name].to_numpy() for name in names}


def _category_name(colour_by: str, value, class_names: Sequence[str] | None) -> str:
    if colour_by == "label":
        return class_names[int(value)] if class_names and 0 <= int(value) < len(class_names) else f"class {value}"
    if colour_by == "mode":
        return "mode unknown" if int(value) < 0 else f"mode {value}"
    return str(value)


def embedding_figure(samples: pd.DataFrame, proxies: pd.DataFrame | None = None, *,
                     colour_by: str = "label", selected_ids: Sequence[int] | None = None,
                     class_names: Sequence[str] | None = None, sphere: bool = False,
                     axis_range: dict[str, tuple[float, float]] | None = None,
                     title: str = "") -> go.Figure:
    """Scatter of the samples (2-D or 3-D, from columns x, y[, z]) with proxies overlaid.

    samples: columns id, x, y, [z], label, mode, split, grad_norm, [index, label_name, nearest_proxy].
    proxies: columns class, k, x, y, [z]; one trace per class (colour = class, symbol = sub-proxy k).
    colour_by: 'label' | 'mode' | 'split' (one trace per category) or 'grad_norm' (one trace, colour scale).
    selected_ids: samples outside it are greyed out (kept, not hidden). None or empty = nothing selected.
    sphere: the coordinates are native normalised embeddings; draw the unit circle/sphere and proxies as
    vectors from the origin.
    axis_range: fixed ranges per axis so that moving through steps shows motion, not rescaling.
    """
    if colour_by not in CATEGORICAL + CONTINUOUS:
        raise ValueError(f"colour_by must be one of {CATEGORICAL + CONTINUOUS}, got {colour_by!r}")
    dims = 3 if "z" in samples.columns else 2
    selected = None
    if selected_ids is not None and len(selected_ids):
        # selected points first: plotly draws a legend swatch from a trace's first point
        samples = samples.iloc[np.argsort(~np.isin(samples["id"], selected_ids), kind="stable")]
        selected = np.isin(samples["id"], selected_ids)
    samples = samples.assign(label_name=[_category_name("label", v, class_names) for v in samples["label"]])
    fig = go.Figure()
    if sphere:
        _add_unit_sphere(fig, dims)
    if colour_by in CATEGORICAL:
        mode_rank = mode_ranks(samples) if colour_by == "mode" else {}
        for i, value in enumerate(np.unique(samples[colour_by])):
            member = (samples[colour_by] == value).to_numpy()
            part = samples[member]
            name = _category_name(colour_by, value, class_names)
            marker = dict(size=5)
            if colour_by == "split":
                base = colour(i)
            elif colour_by == "mode" and int(value) >= 0:
                # a mode wears its class's colour (like that class's proxies); its shape tells modes apart
                cls, rank = mode_rank[int(value)]
                symbols = MODE_SYMBOLS_3D if dims == 3 else MODE_SYMBOLS
                base, marker["symbol"] = colour(cls), symbols[rank % len(symbols)]
                name = f"{_category_name('label', cls, class_names)} · mode {value}"
            else:  # class ids keep their colour across steps, runs and charts
                base = "lightgrey" if colour_by == "mode" else colour(value)
            marker["color"] = base if selected is None else np.where(selected[member], base, UNSELECTED)
            fig.add_trace(_scatter(dims, len(samples), name=name, legendgroup=f"{colour_by}-{value}",
                                   customdata=_hover_customdata(part), hovertemplate=_HOVER, marker=marker,
                                   **_axes_of(part, dims)))
    else:
        values = samples[colour_by].to_numpy(dtype=float)
        marker = dict(size=5, color=values, colorscale="Viridis", showscale=True,
                      colorbar=dict(title=COLOUR_TITLES[colour_by]))
        if selected is not None:
            # a colour scale cannot grey single points, so unselected ones are faded instead
            marker["opacity"] = np.where(selected, 1.0, 0.15)
        fig.add_trace(_scatter(dims, len(samples), name=COLOUR_TITLES[colour_by],
                               customdata=_hover_customdata(samples), hovertemplate=_HOVER,
                               marker=marker, **_axes_of(samples, dims)))
    if proxies is not None and len(proxies):
        _add_proxies(fig, proxies, dims, sphere, class_names)
    _layout_embedding(fig, dims, title, axis_range, colour_by)
    return fig


def mode_ranks(samples: pd.DataFrame) -> dict[int, tuple[int, int]]:
    """mode id → (its class, its rank among that class's modes), the class being the majority label."""
    known = samples[samples["mode"] >= 0]
    owner = known.groupby("mode")["label"].agg(lambda s: s.value_counts().index[0])
    ranks = {}
    for cls, modes in owner.groupby(owner):
        for rank, mode in enumerate(sorted(modes.index)):
            ranks[int(mode)] = (int(cls), rank)
    return ranks


def _add_unit_sphere(fig: go.Figure, dims: int) -> None:
    if dims == 2:
        t = np.linspace(0, 2 * np.pi, 181)
        fig.add_trace(go.Scatter(x=np.cos(t), y=np.sin(t), mode="lines", name="unit circle",
                                 line=dict(color="lightgrey", width=1), hoverinfo="skip", showlegend=False))
        return
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 37), np.linspace(0, np.pi, 19))
    fig.add_trace(go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=0.08,
                             showscale=False, colorscale=[[0, "grey"], [1, "grey"]], hoverinfo="skip",
                             name="unit sphere"))


def _add_proxies(fig: go.Figure, proxies: pd.DataFrame, dims: int, sphere: bool,
                 class_names: Sequence[str] | None) -> None:
    symbols = PROXY_SYMBOLS_3D if dims == 3 else PROXY_SYMBOLS
    for cls, part in proxies.groupby("class", sort=True):
        name = _category_name("label", cls, class_names)
        ks = part["k"].to_numpy()
        # object dtype: sent as plain JSON lists, which the selection event hands back row by row
        custom = np.column_stack([np.full(len(part), -1), np.full(len(part), cls), ks]).astype(object)
        text = [f"proxy of {name}, sub-proxy {k}" for k in ks]
        marker = dict(size=16 if dims == 2 else 7, color=colour(cls),
                      symbol=[symbols[k % len(symbols)] for k in ks], line=dict(color="black", width=1.5))
        # one legend entry switches all proxies; hover names each one's class
        trace_kwargs = dict(name="proxies (shape = sub-proxy)", legendgroup="proxies", customdata=custom,
                            showlegend=bool(cls == proxies["class"].min()),
                            text=text, hovertemplate="%{text}<extra></extra>", **_axes_of(part, dims))
        if dims == 3:
            fig.add_trace(go.Scatter3d(mode="markers", marker=marker, **trace_kwargs))
        else:
            fig.add_trace(go.Scatter(mode="markers", marker=marker, **trace_kwargs))
        if sphere:
            _add_proxy_vectors(fig, part, dims, colour(cls), f"label-{cls}")


def _add_proxy_vectors(fig: go.Figure, part: pd.DataFrame, dims: int, line_colour: str, group: str) -> None:
    coords = {}
    for axis in ["x", "y", "z"][:dims]:
        tip = part[axis].to_numpy()
        # origin → tip, then a gap (None) before the next vector
        coords[axis] = np.column_stack([np.zeros_like(tip), tip, np.full(len(tip), np.nan)]).ravel()
    line = dict(color=line_colour, width=3)
    cls = go.Scatter3d if dims == 3 else go.Scatter
    fig.add_trace(cls(mode="lines", line=line, legendgroup=group, showlegend=False, hoverinfo="skip",
                      name="proxy vectors", **coords))


def _layout_embedding(fig: go.Figure, dims: int, title: str, axis_range, colour_by: str) -> None:
    fig.update_layout(title=title, height=620, legend=dict(itemsizing="constant"),
                      legend_title_text=COLOUR_TITLES[colour_by], uirevision="embedding",
                      dragmode="lasso" if dims == 2 else "orbit", margin=dict(l=10, r=10, t=50, b=10))
    if dims == 2:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
        if axis_range:
            fig.update_xaxes(range=list(axis_range["x"]))
            fig.update_yaxes(range=list(axis_range["y"]))
    elif axis_range:
        fig.update_scenes(xaxis_range=list(axis_range["x"]), yaxis_range=list(axis_range["y"]),
                          zaxis_range=list(axis_range["z"]), aspectmode="cube")


def with_coordinates(frame: pd.DataFrame, coords: np.ndarray) -> pd.DataFrame:
    """`frame` plus columns x, y[, z] from coords (rows, 2|3)."""
    coords = np.asarray(coords)
    return frame.assign(**{axis: coords[:, i] for i, axis in enumerate("xyz"[:coords.shape[1]])})


def proxy_frame(proxy_points: np.ndarray | None) -> pd.DataFrame | None:
    """Projected proxies (C, K, 2|3) → the `proxies` frame of :func:`embedding_figure` (class, k, x, y[, z])."""
    if proxy_points is None:
        return None
    c, k, m = proxy_points.shape
    base = pd.DataFrame({"class": np.repeat(np.arange(c), k), "k": np.tile(np.arange(k), c)})
    return with_coordinates(base, proxy_points.reshape(c * k, m))


def axis_range(points: Sequence[np.ndarray], margin: float = 0.05) -> dict[str, tuple[float, float]]:
    """Common axis ranges over several steps' coordinates (each (N, 2|3)), padded by `margin`."""
    stacked = np.concatenate([np.asarray(p) for p in points], axis=0)
    lo, hi = np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0)
    pad = (hi - lo) * margin + 1e-9
    return {axis: (float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i, axis in enumerate("xyz"[:stacked.shape[1]])}


# ---------------------------------------------------------------- time series

def lines_figure(frame: pd.DataFrame, *, x: str = "step", y: str = "value", colour_by: str = "key",
                 dash_by: str | None = None, title: str = "", y_title: str = "", x_title: str | None = None,
                 log_y: bool = False, markers: bool = False, unit_range: bool = False) -> go.Figure:
    """One line per value of `colour_by` (and per `dash_by`, with its own dash style).

    unit_range: the values are scores in [0, 1] (retrieval metrics): the axis stays [0, 1] so that noise of a
    few thousandths (0.975–1) is not blown up to fill the chart.
    """
    if frame.empty:
        return _empty(title, "nothing logged yet")
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    dash_values = list(pd.unique(frame[dash_by])) if dash_by else [None]
    for ci, (group, part) in enumerate(frame.groupby(colour_by, sort=False)):
        for di, dash_value in enumerate(dash_values):
            sub = part if dash_by is None else part[part[dash_by] == dash_value]
            if sub.empty:
                continue
            sub = sub.sort_values(x)
            name = str(group) if dash_by is None else f"{group} · {dash_value}"
            fig.add_trace(go.Scatter(x=sub[x], y=sub[y], name=name, mode="lines+markers" if markers else "lines",
                                     line=dict(color=colour(ci), dash=dashes[di % len(dashes)]),
                                     legendgroup=str(group)))
    fig.update_layout(title=title, xaxis_title=x_title or x, yaxis_title=y_title or y, hovermode="x unified")
    if log_y:
        fig.update_yaxes(type="log", dtick=1)  # ticks at powers of ten only: plotly's minor labels read as noise
    elif unit_range:
        fig.update_yaxes(range=[0, 1.02])
    return fig


def welch_figure(frame: pd.DataFrame, floor: float, *, colour_by: str = "run", n: int | None = None,
                 d: int | None = None, title: str = "Mean squared off-diagonal cosine of the proxies") -> go.Figure:
    """mean cos² (column `value`) over steps per run, against the Welch floor as a horizontal line.

    The floor is the least mean cos² any n unit vectors in R^d can reach: 0 when n ≤ d, (n/d − 1)/(n − 1)
    otherwise, so an SO regulariser cannot push the curve below it.
    """
    fig = lines_figure(frame, colour_by=colour_by, title=title, y_title="mean cos² (= R_SO / n(n−1))")
    label = "Welch floor" + (f" (n={n} proxies, d={d})" if n and d else "") + f" = {floor:.3g}"
    fig.add_hline(y=floor, line=dict(color="crimson", dash="dash", width=2),
                  annotation_text=label, annotation_position="top right")
    fig.update_yaxes(rangemode="tozero")
    return fig


def heatmap_over_steps(steps: Sequence[int], matrix: np.ndarray, row_labels: Sequence[str], *,
                       title: str = "", colour_title: str = "", row_title: str = "") -> go.Figure:
    """Heat map of a per-step vector (rows = proxies or classes, columns = steps). matrix: (T, n)."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.size == 0:
        return _empty(title, "nothing logged yet")
    # sequential, zero = white: a proxy that gets no gradient is blank, not the darkest cell
    fig = go.Figure(go.Heatmap(z=matrix.T, x=list(steps), y=list(row_labels), colorscale="Blues", zmin=0,
                               colorbar=dict(title=colour_title),
                               hovertemplate="step %{x}<br>%{y}<br>%{z:.3g}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=row_title,
                      height=max(300, min(900, 18 * len(row_labels) + 120)))
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


# ---------------------------------------------------------------- proxies and orthogonality

def gram_figure(gram: np.ndarray, labels: Sequence[str], proxies_per_class: int, *,
                title: str = "Cosine between normalised proxies") -> go.Figure:
    """Gram heat map of proxy cosines on a fixed [-1, 1] scale; class blocks outlined when K > 1."""
    fig = go.Figure(go.Heatmap(z=gram, x=list(labels), y=list(labels), zmin=-1, zmax=1, colorscale="RdBu_r",
                               colorbar=dict(title="cos"),
                               hovertemplate="%{y} · %{x}<br>cos %{z:.3f}<extra></extra>"))
    n = len(labels)
    if proxies_per_class > 1:
        for start in range(0, n, proxies_per_class):
            fig.add_shape(type="rect", x0=start - 0.5, x1=start + proxies_per_class - 0.5,
                          y0=start - 0.5, y1=start + proxies_per_class - 0.5, line=dict(color="black", width=1))
    fig.update_layout(title=title, height=min(800, max(380, 14 * n + 150)))
    fig.update_xaxes(type="category", showticklabels=n <= 40)
    fig.update_yaxes(type="category", autorange="reversed", showticklabels=n <= 40, scaleanchor="x")
    return fig


def cosine_histogram(pairs: pd.DataFrame, *, title: str = "Off-diagonal cosines between proxies") -> go.Figure:
    """Histogram of pairwise proxy cosines (columns cos, pair), split into same-class and between-class."""
    fig = go.Figure()
    for i, (pair, part) in enumerate(pairs.groupby("pair", sort=True)):
        fig.add_trace(go.Histogram(x=part["cos"], name=pair, opacity=0.7, marker_color=colour(i),
                                   xbins=dict(start=-1, end=1, size=0.05)))
    fig.add_vline(x=0, line=dict(color="black", dash="dot"))
    fig.update_layout(title=title, barmode="overlay", xaxis_title="cosine", yaxis_title="proxy pairs",
                      xaxis_range=[-1, 1])
    return fig


def usage_figure(usage: np.ndarray, class_names: Sequence[str], dead: np.ndarray, *,
                 title: str = "Share of each class's samples using each sub-proxy") -> go.Figure:
    """Heat map class × sub-proxy of shares (rows normalised; :func:`proxylab.geometry.sub_proxy_share`), dead
    sub-proxies marked with ✗."""
    usage = np.asarray(usage, dtype=float)
    c, k = usage.shape
    totals = usage.sum(axis=1, keepdims=True)
    share = usage / np.where(totals > 0, totals, 1.0)
    text = np.where(dead, "✗ dead", np.char.mod("%.2f", share))
    fig = go.Figure(go.Heatmap(z=share, x=[f"k{j}" for j in range(k)], y=list(class_names[:c]), zmin=0, zmax=1,
                               colorscale="Blues", text=text, texttemplate="%{text}",
                               colorbar=dict(title="share"),
                               hovertemplate="%{y}, sub-proxy %{x}<br>share %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="sub-proxy", height=max(280, 28 * c + 140))
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def mode_coverage_figure(coverage: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Bar per ground-truth mode: best cosine of the mode's mean to its own class's proxies.

    Green = the nearest proxy overall is one of its own class (covered), red = another class's proxy is nearer.
    """
    if coverage.empty:
        return _empty(title, "this data set has no ground-truth modes")
    names = [f"m{m} (class {c})" for m, c in zip(coverage["mode"], coverage["class"])]
    fig = go.Figure(go.Bar(x=names, y=coverage["best_cos_own"],
                           marker_color=np.where(coverage["covered"], "seagreen", "crimson"),
                           customdata=np.column_stack([coverage["nearest_proxy_class"], coverage["samples"]]),
                           hovertemplate="%{x}<br>best cos to own proxies %{y:.3f}<br>nearest proxy: class "
                                         "%{customdata[0]}<br>%{customdata[1]} samples<extra></extra>"))
    share = float(coverage["covered"].mean())
    fig.update_layout(title=f"{title} — {share:.0%} of modes covered".strip(" —"), yaxis_range=[-1, 1],
                      yaxis_title="best cosine to own class's proxies", xaxis_title="ground-truth mode")
    return fig


# ---------------------------------------------------------------- gradients

def grad_distribution_figure(frame: pd.DataFrame, class_names: Sequence[str] | None = None, *,
                             title: str = "Per-sample gradient norm by class") -> go.Figure:
    """Box per class of per-sample ‖∂L/∂f(x)‖ (columns label, grad_norm); rows with NaN are dropped."""
    frame = frame.dropna(subset=["grad_norm"])
    if frame.empty:
        return _empty(title, "no per-sample gradient norms in this snapshot")
    fig = go.Figure()
    for cls, part in frame.groupby("label", sort=True):
        fig.add_trace(go.Box(y=part["grad_norm"], name=_category_name("label", cls, class_names),
                             marker_color=colour(cls), boxpoints="outliers"))
    fig.update_layout(title=title, yaxis_title="‖∂L/∂f(x)‖", showlegend=False)
    return fig


def concentration_figure(frame: pd.DataFrame, *, title: str = "How concentrated is the per-sample gradient?"
                         ) -> go.Figure:
    """Two panels sharing the step axis: top-10% share and Gini of per-sample gradient norms, one line per run.

    frame: columns run, step, key ('sample_grad/top10_share' | 'sample_grad/gini'), value.
    """
    keys = [("sample_grad/top10_share", "share of gradient in the top 10% samples"),
            ("sample_grad/gini", "Gini of per-sample gradient norms")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[label for _, label in keys], shared_xaxes=True)
    for ri, (run, part) in enumerate(frame.groupby("run", sort=False)):
        for col, (key, _) in enumerate(keys, start=1):
            sub = part[part["key"] == key].sort_values("step")
            fig.add_trace(go.Scatter(x=sub["step"], y=sub["value"], name=str(run), legendgroup=str(run),
                                     showlegend=col == 1, line=dict(color=colour(ri))), row=1, col=col)
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, margin=dict(t=90))
    return fig


# ---------------------------------------------------------------- retrieval metrics

def split_metric(name: str) -> tuple[str, int | None]:
    """'R@4' → ('R', 4); 'MAP@R' → ('MAP@R', None); 'NMI' → ('NMI', None)."""
    family, sep, k = name.partition("@")
    if sep and k.isdigit():
        return family, int(k)
    return name, None


def metrics_vs_k_figure(frame: pd.DataFrame, *, colour_by: str = "run",
                        title: str = "Retrieval quality against k") -> go.Figure:
    """Lines of R@k, P@k and nDCG@k against k (columns metric, value, and `colour_by`); one panel per family."""
    parts = [split_metric(m) for m in frame["metric"]]
    parsed = frame.assign(family=[f for f, _ in parts], k=[k for _, k in parts]).dropna(subset=["k"])
    if parsed.empty:
        return _empty(title, "no @k metrics evaluated yet")
    families = [f for f in ("R", "nDCG", "P") if f in set(parsed["family"])] + \
        sorted(set(parsed["family"]) - {"R", "nDCG", "P"})
    labels = {"R": "Recall@k", "nDCG": "nDCG@k", "P": "Precision@k"}
    fig = make_subplots(rows=1, cols=len(families), subplot_titles=[labels.get(f, f) for f in families])
    groups = list(pd.unique(parsed[colour_by]))
    for col, family in enumerate(families, start=1):
        fam = parsed[parsed["family"] == family]
        for gi, group in enumerate(groups):
            sub = fam[fam[colour_by] == group].sort_values("k")
            fig.add_trace(go.Scatter(x=sub["k"].astype(int), y=sub["value"], mode="lines+markers",
                                     name=str(group), legendgroup=str(group), showlegend=col == 1,
                                     line=dict(color=colour(gi))), row=1, col=col)
    ks = parsed["k"].astype(float)
    # the same k range on every panel (a panel with only P@1 would otherwise span 0.125..8)
    fig.update_xaxes(type="log", title_text="k", dtick=np.log10(2),
                     range=[np.log10(ks.min()) - 0.15, np.log10(ks.max()) + 0.15])
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(title=title, margin=dict(t=90))
    return fig
