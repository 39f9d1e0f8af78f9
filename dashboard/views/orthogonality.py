"""Orthogonality: how spread out the proxies are, against the best that is geometrically possible."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, data, figures, state, widgets

st.title("Orthogonality of the proxies")
st.markdown("The Gram heat map shows the cosine between every pair of normalised proxies (red = similar, blue = "
            "opposite); with a soft-orthogonality (SO) regulariser the off-diagonal should fade towards white. The "
            "curve below tracks the mean squared off-diagonal cosine over training against the **Welch floor**: "
            "n unit vectors in R^d cannot all be orthogonal when n > d, so no regulariser can push the curve "
            "below that dashed line. " + widgets.RECONSTRUCTION)

table, store = widgets.open_store()
with widgets.run_errors():
    run = widgets.pick_run(table, default=widgets.teaching_default(table, "orthogonality"))
    steps = widgets.snapshot_steps_or_stop(run)
    step = state.choose_step("step", "Training step (snapshot)", steps, final=widgets.is_final(table, run))
    snap = data.snapshot(store, run, step)
    if snap.proxies is None:
        st.info(f"Run **{run}** has no proxies (e.g. the triplet baseline): nothing to show here.")
        st.stop()
    c, k, d = snap.proxies.shape
    n = c * k
    floor = analysis.welch_floor(n, d)
    labels = analysis.proxy_labels(c, k)
    msq = analysis.mean_sq_off_diagonal_cos(snap.proxies)
    cols = st.columns(3)
    cols[0].metric("proxies n = C·K", f"{n} = {c}·{k}", help=f"embedding dimension d = {d}")
    cols[1].metric("mean cos² (this step)", f"{msq:.4f}")
    cols[2].metric("Welch floor", f"{floor:.4f}", help="0 when n ≤ d; (n/d − 1)/(n − 1) otherwise")
    left, right = st.columns(2)
    gram = analysis.proxy_gram(snap.proxies)
    widgets.chart(figures.gram_figure(gram, labels, k, title=f"Proxy cosines at step {step}"), left, key="gram")
    pairs = analysis.off_diagonal_cosines(snap.proxies)
    widgets.chart(figures.cosine_histogram(pairs), right, key="cos_hist")
    widgets.csv_download(pd.DataFrame(gram, index=labels, columns=labels).reset_index(names="proxy"),
                         f"{run}_gram_step{step}.csv", "Download the Gram matrix (CSV)")

    st.subheader("Over training: SO on vs off")
    widgets.imported_notice(run, "proxy statistics over training steps")
    st.markdown("Pick a run trained with SO and one without (same loss and K) to see what the regulariser buys.")
    mine = table.set_index("name").loc[run]
    opposite_so = {"SO weight": (lambda w: not w) if (mine["SO weight"] or 0) > 0 else (lambda w: (w or 0) > 0)}
    # the same loss, K, dimension and data with SO the other way (same Welch floor); else any run with it
    # (a teaching run's twin is the run tagged as its pair: it also matches margin and seed)
    twin_role = {"so/on": "so/off", "so/off": "so/on"}
    partner = (next((widgets.tagged_run(table, twin_role[t]) for t in mine["tags"] if t in twin_role), None)
               or widgets.find_run(table, loss=mine["loss"], K=mine["K"], d=mine["d"], data=mine["data"], **opposite_so)
               or widgets.find_run(table, **opposite_so))
    chosen = widgets.pick_runs(table, "runs", "Runs on the same axes", [run] + ([partner] if partner else []))
    measure = state.choose("measure", "Measure", ["mean cos²", "R_SO (sum)"], "mean cos²", kind="radio")
    frames = {r: data.scalars(store, r, data.run_stamp(store, r), ("proxy/mean_sq_cos", "proxy/r_so"))
              for r in chosen}
    key = "proxy/mean_sq_cos" if measure == "mean cos²" else "proxy/r_so"
    long = data.long_scalars(frames, [key])
    # the floor of the sum is n(n−1) times the floor of the mean
    shown_floor = floor if measure == "mean cos²" else floor * n * (n - 1)
    fig = figures.welch_figure(long, shown_floor, n=n, d=d)
    if measure != "mean cos²":
        fig.update_yaxes(title_text="R_SO = ‖P̂P̂ᵀ − I‖²_F")
    widgets.chart(fig, key="welch")
    if len(chosen) > 1:
        st.caption(f"The dashed floor is for **{run}** (n={n}, d={d}); runs with other n or d have another floor.")
    widgets.csv_download(long, f"orthogonality_{'_'.join(chosen)}.csv")
