"""Gradients: where the gradient goes (parameter groups, proxies, classes, samples) over training."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import analysis, data, figures, state, widgets

st.title("Gradients")
st.markdown("Norms are taken **before clipping**. Look for which group dominates (proxies typically train with a "
            "×100 learning rate), which proxies or classes receive gradient late in training, and how the "
            "per-sample gradient is spread: a **class-wise** loss (Proxy Anchor, `mpa`) shares a bounded gradient "
            "among a class's samples, a **data-wise** one (`mpa_dw`) bounds it per sample, so its concentration "
            "curves should differ. " + widgets.RECONSTRUCTION)

table, store = widgets.open_store()
with widgets.run_errors():
    run = widgets.pick_run(table, default=widgets.teaching_default(table, "gradients"))
    stamp = data.run_stamp(widgets.store(), run)
    meta = data.meta(store, run, stamp)["meta"]
    names = data.class_names(meta)
    if widgets.imported_notice(run, "gradients (logged only while proxylab trains)"):
        st.stop()

    st.subheader("Gradient norm per parameter group")
    keys = [k for k in data.scalar_keys(store, run, stamp) if k.startswith("grad_norm/")]
    if not keys:
        st.info("This run logged no gradient norms yet (light logging, or no step finished so far).")
    else:
        log_y = st.checkbox("log scale", value=True, key="grad_log")
        long = data.long_scalars({run: data.scalars(store, run, stamp, tuple(keys))}, keys)
        widgets.chart(figures.lines_figure(long, title="‖∂L/∂θ‖ per group (pre-clip)", y_title="gradient norm",
                                             log_y=log_y), key="group_norms")
        widgets.csv_download(long, f"{run}_grad_norms.csv")

    st.subheader("Per proxy / per class over training")
    vector_names = {"per proxy (total)": "proxy_grad", "per proxy (pull, from positives)": "proxy_grad_pull",
                    "per proxy (push, from negatives)": "proxy_grad_push", "per class": "class_grad"}
    which = state.choose("vector", "Heat map of", list(vector_names), "per proxy (total)", kind="radio",
                         help="Pull = the part of a proxy's gradient that flows through its similarities to "
                              "same-class samples (positive pairs), push = through other-class samples "
                              "(negative pairs); exact, from ∂L/∂s. Pull + push + the gradient of proxy "
                              "regularisers (SO, SoftTriple's τ) = the total.")
    steps_v, values = data.vectors(store, run, stamp, vector_names[which])
    if values.size == 0:
        st.info(f"No `{vector_names[which]}` logged for this run yet.")
    else:
        k = data.proxies_per_class(store, run)
        k = k if values.shape[1] % k == 0 else 1  # a vector laid out otherwise than the stored proxies: flat
        if vector_names[which] == "class_grad":
            rows = data.class_labels(names, values.shape[1])
        else:
            rows = analysis.proxy_labels(values.shape[1] // k, k)
        widgets.chart(figures.heatmap_over_steps(steps_v, values, rows, title=f"gradient norm {which}",
                                                   colour_title="‖∂L/∂θ‖"), key="vector_heatmap")
        widgets.csv_download(pd.DataFrame(values, columns=rows).assign(step=steps_v),
                             f"{run}_{vector_names[which]}.csv")

    st.subheader("Per-sample gradient at one step")
    steps = data.snapshot_steps(store, run)
    if not steps:
        st.info("No snapshots yet; per-sample gradients are stored with each snapshot.")
    else:
        step = state.choose_step("step", "Training step (snapshot)", steps, final=widgets.is_final(table, run))
        snap = data.snapshot(store, run, step)
        frame = pd.DataFrame({"sample": np.arange(snap.num_points), "label": snap.labels, "grad_norm": snap.grad_norm})
        widgets.chart(figures.grad_distribution_figure(frame, names, title=f"‖∂L/∂f(x)‖ by class at step {step} "
                                                                 "(training points)"), key="sample_grad")
        widgets.csv_download(frame.dropna(), f"{run}_sample_grad_step{step}.csv")

    st.subheader("Class-wise vs data-wise concentration")
    st.markdown("Top-10% share: the fraction of the batch's total per-sample gradient carried by its 10% largest; "
                "Gini: 0 = every sample gets the same, 1 = one sample gets all. Compare e.g. `proxy_anchor` "
                "(class-wise) with `mpa_dw` (data-wise).")
    # the tagged pair differs only in the loss (class-wise mpa vs data-wise mpa_dw)
    default = [r for r in (widgets.teaching_default(table, "class-wise"), widgets.find_run(table, loss="mpa_dw"))
               if r] or [run]
    chosen = widgets.pick_runs(table, "runs", "Runs side by side", default)
    conc_keys = ["sample_grad/top10_share", "sample_grad/gini"]
    frames = {r: data.scalars(store, r, data.run_stamp(widgets.store(), r), tuple(conc_keys)) for r in chosen}
    conc = data.long_scalars(frames, conc_keys)
    if conc.empty:
        st.info("None of these runs logged per-sample gradient summaries yet.")
    else:
        widgets.chart(figures.concentration_figure(conc), key="concentration")
        widgets.csv_download(conc, "gradient_concentration.csv")
