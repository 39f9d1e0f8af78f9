"""Compare: two or more runs on the same axes."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, figures, state, widgets

st.title("Compare runs")
st.markdown("Put two or more runs on the same axes: any logged scalar over training, any evaluation metric over "
            "training, and the final numbers side by side. Differences of a few points between single runs are "
            "within seed noise; train the same config with two seeds before reading much into them. "
            + widgets.RECONSTRUCTION)

table = widgets.runs_or_stop()
store = str(widgets.store())
names = widgets.openable(table)
with widgets.run_errors():
    pair = [widgets.teaching_default(table, "single"), widgets.teaching_default(table, "multi")]
    chosen = widgets.pick_runs(table, "runs", "Runs to compare", pair if all(pair) else names[:2])
    if len(chosen) < 2:
        st.info("Pick at least two runs to compare (this store has "
                f"{len(names)} readable run{'s' if len(names) != 1 else ''}).")
        st.stop()
    stamps = {r: data.run_stamp(widgets.store(), r) for r in chosen}
    keys = sorted(set().union(*(data.scalar_keys(store, r, stamps[r]) for r in chosen)))
    if keys:
        key = state.choose("key", "Scalar", keys, "loss" if "loss" in keys else keys[0])
        log_y = st.checkbox("log scale", key="compare_log")
        frames = {r: data.scalars(store, r, stamps[r], (key,)) for r in chosen}
        long = data.long_scalars(frames, [key])
        st.plotly_chart(figures.lines_figure(long, colour_by="run", title=key, y_title=key, log_y=log_y),
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
    st.plotly_chart(figures.lines_figure(evals[evals["metric"] == metric], colour_by="run", title=f"{metric} (test)",
                                         y_title=metric, markers=True), key="compare_metric")
    last = evals.sort_values("step").groupby(["run", "metric"]).tail(1)
    final = last.pivot(index="run", columns="metric", values="value").reset_index()
    final.insert(1, "at step", last.groupby("run")["step"].max().reindex(final["run"]).to_numpy())
    st.subheader("Latest evaluation (test split)")
    st.dataframe(final, hide_index=True, width="stretch")
    widgets.csv_download(final, "compare_latest_metrics.csv", "Download this table (CSV)")
