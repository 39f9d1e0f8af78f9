"""Lessons: the teacher's path — ordered scenes on the demo's tagged runs, each one figure, one sentence and the
number that proves it, measured on those runs (dashboard.scenes; the same claims are tested in
tests/test_lessons_geometry.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import analysis, data, figures, lesson_figures, player, presenter, scenes, widgets
from proxylab import geometry

present = presenter.active()
style = lesson_figures.Style.presenter() if present else lesson_figures.Style()
controls = presenter.controls_shown()

table, store = widgets.open_store()
roles = scenes.runs_by_role(table)

wanted = st.query_params.get("scene")
index = scenes.SCENE_KEYS.index(wanted) if wanted in scenes.SCENE_KEYS else 0
index = presenter.scene_navigation(index, len(scenes.SCENES), [s.title for s in scenes.SCENES], controls)
current = scenes.SCENES[index]
st.query_params["scene"] = current.key

missing = [r for r in current.tags if r not in roles]
if missing:
    st.subheader(current.title)
    st.info(f"This scene needs the demo's teaching runs (tagged {', '.join(f'`{m}`' for m in missing)} in run.json), "
            "which this store does not have. Run `proxylab demo` to train them (about 20 s), or point the "
            "dashboard at a store that has them.")
    st.stop()
runs = [roles[r] for r in current.tags]


def meta_of(run: str) -> dict:
    return data.meta(store, run, data.run_stamp(widgets.store(), run))["meta"]


def final_snapshot(run: str):
    return data.snapshot(store, run, data.snapshot_steps(store, run)[-1])


def claim(number: str) -> None:
    """The scene's claim (filled from its runs' configs) in large type and, beside it, the measured number and the
    runs it was measured on."""
    takeaway = current.takeaway({tag: meta_of(run)["config"] for tag, run in zip(current.tags, runs)})
    unnamed = [r for r in runs if f"<code>{r}</code>" not in number]
    if unnamed:
        number += "<br><small>measured on " + ", ".join(f"<code>{r}</code>" for r in unnamed) + "</small>"
    left, right = st.columns([3, 2])
    left.markdown(f"<div class='lesson-takeaway'>{takeaway}</div>", unsafe_allow_html=True)
    right.markdown(f"<div class='lesson-number'>{number}</div>", unsafe_allow_html=True)


def player_scene(runs_shown: list[str], titles: list[str], show_proxies: bool = True, colour: str = "label",
                 mode_links: bool = False) -> None:
    """The runs in linked player panes in their own space (d = 2 or 3, no projection): one step control, ▶ plays
    training in the browser; `mode_links` joins each mode to its assigned sub-proxy, marked ✓ (covered) or ✗."""
    blobs = []
    for run, title in zip(runs_shown, titles):
        steps = tuple(data.snapshot_steps(store, run))
        snap = data.snapshot(store, run, steps[-1])
        proxy_shape = None if snap.proxies is None else tuple(snap.proxies.shape[:2])
        names = data.class_names(meta_of(run))
        blobs.append(player.run_payload(store, run, steps, "native", proxy_shape, tuple(names) if names else None,
                                        snap.dim, mode_links=mode_links, title=f"{title} · {run}"))
    player.player(blobs, key=f"lesson_{current.key}", colour=colour, show_proxies=show_proxies,
                  height=style.player_height, controls="all" if controls and not present else "play",
                  font_px=style.font if present else None, point_px=style.sample if present else None,
                  proxy_px=style.proxy if present else None)


with widgets.run_errors():
    if not (present and controls):  # presenting with controls: the scene picker already shows the title
        st.subheader(current.title)
    if current.key == "data":
        (run,) = runs
        snap = final_snapshot(run)
        cosines = scenes.mode_centre_cosines(snap.embeddings, snap.labels, snap.modes)
        angle = np.degrees(np.arccos(np.clip(np.median(cosines), -1, 1)))
        claim(f"angle between the two mode centres of a class: <b>{angle:.0f}°</b> (cosine {np.median(cosines):z.2f}, "
              f"median over classes) in <code>{run}</code>, d = {snap.dim}, no projection.")
        player_scene([run], ["samples by class; each mode a shade of its class colour"], show_proxies=False,
                     colour="mode")

    elif current.key == "coverage":
        single, multi = runs
        best, lost = {}, {}  # per mode: best own-proxy cosine; share of samples nearer another class's proxy
        for r in runs:
            snap = final_snapshot(r)
            coverage = geometry.mode_coverage(snap.embeddings, snap.labels, snap.modes, snap.proxies)
            best[r] = coverage["per_mode_best_cos"]
            lost[r] = pd.Series(geometry.wrong_proxy_share_by_mode(snap.embeddings, snap.labels, snap.modes,
                                                                     snap.proxies))
        k = [int(meta_of(r)["config"]["proxies_per_class"]) for r in runs]
        claim(f"samples nearer another class's proxy: <b>{lost[single].mean():.0%}</b> with one proxy "
              f"(every mode loses {lost[single].min():.0%}–{lost[single].max():.0%}) vs "
              f"<b>{lost[multi].mean():.0%}</b> with {k[1]}; best own-proxy cosine of a mode (median): "
              f"<b>{np.median(best[single]):z.2f}</b> vs <b>{np.median(best[multi]):z.2f}</b> "
              f"(<code>{single}</code> vs <code>{multi}</code>, final step).")
        player_scene(runs, [f"K = {k[0]} proxy per class", f"K = {k[1]} sub-proxies per class"],
                     colour="proxy_outcome")

    elif current.key == "usage":
        (run,) = runs
        snap = final_snapshot(run)
        share = geometry.sub_proxy_share(snap.embeddings, snap.labels, snap.proxies)
        dead = geometry.dead_sub_proxies(share)
        live = (~dead).sum(axis=1)
        modes = [len(np.unique(snap.modes[(snap.labels == c) & (snap.modes >= 0)])) for c in range(len(share))]
        names = data.class_names(meta_of(run)) or [f"class {i}" for i in range(len(share))]
        claim(f"<b>{int(dead.sum())} of {dead.size}</b> sub-proxies are dead (used by under "
              f"{geometry.DEAD_SHARE:.0%} of their class's samples); live sub-proxies per class: "
              f"<b>{', '.join(map(str, live))}</b>, for {', '.join(map(str, modes))} modes "
              f"(<code>{run}</code>, final step).")
        fig = figures.usage_figure(share, names, dead)
        fig.update_layout(height=style.height)
        lesson_figures.sized(fig, style)
        widgets.chart(fig, key="lesson_usage")

    elif current.key == "margin":
        best, margins, medians = {}, {}, {}
        for run in runs:
            snap = final_snapshot(run)
            cov = analysis.mode_coverage(snap.embeddings, snap.labels, snap.modes, snap.proxies)
            best[run] = cov["best_cos_own"].to_numpy()
            margins[run] = float((meta_of(run)["config"].get("loss_params") or {}).get("margin", 0.1))
            medians[run] = float(np.median(best[run]))
        small, large = runs
        claim(f"median best own-proxy cosine of a mode: <b>{medians[small]:z.2f}</b> at δ = {margins[small]:g} vs "
              f"<b>{medians[large]:z.2f}</b> at δ = {margins[large]:g} (same data, loss, K and steps).")
        widgets.chart(lesson_figures.margin_figure(best, margins, style=style), key="lesson_margin")

    elif current.key == "orthogonality":
        off, on = runs
        grams, mean_sq = {}, {}
        for run in runs:
            snap = final_snapshot(run)
            weight = meta_of(run)["config"].get("so_weight") or 0
            label = f"SO {'weight ' + format(weight, 'g') if weight else 'off'}"  # the claim names the runs
            grams[label] = analysis.proxy_gram(snap.proxies)
            mean_sq[run] = analysis.mean_sq_off_diagonal_cos(snap.proxies)
        c, k, d = final_snapshot(on).proxies.shape
        floor = analysis.welch_floor(c * k, d)
        claim(f"mean squared cosine between proxies: <b>{mean_sq[off]:.3f}</b> without SO → "
              f"<b>{mean_sq[on]:.3f}</b> with SO; Welch floor for n = {c * k} proxies in d = {d}: "
              f"<b>{floor:.3f}</b>.")
        gram_column, welch_column = st.columns([3, 2])  # side by side: both pieces of evidence above the fold
        widgets.chart(lesson_figures.gram_pair_figure(grams, style=style), gram_column, key="lesson_gram")
        frames = {r: data.scalars(store, r, data.run_stamp(widgets.store(), r), ("proxy/mean_sq_cos",)) for r in runs}
        long = data.long_scalars(frames, ["proxy/mean_sq_cos"])
        fig = figures.welch_figure(long, floor, title="Mean cos² and the Welch floor")  # n, d: in the claim
        fig.update_layout(height=style.height * 0.8, legend=dict(orientation="h", y=-0.45, x=0),
                          yaxis_title="mean cos²", margin=dict(b=130))
        widgets.chart(lesson_figures.sized(fig, style), welch_column, key="lesson_welch")

    elif current.key == "gradients":
        keys = ["sample_grad/top10_share", "sample_grad/gini"]
        frames = {r: data.scalars(store, r, data.run_stamp(widgets.store(), r), tuple(keys)) for r in runs}
        share = {r: scenes.tail_mean(frames[r], keys[0], last=50) for r in runs}
        cw, dw = runs
        claim(f"share of the batch's gradient in its top 10% samples (last 50 steps): <b>{share[cw]:.2f}</b> "
              f"class-wise (<code>{cw}</code>) vs <b>{share[dw]:.2f}</b> data-wise (<code>{dw}</code>); "
              "the two runs differ only in the loss.")
        fig = figures.concentration_figure(data.long_scalars(frames, keys))
        fig.update_layout(height=style.height * 0.8)
        lesson_figures.sized(fig, style)
        widgets.chart(fig, key="lesson_concentration")

    elif current.key == "convergence":
        proxy, triplet = runs

        def seed_evals(role) -> list[pd.DataFrame]:  # the role's runs at every seed the store has
            return [data.evals(store, roles[tag], data.run_stamp(widgets.store(), roles[tag]))
                    for _, tag, _ in role.seed_runs() if tag in roles]

        (p_hits, p_final), (t_hits, t_final) = (
            zip(*(scenes.steps_to_own_final(ev, "R@1", 0.9) for ev in seed_evals(role))) for role in current.roles)
        seeds = [seed for _, tag, seed in current.roles[0].seed_runs() if tag in roles]
        evals = {r: data.evals(store, r, data.run_stamp(widgets.store(), r)) for r in runs}
        (first_step, p_early), (_, t_early) = (scenes.first_evaluation(evals[r], "R@1") for r in runs)
        setting = {r: scenes.loss_setting(meta_of(r)["config"]) for r in runs}
        steps = lambda hits: ", ".join(f"{h:.0f}" for h in hits)  # noqa: E731
        span = lambda values: f"{min(values):.3f}–{max(values):.3f}"  # noqa: E731
        claim(f"steps to 90 % of its own final R@1, seed{'s' if len(seeds) > 1 else ''} "
              f"{', '.join(map(str, seeds))}: <b>{steps(p_hits)}</b> for {setting[proxy]} (<code>{proxy}</code>) vs "
              f"<b>{steps(t_hits)}</b> for {setting[triplet]} (<code>{triplet}</code>); final R@1 "
              f"<b>{span(p_final)}</b> vs <b>{span(t_final)}</b>; at step {first_step:.0f} "
              f"(seed {seeds[0]}): {p_early:.2f} vs {t_early:.2f}.")
        rows = [ev[(ev["split"] == "test") & (ev["metric"] == "R@1")].assign(run=r) for r, ev in evals.items()]
        frame = pd.concat(rows, ignore_index=True)
        fig = figures.lines_figure(frame, colour_by="run", title="Held-out Recall@1 during training", y_title="R@1",
                                   unit_range=True)
        fig.update_layout(height=style.height * 0.8)
        lesson_figures.sized(fig, style)
        widgets.chart(fig, key="lesson_convergence")

    if not present:
        st.caption("Runs: " + ", ".join(f"`{r}`" for r in runs) + " (the demo's teaching runs, chosen by their "
                   "tags in run.json). The MPA family and the exact soft-orthogonality form are proxylab's "
                   "reconstructions; the same claims over several seeds are in the Reproduce page "
                   f"(`{scenes.REPORT}`). Presenter mode: add `?present=1` to the URL (`&controls=0` hides the "
                   "scene controls).")
