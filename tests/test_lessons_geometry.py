"""A picture is a claim: the demo's teaching runs must show, in numbers, what the Lessons page says they show.

Computed here from the snapshots with plain numpy (independently of dashboard.scenes, which the page uses), at the
final snapshot of the runs `proxylab demo` trains.
"""
from __future__ import annotations

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


@pytest.mark.parametrize("single, multi", [("demo-single-proxy", "demo-multi-proxy"),
                                           ("demo-sphere-single", "demo-sphere-multi")])
def test_multi_proxies_sit_one_per_mode_and_a_single_proxy_between_them(demo_store, single, multi):
    for cls, (centres, proxies) in mode_geometry(final_snapshot(demo_store, multi)).items():
        cos = centres @ proxies.T  # (M, K)
        assert cos.max(axis=1).min() >= 0.7, (multi, cls, cos.max(axis=1))  # every mode has a sub-proxy on it
        assert len(set(cos.argmax(axis=1))) == len(centres), (multi, cls)  # ... a different one per mode
    gaps, best = [], []
    for cls, (centres, proxies) in mode_geometry(final_snapshot(demo_store, single)).items():
        cos = (centres @ proxies.T)[:, 0]  # (M,) cosine of the class's one proxy to each of its modes
        assert cos.max() < 0.3, (single, cls, cos)  # near none of its modes ...
        gaps.append(cos.max() - cos.min())
        best.append(cos.max())
    assert np.median(gaps) < 0.05, gaps  # ... and about equally far from each: between them


def _final(store, name, metric, split="test"):
    ev = open_run(store, name).evals()
    rows = ev[(ev["split"] == split) & (ev["metric"] == metric)].sort_values("step")
    return float(rows["value"].iloc[-1])


def test_the_multi_proxy_gap_is_as_large_as_before_the_lessons(demo_store):
    # before: R@1 0.878 vs 0.994 (gap 0.116); mode coverage 0.22 vs 1.00 (gap 0.78)
    r1_gap = _final(demo_store, "demo-multi-proxy", "R@1") - _final(demo_store, "demo-single-proxy", "R@1")
    cov_gap = (_final(demo_store, "demo-multi-proxy", "mode_coverage", "train")
               - _final(demo_store, "demo-single-proxy", "mode_coverage", "train"))
    assert r1_gap >= 0.116, r1_gap
    assert cov_gap >= 0.7, cov_gap


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


def test_proxy_nca_reaches_a_good_r_at_1_sooner_than_triplet(demo_store):
    def first_step(name, target=0.9):
        ev = open_run(demo_store, name).evals()
        rows = ev[(ev["split"] == "test") & (ev["metric"] == "R@1")].sort_values("step")
        hit = rows[rows["value"] >= target]
        return float(hit["step"].iloc[0]) if len(hit) else np.inf

    assert first_step("demo-proxy-nca") * 2 <= first_step("demo-triplet")


def test_the_mode_coverage_gap_holds_over_seeds(tmp_path):
    """The coverage gap, averaged over seeds 0-2 (stated before measuring, not picked after), is at least the 0.78
    measured before the lessons. One seed can miss it: a single proxy sits at cosine ~0 to both of its modes, so
    whether it is also the nearest proxy of some mode is decided by other classes' proxies at cosine ~0 too."""
    from proxylab.train import TrainConfig, Trainer, preset

    def coverage(name, seed):
        config = TrainConfig.from_dict({**preset(name), "seed": seed})
        Trainer(config, tmp_path, f"{name}-{seed}", progress=False).run()
        return _final(tmp_path, f"{name}-{seed}", "mode_coverage", "train")

    gaps = [coverage("multi-proxy", seed) - coverage("single-proxy", seed) for seed in (0, 1, 2)]
    assert np.mean(gaps) >= 0.78, gaps
