"""Runs: what is in the store, how far a training run is, and a form to start a new one."""
from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from dashboard import data, figures, launch, plain, upload, widgets
from proxylab.store.layout import RUN_JSON

st.title("Runs")
st.markdown("Every training run in the store, newest first. A **running** run refreshes here every few seconds; "
            "open it on the other pages while it trains. Runs that cannot be read are listed at the bottom with the "
            "reason, and the form starts a new run in the background.")

store = widgets.store()


def show_table() -> None:
    table = data.runs_table(store)
    if table.empty:
        st.info(f"No runs in `{store}` yet: start one with the form below, or run `proxylab demo`.")
        return
    good = table[table["openable"]]
    last_r1 = {}
    for name in good["name"]:
        try:
            ev = data.evals(str(store), name, data.run_stamp(store, name))
        except data.RunError:
            continue
        r1 = ev[(ev["metric"] == "R@1") & (ev["split"] == "test")]
        last_r1[name] = r1.sort_values("step")["value"].iloc[-1] if len(r1) else None
    shown = good.assign(**{"last R@1 (test)": good["name"].map(last_r1)})[
        ["name", "status", "loss", "K", "SO weight", "model", "d", "seed", "data", "progress", "step",
         "last R@1 (test)", "snapshots", "total steps", "tags", "updated"]]  # what people compare first stays visible without scrolling
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "last R@1 (test)": st.column_config.NumberColumn(format="%.3f"),
        "SO weight": st.column_config.NumberColumn(format="%g"),
    })
    widgets.csv_download(shown, "runs.csv", "Download this table (CSV)")
    for _, row in good[good["status"] == "running"].iterrows():
        st.subheader(f"Live: {row['name']}")
        st.progress(row["progress"] or 0.0, text=f"step {row['step']} of {row['total steps'] or '?'}")
        loss = data.scalars(str(store), row["name"], data.run_stamp(store, row["name"]), ("loss",))
        long = loss.reset_index().melt(id_vars="step", var_name="key", value_name="value").dropna()
        widgets.chart(figures.lines_figure(long, title="training loss", y_title="loss"), key=f"live_{row['name']}")
    broken = table[~table["openable"] | table["status"].isin(["failed", "interrupted"])]
    if len(broken):
        st.subheader("Runs with problems")
        for _, row in broken.iterrows():
            if not row["openable"]:
                st.error(f"**{row['name']}** cannot be opened: {plain.md(row['error'])}")
            elif row["status"] == "failed":
                reason = plain.md(row["error"] or "no error recorded")
                st.warning(f"**{row['name']}** failed at step {row['step']}: {reason}")
            else:
                st.warning(f"**{row['name']}** was interrupted at step {row['step']}; continue it with "
                           f"`proxylab train --resume {row['name']}`.")


show_table()  # app.py reruns the page whenever the store changes (a run starts, commits, snapshots)

st.header("Start a new run")
with st.form("new_run"):
    cols = st.columns(3)
    loss = cols[0].selectbox("Loss", launch.LOSSES, index=launch.LOSSES.index("mpa"),
                             help="mpa, mpa_dw and mpa_pw are proxylab's reconstructions of the MPA family.")
    k = cols[1].number_input("Proxies per class (K)", min_value=1, max_value=32, value=4)
    so_weight = cols[2].number_input("SO weight (0 = off)", min_value=0.0, max_value=10.0, value=0.0, step=0.01,
                                     format="%.3f")
    cols = st.columns(3)
    dataset = cols[0].selectbox("Data", launch.DATASETS)
    steps = cols[1].number_input("Steps", min_value=1, max_value=100_000, value=300, step=50)
    name = cols[2].text_input("Run name", value="", placeholder="e.g. mpa-k4-so0")
    submitted = st.form_submit_button("Start training")
if submitted:
    name = name.strip() or f"{loss}-k{k}-so{so_weight:g}-{time.strftime('%H%M%S')}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name) or ".." in name:
        st.error("A run name is 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    elif (store / name).exists():
        st.error(f"A run named **{name}** already exists in `{store}`; choose another name.")
    else:
        try:
            process, log = launch.start_training(store, name, loss=loss, proxies_per_class=int(k),
                                                 so_weight=float(so_weight), data=dataset, steps=int(steps))
        except (ValueError, OSError) as exc:
            st.error(f"Could not start the run: {plain.error_text(exc)}")
        else:
            st.success(f"Started **{name}** (process {process.pid}); it appears in the table once its first step is "
                       f"written. Output: `{log}`.")


st.header("Import embeddings trained elsewhere")
st.markdown("Small files only (at most "
            f"{upload.MAX_UPLOAD_BYTES // 2**20} MiB each; use `proxylab import` for larger ones or for a checkpoint): "
            "embeddings as .npz (`embeddings`, `labels`), .csv/.parquet (`e0..`, `label`, optional `mode`, `split`, "
            "`step`) or a TensorBoard projector `tensors.tsv` with its `metadata.tsv`; optional proxies as .npy/.npz "
            "(C, d) or (C, K, d), or a loss state dict (.pt). The run is read-only; metrics are computed on import.")
with st.form("import_run", clear_on_submit=False):
    emb_file = st.file_uploader("Embeddings", type=upload.EMBEDDING_TYPES, key="up_embeddings")
    cols = st.columns(2)
    meta_file = cols[0].file_uploader("metadata.tsv (for a projector tensors.tsv)", type=["tsv"], key="up_metadata")
    prox_file = cols[1].file_uploader("Proxies (optional)", type=upload.PROXY_TYPES, key="up_proxies")
    cols = st.columns(2)
    import_name = cols[0].text_input("Run name", value="", placeholder="default: import-<file name>")
    k_per_class = cols[1].number_input("Proxies per class K (0 = from the file)", min_value=0, max_value=256, value=0)
    do_import = st.form_submit_button("Import")
if do_import:
    if emb_file is None:
        st.error("Choose an embeddings file to import.")
    else:
        name = import_name.strip() or upload.default_run_name(store, emb_file.name)
        item = lambda f: None if f is None else (f.name, f.getvalue())  # noqa: E731
        try:
            with st.status("Importing…") as progress:
                path = upload.import_uploaded(
                    store, name, item(emb_file), metadata=item(meta_file), proxies=item(prox_file),
                    proxies_per_class=int(k_per_class) or None,
                    on_playable=lambda p: progress.update(label=f"{p.name}: snapshots stored (it plays on the "
                                                          "Embedding space page); computing its metrics…"))
                progress.update(label="Imported", state="complete")
        except (ValueError, OSError) as exc:
            st.error(f"Could not import: {plain.error_text(exc)}")
        else:
            st.success(f"Imported **{path.name}**; open it on the Embedding space or Metrics page.")

imported = [s for s in data.runs_table(store)["name"] if (store / s / RUN_JSON).is_file()]
rows = []
for run_name in imported:
    try:
        run_meta = data.meta(str(store), run_name, data.run_stamp(store, run_name))["meta"]
    except data.RunError:
        continue
    if run_meta.get("source") != "import":
        continue
    for source in run_meta.get("imported_from") or []:
        rows.append({"run": run_name, "role": source.get("role"), "format": source.get("format"),
                     "from": source.get("path"), "sha256": (source.get("sha256") or "")[:16],
                     "imported": run_meta.get("created")})
if rows:
    st.subheader("Imported runs: what came from where")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
