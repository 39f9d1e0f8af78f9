"""Proxies: do a class's proxies cover its modes? Single vs multi side by side, sub-proxy usage, dead proxies."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import analysis, data, figures, player, projections, state, widgets

st.title("Proxies")
st.markdown("On data whose classes have several local centres (modes), one proxy per class must sit *between* "
            "them, and a mode of one class can end up closer to another class's proxy. Compare a single-proxy run "
            "with a multi-proxy one: a **covered** mode (green bar) is nearest to a proxy of its own class. Below, "
            "see how a class's samples spread over its sub-proxies and which sub-proxies are **dead** (almost "
            "never used). " + widgets.RECONSTRUCTION)

table, store = widgets.open_store()


def coverage_bars(container, run: str, snap, step: int, key: str) -> None:
    """Per-mode coverage of `run` at `step`: the bars, or a line saying why there are none."""
    coverage = analysis.mode_coverage(snap.embeddings, snap.labels, snap.modes, snap.proxies)
    if coverage.empty:  # no ground-truth modes (imported embeddings, plain labelled data): no empty chart
        container.caption(f"**{run}** has no ground-truth modes, so mode coverage cannot be measured for it.")
        return
    widgets.chart(figures.mode_coverage_figure(coverage, title=f"{run}, step {step}"), container, key=f"cov_bar_{key}")
    widgets.csv_download(coverage, f"{run}_mode_coverage_step{step}_{key}.csv", container=container)


def coverage_panel(container, run: str, step_name: str) -> None:
    """One run on its own (a run without snapshots or proxies, or the same run twice): Plotly embedding and
    coverage bars."""
    steps = data.snapshot_steps(store, run)
    if not steps:
        container.info(f"**{run}** has no snapshots yet.")
        return
    step = state.choose_step(step_name, f"Step of {run}", steps, container=container,
                             final=widgets.is_final(table, run))
    snap = data.snapshot(store, run, step)
    if snap.proxies is None:
        container.info(f"**{run}** has no proxies (e.g. the triplet baseline).")
        return
    names = data.class_names(data.meta(store, run, data.run_stamp(widgets.store(), run))["meta"])
    method = "native" if snap.dim == 2 else "pca"
    coords = projections.coordinates(store, run, tuple(steps), method, snap.dim if method == "native" else 2,
                                     tuple(snap.proxies.shape[:2]))
    points, proxy_points = coords[step]
    samples = figures.with_coordinates(pd.DataFrame({"id": np.arange(snap.num_points), "label": snap.labels,
                                                     "mode": snap.modes, "split": snap.split,
                                                     "grad_norm": snap.grad_norm}), points[:, :2])
    k = snap.proxies.shape[1]
    proxies = figures.proxy_frame(proxy_points[..., :2])
    colour_by = "mode" if (snap.modes >= 0).any() else "label"
    fig = figures.embedding_figure(samples, proxies, colour_by=colour_by, class_names=names, sphere=method == "native",
                                   title=f"{run}: K={k}, step {step} ({method.upper()})")
    widgets.chart(fig, container, key=f"cov_embed_{step_name}")
    coverage_bars(container, run, snap, step, step_name)


def has_proxies(run: str) -> bool:
    steps = data.snapshot_steps(store, run)
    return bool(steps) and data.snapshot(store, run, steps[-1]).proxies is not None


@st.fragment
def linked_coverage(runs: tuple[str, str]) -> None:
    """Both runs in linked player panes (one step, one camera), coloured by mode; below each, its coverage at the
    step the player stopped on (the other run: its last snapshot at or before that step)."""
    lead_steps = data.snapshot_steps(store, runs[0])
    first = state.initial_step("step", lead_steps)
    last = data.snapshot(store, runs[0], lead_steps[-1])
    shown = player.player([player.pane_payload(store, r, mode_links=True) for r in runs],
                          key="proxies_player_" + "+".join(runs),
                          step=first, colour="mode" if (last.modes >= 0).any() else "label", height=420)
    step = shown.step if shown.step in lead_steps else first
    state.remember_step("step", step)
    st.caption("Left and right share the step, the camera and the lasso (each run in its own PCA, or native for "
               "d = 2 and 3). Colour by mode: a class's modes wear shades of its colour; each mode's centre is joined "
               "to its closest own-class sub-proxy, ✓ when the nearest proxy overall is of its class (as the bars "
               "below count it, at the step the player stops on).")
    for column, run in zip(st.columns(2), runs):
        steps = data.snapshot_steps(store, run)
        at = max([s for s in steps if s <= step] or steps[:1])
        coverage_bars(column, run, data.snapshot(store, run, at), at, f"linked_{run}")


with widgets.run_errors():
    st.subheader("Mode coverage: single vs multi proxy")
    multi = (widgets.teaching_default(table, "multi") or widgets.find_run(table, K=lambda v: (v or 0) > 1)
             or widgets.openable(table)[0])
    single = widgets.teaching_default(table, "single") or widgets.find_run(table, K=1) or multi
    left, right = st.columns(2)
    run_a = widgets.pick_run(table, "run", "Left run", default=multi, container=left)
    if single == run_a:
        single = next((r for r in widgets.openable(table) if r != run_a), run_a)
    run_b = widgets.pick_run(table, "other", "Right run", default=single, container=right)
    if run_a != run_b and all(player.drawable(store, r) and has_proxies(r) for r in (run_a, run_b)):
        linked_coverage((run_a, run_b))
    else:
        coverage_panel(left, run_a, "step")
        coverage_panel(right, run_b, "other_step")

    st.subheader(f"Sub-proxy usage of {run_a}")
    stamp = data.run_stamp(widgets.store(), run_a)
    meta = data.meta(store, run_a, stamp)["meta"]
    names = data.class_names(meta)
    snap_steps = data.snapshot_steps(store, run_a)
    if not snap_steps:
        st.info("No snapshot yet.")
        st.stop()
    at = state.choose_step("usage_step", "Usage at step", snap_steps, final=widgets.is_final(table, run_a))
    snap = data.snapshot(store, run_a, at)
    if snap.proxies is None:
        st.info(f"**{run_a}** has no proxies at step {at}.")
        st.stop()
    threshold = st.slider("Dead below this share of the class", 0.0, 0.5, analysis.DEAD_SHARE, 0.01,
                          key="dead_threshold",
                          help="A sub-proxy is dead when it is the most similar own-class sub-proxy of fewer than "
                               f"this share of its class's samples ({analysis.DEAD_SHARE:.0%}: the trainer's "
                               "`dead_proxies` metric and the Lessons page; with K = 1 a proxy is never dead).")
    matrix = analysis.sub_proxy_share(snap.embeddings, snap.labels, snap.proxies)
    dead = analysis.dead_sub_proxies(matrix, threshold)
    labels = data.class_labels(names, matrix.shape[0])
    widgets.chart(figures.usage_figure(matrix, labels, dead), key="usage")
    st.caption(f"Snapshot at step {at}: each cell is the share of the class's samples whose most similar own-class "
               f"sub-proxy it is. **{int(dead.sum())}** of {dead.size} sub-proxies are dead at this threshold.")
    widgets.csv_download(pd.DataFrame(matrix, index=labels, columns=[f"k{j}" for j in range(matrix.shape[1])])
                         .reset_index(names="class"), f"{run_a}_sub_proxy_share.csv")
    evals = data.evals(store, run_a, stamp)
    dead_over = evals[(evals["metric"] == "dead_proxies") & (evals["split"] == "train")]
    if len(dead_over):
        widgets.chart(figures.lines_figure(dead_over.assign(run=run_a), colour_by="run",
                                           title="Dead sub-proxies over training "
                                           f"(train split, under {analysis.DEAD_SHARE:.0%} of the class)",
                                           y_title="dead sub-proxies"), key="dead_over_time")
