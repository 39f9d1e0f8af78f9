"""A picture is a claim: the demo's teaching runs must show, in numbers, what the Lessons page says they show.

Computed here from the snapshots with plain numpy (independently of dashboard.scenes, which the page uses), at the
final snapshot of the runs `proxylab demo` trains.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from proxylab.store import open_run


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def final_snapshot(store, name):
    run = open_run(store, name)
    return run.snapshot(run.snapshot_steps()[-1])


def mode_geometry(snap):
    """Per class: its modes' unit centres (M, d) and the class's unit proxies (K, d)."""
    x, p = unit(snap.embeddings), unit(snap.proxies)
    out = {}
    for cls in range(p.shape[0]):
        modes = np.unique(snap.modes[snap.labels == cls])
        out[cls] = (unit(np.stack([x[snap.modes == m].mean(axis=0) for m in modes])), p[cls])
    return out


def lost_by_mode(snap):
    """Per mode: the share of its samples whose most similar proxy (of all C·K) is another class's."""
    x, p = unit(snap.embeddings), unit(snap.proxies)
    k = p.shape[1]
    nearest = (x @ p.reshape(-1, p.shape[-1]).T).argmax(axis=1) // k
    return np.array([(nearest[snap.modes == m] != snap.labels[snap.modes == m]).mean() for m in np.unique(snap.modes)])


def check_coverage_pair(store, single, multi):
    """Scene 2's claim, both sides, at each of the last three snapshots (so the picture does not flicker):
    one proxy per class distinct from the others and between its modes, every mode losing >= 10 % of its samples to
    another class's proxy; two sub-proxies one on each mode (cosine >= 0.8), no mode losing more than 10 %."""
    for name, k in ((single, 1), (multi, 2)):
        run = open_run(store, name)
        assert run.meta["config"]["proxies_per_class"] == k and run.meta["config"]["model"] == "identity"
        for step in run.snapshot_steps()[-3:]:
            snap = run.snapshot(step)
            lost = lost_by_mode(snap)
            geometry = mode_geometry(snap)
            if k == 1:
                proxies = unit(snap.proxies[:, 0])
                gram = proxies @ proxies.T
                assert (gram - 2 * np.eye(len(gram))).max() < 0.5, (name, step, gram)  # distinct classes
                for cls, (centres, own) in geometry.items():
                    assert (centres @ own[0]).min() >= 0.3, (name, step, cls, centres @ own[0])  # between its modes
                assert lost.min() >= 0.1, (name, step, lost)  # ... and every mode loses samples to a wrong proxy
            else:
                for cls, (centres, own) in geometry.items():
                    cos = centres @ own.T  # (M, K)
                    assert cos.max(axis=1).min() >= 0.8, (name, step, cls, cos)  # a sub-proxy on every mode
                    assert len(set(cos.argmax(axis=1))) == len(centres), (name, step, cls)  # ... one per mode
                assert lost.max() <= 0.1, (name, step, lost)


def test_one_proxy_sits_between_its_modes_and_loses_samples_two_sit_on_them(demo_store):
    check_coverage_pair(demo_store, "demo-single-proxy", "demo-two-proxies")


def test_the_coverage_pair_holds_over_seeds(tmp_path):
    """The same claims at seeds 0-2 (chosen before measuring): the data's noise, the proxies' start and the batches
    all change; the runs take about a second each (the identity model has nothing to train but the proxies)."""
    from proxylab.train import TrainConfig, Trainer, preset

    for seed in (0, 1, 2):
        for name in ("single-proxy", "two-proxies"):
            Trainer(TrainConfig.from_dict({**preset(name), "seed": seed}), tmp_path, f"{name}-{seed}",
                    progress=False).run()
        check_coverage_pair(tmp_path, f"single-proxy-{seed}", f"two-proxies-{seed}")


def test_the_margin_sets_how_close_proxies_sit(demo_store):
    def median_best(name):
        return np.median([(c @ p.T).max(axis=1) for c, p in mode_geometry(final_snapshot(demo_store, name)).values()])

    small, large = median_best("demo-small-margin"), median_best("demo-multi-proxy")
    assert small < 0.4 < 0.7 < large, (small, large)


def test_soft_orthogonality_reaches_the_welch_floor_where_n_exceeds_d(demo_store):
    so, off = final_snapshot(demo_store, "demo-multi-proxy-so"), final_snapshot(demo_store, "demo-multi-proxy")
    c, k, d = so.proxies.shape
    n = c * k
    assert n > d
    welch = (n / d - 1) / (n - 1)

    def mean_sq_cos(snap):
        p = unit(snap.proxies.reshape(n, d))
        g = p @ p.T
        return ((g ** 2).sum() - n) / (n * (n - 1))

    assert mean_sq_cos(so) >= welch - 1e-9  # a hard bound
    assert mean_sq_cos(so) < welch + 0.01 < mean_sq_cos(off), (mean_sq_cos(so), welch, mean_sq_cos(off))


