"""Embedding space: the evaluation subset and the proxies, step by step through training."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import (analysis, data, figures, neighbours, plain, player, projections, query_values, sampling, state,
                       thumbnails, view_url, widgets)
from proxylab import selection

st.title("Embedding space")
st.markdown("Each dot is a sample of the fixed evaluation subset, each large ringed dot a proxy (colour = its "
            "class; hover a sample for its most similar proxy; in the Plotly chart, symbol = which sub-proxy). Move "
            "the **step** slider (or ▶ Play) to watch training pull classes together; colour by **mode** to see "
            "whether a class's separate centres each get a proxy of their own; tick **trajectories** in the player to "
            "trace each proxy's path over training. Draw a lasso or box to list the selected samples and their "
            "nearest neighbours. A 3-D view (a d = 3 run's sphere, or the 3-D toggle) turns when you drag it; far "
            "points are fainter. PCA and UMAP distort distances; use the native view (d ≤ 3) or the metrics pages "
            "for numbers.")


def sample_frame(snap, names: list[str] | None, ids: np.ndarray | None = None) -> pd.DataFrame:
    """One row per sample of a snapshot (id = snapshot row), or of `ids` only, with the columns the tables and hover
    show."""
    ids = np.arange(snap.num_points) if ids is None else np.asarray(ids, dtype=np.int64)
    nearest = ["–"] * len(ids)
    if snap.proxies is not None:
        cls, k, cos = analysis.nearest_proxy(snap.embeddings[ids], snap.proxies)
        nearest = [f"{names[c] if names and c < len(names) else c} · k{j} (cos {v:.2f})"
                   for c, j, v in zip(cls, k, cos)]
    return pd.DataFrame({"id": ids, "index": snap.index[ids], "label": snap.labels[ids],
                         "mode": snap.modes[ids], "split": np.where(snap.split[ids] == 1, "test", "train"),
                         "grad_norm": snap.grad_norm[ids], "nearest_proxy": nearest})


#: a selection's ids longer than this travel in the URL as its shape only (the whole view stays under 2 KB)
SEL_CHARS = 600


def remember_selection(selected: list[int], shape: str | None = None) -> None:
    """Keep the selection in the session and the URL: its ids (``sel``) when short, and the lasso's or box's shape
    (``shape``) when it came from one, which selects the same samples again (dashboard.view_url)."""
    st.session_state["selected_ids"] = selected
    st.session_state["selected_shape"] = shape = shape if selected else None
    ids = neighbours.ids_to_text(selected)
    if shape:
        st.query_params["shape"] = shape
    else:
        st.query_params.pop("shape", None)
    if selected and (not shape or len(ids) <= SEL_CHARS):
        st.query_params["sel"] = ids
    else:
        st.query_params.pop("sel", None)


def shared_selection(num_points: int, payloads: list[bytes] | None = None) -> list[int]:
    """The selection of this session, first taken from the URL: a shared link carries the shape of its lasso (the
    player's `payloads` say which samples it holds) or its ids."""
    if "selected_ids" not in st.session_state:
        text = st.query_params.get("shape")
        ids = view_url.selection_from_shape(payloads, text) if payloads and text else None
        st.session_state["selected_shape"] = text if ids else None
        st.session_state["selected_ids"] = (ids if ids is not None
                                            else neighbours.ids_from_text(st.query_params.get("sel"), num_points))
    return st.session_state["selected_ids"]


def shared_camera(view: str) -> dict[str, float] | None:
    """The camera a shared link carries, for the view (run and projections) it was taken in; a link's camera does
    not carry over to another run or projection (its coordinates mean another place there)."""
    if st.session_state.get("_camera_view", view) != view:
        st.query_params.pop("cam", None)
    st.session_state["_camera_view"] = view
    return view_url.camera_from_text(st.query_params.get("cam"))


@st.fragment
def player_view(run: str, steps: list[int], views: list[tuple[str, int]], proxy_shape: tuple[int, int] | None,
                names: list[str] | None, colours: list[str]) -> None:
    """The WebGL player: every step is in the browser already, so moving or playing the step reruns nothing;
    this fragment reruns only when the player reports a lasso or the step it stopped on. `views` holds one
    (method, dims) per pane: a second one puts another projection of the run beside the first, linked."""
    store = str(widgets.store())
    with widgets.run_errors():
        blobs = [player.run_payload(store, run, tuple(steps), method, proxy_shape, tuple(names) if names else None,
                                    dims) for method, dims in views]
        first_step = state.initial_step("step", steps)
        num_points = player.payload_header(blobs[0])["n_points"]
        selected = shared_selection(num_points, blobs)
        key = "+".join(f"{method}_{dims}" for method, dims in views)
        drawn_in = st.session_state.setdefault("_shape_view", f"{run}/{key}")
        if drawn_in != f"{run}/{key}":  # a shape drawn in another view: its ids travel instead
            st.session_state["selected_shape"] = None
        st.session_state["_shape_view"] = f"{run}/{key}"
        shape = st.session_state.get("selected_shape")
        wanted_colour = st.query_params.get("colour")
        shown = player.player(blobs if len(blobs) > 1 else blobs[0], key=f"player_{run}_{key}", step=first_step,
                              colour=wanted_colour if wanted_colour in colours else "label",
                              show_proxies=st.query_params.get("proxies", "1") == "1",
                              show_trajectories=st.query_params.get("trails") == "1", selected_ids=selected,
                              camera=shared_camera(f"{run}/{key}"))
        if shown.selection_seq is not None and shown.selection_seq != st.session_state.get("_player_seq"):
            st.session_state["_player_seq"] = shown.selection_seq  # a new lasso (not one already applied)
            selected = [int(i) for i in shown.selected_ids or []]
            shape = view_url.shape_to_text(shown.selection_shape and {**shown.selection_shape,
                                                                        "step": shown.selection_step})
        remember_selection(selected, shape)
        step = shown.step if shown.step in steps else first_step
        state.remember_step("step", step)
        if shown.colour in colours:
            st.query_params["colour"] = shown.colour
        if shown.show_proxies is not None:
            st.query_params["proxies"] = "1" if shown.show_proxies else "0"
        if shown.show_trajectories is not None:
            st.query_params["trails"] = "1" if shown.show_trajectories else "0"
        camera = view_url.camera_to_text(shown.camera)
        if camera:
            st.query_params["cam"] = camera
        elif shown.camera is not None:
            st.query_params.pop("cam", None)
        sent = sum(len(b) for b in blobs)
        st.caption(f"{len(steps)} steps × {num_points:,} points sent once ({sent / 1e6:.2f} MB); play, step, "
                   "colour and hover run in the browser. Drag to lasso- or box-select (or shift+drag in pan mode); "
                   "double-click clears."
                   + (" Both panes show the same samples: a selection in one lights them up in the other, so you "
                      "can see where one projection puts what another keeps together." if len(blobs) > 1 else ""))
        snap = data.snapshot(store, run, step)
        query_values.prefetch(store, run, step, query_values.split_sizes(snap))  # a lasso then scores at once
        selection_tables(store, run, snap, None, selected, names, step)


@st.fragment
def step_view(run: str, steps: list[int], coords: dict, method: str, dims: int, colour_by: str,
              names: list[str] | None, final: bool) -> None:
    """The Plotly view (3-D, and "Plotly (static)" in 2-D): everything that depends on the step is a fragment,
    so moving the slider or selecting points reruns only this part of the page."""
    store = str(widgets.store())
    with widgets.run_errors():  # a fragment reruns alone: it needs its own guard
        step = state.choose_step("step", "Training step", steps, final=final)
        snap = data.snapshot(store, run, step)
        query_values.prefetch(store, run, step, query_values.split_sizes(snap))  # a selection then scores at once
        points, proxy_points = coords[step]
        show_proxies = st.checkbox("show proxies", value=st.query_params.get("proxies", "1") == "1", key="show_proxies")
        st.query_params["proxies"] = "1" if show_proxies else "0"

        keep = sampling.subsample_indices(snap.num_points, sampling.MAX_POINTS)
        if len(keep) < snap.num_points:
            st.info(f"Drawing {len(keep):,} of {snap.num_points:,} points (a fixed random subset, the same at every "
                    "step); selections and neighbours use all points.")
        samples = figures.with_coordinates(sample_frame(snap, names), points)
        proxies = figures.proxy_frame(proxy_points) if show_proxies else None

        chart_key = f"embedding_{run}"
        previous = st.session_state.get(chart_key)
        selected = shared_selection(snap.num_points)
        if previous and previous.get("selection", {}).get("points"):
            selected = neighbours.selected_ids(previous["selection"]["points"]).tolist()
        remember_selection(selected)  # its ids: a shape is the player's, drawn in its coordinates
        everything = [pts for pts, _ in coords.values()] + [p.reshape(-1, p.shape[-1]) for _, p in coords.values()
                                                          if p is not None and show_proxies]
        fig = figures.embedding_figure(samples.iloc[keep], proxies, colour_by=colour_by, selected_ids=selected,
                                       class_names=names, sphere=method == "native",
                                       axis_range=figures.axis_range(everything),
                                       title=f"{run} — step {step} ({projections.METHODS[method]})")
        if dims == 3:
            widgets.chart(fig, key=f"{chart_key}_3d")
            st.caption("Lasso and box selection work in the 2-D views only.")
        else:
            widgets.chart(fig, key=chart_key, on_select="rerun", selection_mode=("points", "box", "lasso"))

        shown = samples.iloc[keep]
        export = shown.assign(kind="sample")
        if proxies is not None:
            export = pd.concat([export, proxies.assign(kind="proxy")], ignore_index=True)
        widgets.csv_download(export, f"{run}_{method}_step{step}.csv", "Download the points shown (CSV)")
        selection_tables(store, run, snap, samples, selected, names, step)


def selection_tables(store: str, run: str, snap, samples: pd.DataFrame | None, selected: list[int],
                     names: list[str] | None, step: int) -> None:
    """The selection's scores as queries, then the selected samples and their nearest neighbours at `step` (both
    views share it; `samples`: the view's :func:`sample_frame`, None to build it here, after the scores)."""
    st.subheader("Selection")
    if not selected:
        st.caption("Nothing selected: drag a lasso or box over the chart (2-D view) to list samples here.")
        return
    cols = st.columns([4, 1])
    cols[0].markdown(f"**{len(selected)}** samples selected (kept when you move the step).")
    if cols[1].button("Clear selection"):
        remember_selection([])
        st.rerun(scope="fragment")
    selection_scores(store, run, snap, selected)
    listed = selected[:neighbours.LISTED]  # a table of 90,000 rows is read by nobody and costs the browser seconds
    samples = sample_frame(snap, names, np.asarray(listed)) if samples is None else samples
    picked = samples.set_index("id").loc[listed].reset_index()
    if names:
        picked["label"] = [names[c] if c < len(names) else c for c in picked["label"]]
    picked = picked.drop(columns=[c for c in "xyz" if c in picked]).rename(columns={
        "id": "sample", "index": "row in its split", "label": "class",
        "grad_norm": "‖∂L/∂f(x)‖ (training points only)", "nearest_proxy": "nearest proxy"})
    images = data.eval_images(store, run)
    thumbs = thumbnails.thumbnail_column(images, picked["sample"].to_numpy())
    image_column = {"image": st.column_config.ImageColumn("image", width="small")}
    if thumbs is not None:
        picked.insert(1, "image", thumbs)
    if len(selected) > len(listed):
        st.caption(f"The first {len(listed):,} of the {len(selected):,} selected samples (by id); the scores above "
                   "count them all.")
    st.dataframe(picked, hide_index=True, height=220, column_config=image_column)
    shown_ids = np.asarray(selected[:200])
    table_nb = neighbours.neighbour_table(shown_ids, snap.embeddings, snap.labels, snap.modes, k=5,
                                          class_names=names)
    share = float(table_nb["same_label"].mean()) if len(table_nb) else float("nan")
    st.markdown(f"Their 5 nearest neighbours (cosine, at step {step})"
                + (f" — first 200 of {len(selected)} selected" if len(selected) > 200 else "")
                + f": **{share:.0%}** share the sample's class.")
    shown_nb = table_nb.copy()  # the CSV keeps no images
    nb_thumbs = thumbnails.thumbnail_column(images, table_nb["neighbour"].to_numpy())
    if nb_thumbs is not None:
        shown_nb.insert(shown_nb.columns.get_loc("neighbour") + 1, "image", nb_thumbs)
    st.dataframe(shown_nb, hide_index=True, height=300, column_config=image_column)
    widgets.csv_download(table_nb, f"{run}_neighbours_step{step}.csv", "Download the neighbour table (CSV)")


def selection_scores(store: str, run: str, snap, selected: list[int]) -> None:
    """R@1, MAP@R and mode coverage of the selected samples as queries, each against its whole split, at the step
    shown: the run's own metrics restricted to them (``proxylab eval RUN --step S --queries IDS`` prints the same)."""
    if not np.isfinite(snap.embeddings).all():
        st.info(f"The snapshot of step {snap.step} holds non-finite embeddings: its retrieval scores are undefined.")
        return
    try:
        metrics = query_values.selection_metrics(store, run, snap, selected)
    except query_values.SelectionTooLarge as exc:
        st.info(plain.error_text(exc))
        return
    if not metrics:
        st.caption("No selected sample can be scored as a query (its split has fewer than 2 samples).")
        return
    rows = pd.DataFrame(selection.describe(metrics))
    st.markdown(f"The {len(selected):,} selected samples as queries at step {snap.step}, each against every other "
                "sample of its split (exact: the run's retrieval metrics restricted to the selection):")
    st.dataframe(rows, hide_index=True, column_config={
        "R@1": st.column_config.NumberColumn(format="%.3f"), "MAP@R": st.column_config.NumberColumn(format="%.3f")})


@st.fragment(run_every=2.0)
def umap_progress(run: str) -> None:
    """While a background job computes this run's UMAP: its progress, then a switch to UMAP when it is done."""
    job = projections.background_job(str(widgets.store()), run, 2)
    if not job or job.get("state") not in ("queued", "running"):
        if job and job.get("state") == "done":
            st.session_state["_switch_to_umap"] = run
        st.rerun()
    st.progress(min(1.0, float(job.get("fraction") or 0)),
                text=f"UMAP of this run is being computed in the background ({job.get('message', '')}). The view "
                     "shows PCA meanwhile and switches to UMAP when it is ready.")


table, store = widgets.open_store()
with widgets.run_errors():
    top = st.columns([3, 2, 2])
    run = widgets.pick_run(table, default=widgets.teaching_default(table, "embedding"), container=top[0])
    steps = widgets.snapshot_steps_or_stop(run)
    meta = data.meta(store, run, data.run_stamp(widgets.store(), run))["meta"]
    names = data.class_names(meta)
    first = data.snapshot(store, run, steps[-1])
    methods = ["pca", "umap"] + (["native"] if first.dim <= 3 else [])
    all_steps = tuple(steps)
    umap_ready = projections.is_cached(store, run, all_steps, "umap", 2)
    job = None if umap_ready else projections.background_job(store, run, 2)
    job_active = bool(job and job.get("state") in ("queued", "running"))
    if st.session_state.pop("_switch_to_umap", None) == run:  # its background UMAP just finished
        st.session_state["w_projection"] = "umap"
        st.query_params["projection"] = "umap"
    # a run with d <= 3 opens on its own space (the sphere itself for d = 3): no projection to distort it
    method = state.choose("projection", "Projection", methods,
                          "native" if first.dim <= 3 else "umap" if umap_ready else "pca",
                          format_func=lambda m: projections.option_label(m, umap_ready, job), container=top[1])
    has_modes = bool((first.modes >= 0).any())
    has_grad = bool(np.isfinite(first.grad_norm).any())
    colours = ["label"] + (["mode"] if has_modes else []) + ["split"] + (["grad_norm"] if has_grad else [])
    if method == "native":
        dims = first.dim
        st.query_params.pop("dims", None)  # the native view has the embedding's own dimension
    else:
        dims = 3 if st.toggle("3-D", value=st.query_params.get("dims") == "3", key="dims3") else 2
        st.query_params["dims"] = str(dims)
    chart = state.choose("chart", "Chart", ["player", "plotly"], "player",
                         format_func=lambda c: {"player": "Player (WebGL)", "plotly": "Plotly (static)"}[c],
                         container=top[2])
    colour_by = "label"
    if chart == "plotly":  # the player has its own colour switch, in the browser
        colour_by = state.choose("colour", "Colour by", colours, "label", container=top[2],
                                 format_func=lambda c: {"label": "class", "mode": "ground-truth mode", "split": "split",
                                                        "grad_norm": "per-sample gradient norm"}[c])

    beside = "none"
    if chart == "player":
        beside = state.choose("beside", "Beside it", ["none", *methods], "none", container=top[1],
                              format_func=lambda m: "nothing" if m == "none" else projections.METHODS[m],
                              help="Another projection of the same run in a linked pane: one step, one camera, one "
                                   "selection.")
    proxy_shape = data.proxy_shape(store, run, steps)
    if job_active:
        umap_progress(run)
        if method == "umap" and dims == 2:  # never compute twice: PCA until the background job is done
            method = "pca"
        if beside == "umap":
            beside = "none"
    views = [(method, dims)]
    if beside not in ("none", method):
        views.append((beside, first.dim if beside == "native" else 2 if method == "native" else dims))

    def projected(method: str, dims: int) -> dict:
        if not projections.is_cached(store, run, all_steps, method, dims):
            with st.status(f"Computing UMAP of {len(steps)} snapshots (first time only, about a minute on a small "
                           "machine; then cached with the run)…", expanded=True) as status:
                bar = st.progress(0.0)
                projections.compute(store, run, all_steps, method, dims,
                                    progress=lambda frac, text: bar.progress(min(1.0, float(frac)), text=text))
                status.update(label="UMAP ready", state="complete", expanded=False)
        return projections.coordinates(store, run, all_steps, method, dims, proxy_shape)

    coords = None  # the first view's: the Plotly chart draws it
    for shown_method, shown_dims in views:
        try:
            view_coords = projected(shown_method, shown_dims)
        except (ValueError, ImportError) as exc:  # RunError is a ValueError: shown the same way
            st.warning(f"The {projections.METHODS[shown_method]} projection is not available for this run: "
                       f"{plain.error_text(exc)}. "
                       "PCA always works.")
            st.stop()
        coords = view_coords if coords is None else coords

    if chart == "player":  # the player also colours by retrieval outcome (it shows what it has for a run)
        player_view(run, steps, views, proxy_shape, names, [*colours, "nn_outcome", "proxy_outcome"])
    else:
        step_view(run, steps, coords, method, dims, colour_by, names, widgets.is_final(table, run))
