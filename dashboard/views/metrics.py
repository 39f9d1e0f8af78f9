"""Metrics: retrieval quality on held-out data, against k and over training."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, figures, state, widgets

st.title("Retrieval metrics")
st.markdown("Recall@k is the hit rate (any of the k nearest neighbours shares the query's class); nDCG@k also "
            "rewards *where* the hits are, and MAP@R looks at the whole ranking of a query's R class-mates, so it "
            "moves less on noise. On a zero-shot split the **test** classes were never trained on: that is the "
            "number that matters. nDCG@k as a DML metric follows the MPA paper; the MPA losses themselves are "
            "proxylab's reconstructions.")

table, store = widgets.open_store()
with widgets.run_errors():
    chosen = widgets.pick_runs(table, "runs", "Runs", widgets.openable(table)[:1])
    if not chosen:
        st.info("Pick at least one run.")
        st.stop()
    split = state.choose("split", "Evaluated on", ["test", "train"], "test", kind="radio")
    frames = []
    for r in chosen:
        ev = data.evals(store, r, data.run_stamp(widgets.store(), r))
        frames.append(ev[ev["split"] == split].assign(run=r))
    evals = pd.concat(frames, ignore_index=True)
    if evals.empty:
        st.info(f"No evaluation on the {split} split yet; the trainer evaluates every `eval_every` steps.")
        st.stop()
    eval_steps = sorted(evals["step"].unique().tolist())
    step = state.choose_step("step", "At step (evaluations)", eval_steps, final=widgets.is_final(table, *chosen))
    at_step = evals[evals["step"] == step]
    widgets.chart(figures.metrics_vs_k_figure(at_step, title=f"Retrieval quality against k at step {step}"),
                    key="vs_k")
    names = sorted(evals["metric"].unique().tolist())
    wanted = state.choose_many("metrics", "Metrics over training", names,
                               [m for m in ("R@1", "MAP@R", "nDCG@4") if m in names])
    over = evals[evals["metric"].isin(wanted)]
    widgets.chart(figures.lines_figure(over, colour_by="metric", dash_by="run" if len(chosen) > 1 else None,
                                         title="Metrics over training", y_title="value", markers=True,
                                         unit_range=True),
                    key="vs_step")
    widgets.csv_download(evals, f"metrics_{split}.csv")