def test_class_wise_and_data_wise_runs_differ_only_in_the_loss_and_in_concentration(demo_store):
    cw, dw = open_run(demo_store, "demo-multi-proxy"), open_run(demo_store, "demo-data-wise")
    a, b = dict(cw.meta["config"]), dict(dw.meta["config"])
    assert (a.pop("loss"), b.pop("loss")) == ("mpa", "mpa_dw") and a == b
    share = lambda run: float(run.scalars(["sample_grad/top10_share"]).tail(50).mean().iloc[0])
    assert share(cw) > share(dw) + 0.3, (share(cw), share(dw))


def race(store, name):
    """A run's held-out R@1 curve: (steps, values)."""
    ev = open_run(store, name).evals()
    rows = ev[(ev["split"] == "test") & (ev["metric"] == "R@1")].sort_values("step")
    return rows["step"].to_numpy(), rows["value"].to_numpy()


def check_fair_race(store, proxy, triplet):
    """Scene 7's claim: both converge (the triplet to >= 0.9x the proxy run's final R@1), neither collapses after its
    first evaluation (never 0.05 below it), and the proxies start faster: they reach 90 % of their own final R@1 no
    later than the triplets do. Returns the steps to 90 % of each run's own final."""
    (steps, p), (_, t) = race(store, proxy), race(store, triplet)
    assert t[-1] >= 0.9 * p[-1], (p[-1], t[-1])
    for curve in (p, t):
        assert curve.min() >= curve[0] - 0.05, curve  # no collapse after the start
    to90 = [int(steps[np.argmax(c >= 0.9 * c[-1])]) for c in (p, t)]
    assert to90[0] <= to90[1], to90
    return to90


def test_the_convergence_race_is_fair_on_the_demo_s_runs(demo_store):
    """On the demo's own race at seeds 0-2 (the settings were tuned on seed 100)."""
    for seed in ("", "-s1", "-s2"):
        check_fair_race(demo_store, f"demo-proxy-nca{seed}", f"demo-triplet{seed}")


def test_scene_3_a_class_uses_as_many_sub_proxies_as_it_has_modes(demo_store, monkeypatch):
    """The usage scene's sentence, number and heat map agree, recomputed here: a sub-proxy is dead when it is the most
    similar own-class sub-proxy of under 5 % of its class's samples; every class keeps one live sub-proxy per mode."""
    from test_dashboard_apptest import open_app

    snap = final_snapshot(demo_store, "demo-multi-proxy")
    x, p = unit(snap.embeddings), unit(snap.proxies)
    c, k, _ = p.shape
    live = []
    for cls in range(c):
        used = np.einsum("nd,kd->nk", x[snap.labels == cls], p[cls]).argmax(axis=1)
        share = np.bincount(used, minlength=k) / len(used)
        live.append(int((share >= 0.05).sum()))
        assert live[-1] == len(np.unique(snap.modes[snap.labels == cls])), (cls, share)
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "usage"})
    text = "\n".join(m.value for m in at.markdown)
    assert f"<b>{c * k - sum(live)} of {c * k}</b> sub-proxies are dead" in text
    assert f"<b>{', '.join(map(str, live))}</b>" in text
    (heatmap,) = [json.loads(ch.proto.spec) for ch in at.get("plotly_chart")]
    assert heatmap["layout"]["title"]["text"] == "Share of each class's samples using each sub-proxy"
    assert sum(t.count("dead") for row in heatmap["data"][0]["text"] for t in row) == c * k - sum(live)


def test_scene_1_each_class_has_two_modes_far_apart_its_second_next_to_another_class_s_first(demo_store):
    """The data scene's claim on its run: a class's two mode centres more than 90 degrees apart, and its second mode
    nearer some other class's first mode than its own first mode."""
    snap = final_snapshot(demo_store, "demo-two-proxies")
    x = unit(snap.embeddings)
    centre = {int(m): unit(x[snap.modes == m].mean(axis=0)) for m in np.unique(snap.modes)}
    cls = {m: int(snap.labels[snap.modes == m][0]) for m in centre}
    first = {c: min(m for m in centre if cls[m] == c) for c in set(cls.values())}  # a class's first mode
    for c in first:
        second = max(m for m in centre if cls[m] == c)
        own = centre[first[c]] @ centre[second]
        assert own < 0, (c, own)  # more than 90 degrees apart
        nearest_other = max(centre[first[o]] @ centre[second] for o in first if o != c)
        assert nearest_other > own + 0.5, (c, own, nearest_other)


#: each scene's measurement test (tests/test_lessons_registry.py fails a registered scene missing here)
MEASURES = {
    "data": test_scene_1_each_class_has_two_modes_far_apart_its_second_next_to_another_class_s_first,
    "coverage": test_one_proxy_sits_between_its_modes_and_loses_samples_two_sit_on_them,
    "usage": test_scene_3_a_class_uses_as_many_sub_proxies_as_it_has_modes,
    "margin": test_the_margin_sets_how_close_proxies_sit,
    "orthogonality": test_soft_orthogonality_reaches_the_welch_floor_where_n_exceeds_d,
    "gradients": test_class_wise_and_data_wise_runs_differ_only_in_the_loss_and_in_concentration,
    "convergence": test_the_convergence_race_is_fair_on_the_demo_s_runs,
}
