"""Compare: two or more runs on the same axes."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import numpy as np

from dashboard import analysis, data, figures, player, projections, state, widgets

st.title("Compare runs")
st.markdown("Put two or more runs on the same axes: any logged scalar over training, any evaluation metric over "
            "training, and the final numbers side by side. Differences of a few points between single runs are "
            "within seed noise; train the same config with two seeds before reading much into them. "
            + widgets.RECONSTRUCTION)

def embedding_panel(container, run: str) -> None:
    """The run's last snapshot: native view for d ≤ 3, else the run's own PCA (axes differ between runs)."""
    steps = data.snapshot_steps(store, run)
    if not steps:
        container.info(f"**{run}** has no snapshots yet.")
        return
    snap = data.snapshot(store, run, steps[-1])
    method = "native" if snap.dim <= 3 else "pca"
    dims = snap.dim if method == "native" else 2
    proxy_shape = None if snap.proxies is None else tuple(snap.proxies.shape[:2])
    points, proxy_points = projections.coordinates(store, run, tuple(steps), method, dims, proxy_shape)[steps[-1]]
    samples = figures.with_coordinates(pd.DataFrame({"id": np.arange(snap.num_points), "label": snap.labels,
                                                     "mode": snap.modes, "split": snap.split,
                                                     "grad_norm": snap.grad_norm}), points)
    proxies = figures.proxy_frame(proxy_points)
    names = data.class_names(data.meta(store, run, data.run_stamp(widgets.store(), run))["meta"])
    fig = figures.embedding_figure(samples, proxies, class_names=names, sphere=method == "native",
                                   title=f"{run}, step {steps[-1]} ({'native' if method == 'native' else 'PCA'})")
    fig.update_layout(height=420, showlegend=False)
    widgets.chart(fig, container, key=f"compare_embedding_{run}")


def linked_player(runs: list[str]) -> None:
    """The runs in linked player panes: one step control (the first run's steps), one camera, one lasso."""
    st.caption("One step control and one camera for all panes (each run in its own PCA, or native for d = 2: the "
               "axes of different runs are not comparable, the shapes are). A lasso selects the same sample ids "
               "in every pane.")
    player.player([player.pane_payload(store, r) for r in runs], key="compare_player_" + "+".join(runs), height=460)


table, store = widgets.open_store()
names = widgets.openable(table)
with widgets.run_errors():
    pair = [widgets.teaching_default(table, "single"), widgets.teaching_default(table, "multi")]
    chosen = widgets.pick_runs(table, "runs", "Runs to compare", pair if all(pair) else names[:2])
    if len(chosen) < 2:
        st.info("Pick at least two runs to compare (this store has "
                f"{len(names)} readable run{'s' if len(names) != 1 else ''}).")
        st.stop()
    stamps = {r: data.run_stamp(widgets.store(), r) for r in chosen}
    st.subheader("How the runs differ")
    diff = analysis.config_diff({r: data.meta(store, r, stamps[r])["meta"].get("config") for r in chosen})
    if diff.empty:
        st.caption("The runs have the same config (a seed-only difference would show here as `seed`).")
    else:
        st.dataframe(diff, hide_index=True, width="stretch")

    st.subheader("Embeddings over training")
    shown = chosen[:3]
    if len(chosen) > 3:
        st.caption(f"The first 3 of the {len(chosen)} runs chosen.")
    if all(player.drawable(store, r) for r in shown):
        linked_player(shown)
    else:  # a run without snapshots yet: its panel says so
        for column, run in zip(st.columns(len(shown)), shown):
            embedding_panel(column, run)

    keys = sorted(set().union(*(data.scalar_keys(store, r, stamps[r]) for r in chosen)))
    if keys:
        key = state.choose("key", "Scalar", keys, "loss" if "loss" in keys else keys[0])
        log_y = st.checkbox("log scale", key="compare_log")
        frames = {r: data.scalars(store, r, stamps[r], (key,)) for r in chosen}
        long = data.long_scalars(frames, [key])
        widgets.chart(figures.lines_figure(long, colour_by="run", title=key, y_title=key, log_y=log_y),
                        key="compare_scalar")
        widgets.csv_download(long, f"compare_{key.replace('/', '_')}.csv")
    else:
        st.info("None of these runs has logged a scalar yet.")

    evals = pd.concat([data.evals(store, r, stamps[r]).assign(run=r) for r in chosen], ignore_index=True)
    evals = evals[evals["split"] == "test"]
    if evals.empty:
        st.info("No test-split evaluations in these runs yet.")
        st.stop()
    metrics = sorted(evals["metric"].unique().tolist())
    metric = state.choose("metric", "Evaluation metric (test split)", metrics,
                          "R@1" if "R@1" in metrics else metrics[0])
    widgets.chart(figures.lines_figure(evals[evals["metric"] == metric], colour_by="run", title=f"{metric} (test)",
                                         y_title=metric, markers=True, unit_range=True), key="compare_metric")
    last = evals.sort_values("step").groupby(["run", "metric"]).tail(1)
    final = last.pivot(index="run", columns="metric", values="value").reset_index()
    final.insert(1, "at step", last.groupby("run")["step"].max().reindex(final["run"]).to_numpy())
    st.subheader("Latest evaluation (test split)")
    st.dataframe(final, hide_index=True, width="stretch")
    widgets.csv_download(final, "compare_latest_metrics.csv", "Download this table (CSV)")
