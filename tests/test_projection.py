"""Projections of run snapshots: PCA alignment, native, cache behaviour, UMAP on small data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from proxylab.projection import (
    Projection, _extend_layout, cache_key, cache_path, cached_projection, exact_knn, knn_preservation,
    layout_motion, project_run,
)
from proxylab.store import RunWriter, open_run, write_fake_run

REPO = Path(__file__).resolve().parents[1]


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    write_fake_run(store, "p", steps=60, snapshot_every=20, n=240, classes=4, modes_per_class=2, k=2, d=12)
    return open_run(store, "p")


def _clear_cache(run):
    for p in (run.path / "projections").glob("*"):
        p.unlink()


def test_import_projection_is_lazy():
    code = ("import sys, proxylab.projection; "
            "print(','.join(m for m in ('torch', 'umap', 'sklearn', 'streamlit', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_pca_uses_one_basis_for_every_step(run):
    steps = run.snapshot_steps()
    proj = project_run(run, steps, "pca", use_cache=False)
    assert list(proj) == steps == [0, 20, 40, 60]
    xs, ys = [], []
    for s in steps:
        snap = run.snapshot(s)
        p = proj[s]
        assert isinstance(p, Projection) and p.step == s and p.dims == 2
        assert p.points.shape == (240, 2) and p.proxies.shape == (8, 2) and p.points.dtype == np.float32
        xs += [_unit(snap.embeddings), _unit(snap.proxies.reshape(-1, 12))]
        ys += [p.points, p.proxies]
    # One affine map sends the normalised embeddings AND proxies of every step to their coordinates.
    x = np.hstack([np.concatenate(xs), np.ones((sum(len(a) for a in xs), 1))])
    y = np.concatenate(ys).astype(np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert np.abs(x @ coef - y).max() < 1e-4
    # ... and it is the PCA of the stacked normalised data (checked against sklearn, up to sign).
    from sklearn.decomposition import PCA

    ref = PCA(2).fit(np.concatenate(xs))
    w = coef[:-1].T  # (2, d)
    for axis in range(2):
        assert abs(abs(w[axis] @ ref.components_[axis]) - 1) < 1e-4
    assert np.isclose(np.var(y, axis=0)[0] * len(y), ref.explained_variance_[0] * (len(y) - 1), rtol=1e-4)


def test_pca_fit_on_last_and_3d(run):
    steps = run.snapshot_steps()
    proj = project_run(run, steps, "pca", n_components=3, params={"fit_on": "last"}, use_cache=False)
    last = np.concatenate([proj[60].points, proj[60].proxies]).astype(np.float64)
    snap = run.snapshot(60)
    x = np.concatenate([_unit(snap.embeddings), _unit(snap.proxies.reshape(-1, 12))])
    from sklearn.decomposition import PCA

    ref = PCA(3).fit(x)
    np.testing.assert_allclose(np.sort(last.var(axis=0) * len(x) / (len(x) - 1))[::-1],
                               ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(last.mean(axis=0), 0, atol=1e-5)
    assert proj[0].points.shape == (240, 3)


def test_native_needs_small_dim(tmp_path, run):
    write_fake_run(tmp_path, "d3", steps=10, snapshot_every=5, n=30, classes=3, modes_per_class=1, k=1, d=3)
    r3 = open_run(tmp_path, "d3")
    proj = project_run(r3, [5, 10], "native", use_cache=False)
    snap = r3.snapshot(10)
    np.testing.assert_allclose(proj[10].points, _unit(snap.embeddings), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(proj[10].proxies, axis=1), 1, atol=1e-6)
    with pytest.raises(ValueError, match="native.*d=12"):
        project_run(run, [0], "native", use_cache=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=[0], method="tsne"), "method must be one of"),
    (dict(steps=[0], method="pca", params={"nope": 1}), "unknown key 'nope'"),
    (dict(steps=[0], method="pca", params={"fit_on": "first"}), r"params\['fit_on'\]"),
    (dict(steps=[0], method="umap", params={"n_neighbors": 1}), "n_neighbors"),
    (dict(steps=[0], method="pca", n_components=4), "n_components must be 2 or 3"),
    (dict(steps=[], method="pca"), "at least one"),
    (dict(steps=[0, 7], method="pca"), r"no snapshot at step\(s\) \[7\]"),
])
def test_bad_requests(run, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        project_run(run, **kwargs)
    assert "\n" not in str(info.value)


def test_cache_hit_miss_and_keys(run):
    _clear_cache(run)
    steps = [0, 20, 60]
    assert cached_projection(run, steps, "pca") is None
    calls = []
    first = project_run(run, steps, "pca", progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(0 <= f <= 1 for f in fractions)
    assert all(isinstance(m, str) and m for _, m in calls)
    path = cache_path(run, cache_key(run, steps, "pca"))
    assert path.exists()
    t0 = time.perf_counter()
    hit = cached_projection(run, steps, "pca")
    hit_s = time.perf_counter() - t0
    print(f"cache hit: {hit_s * 1e3:.1f} ms")
    assert hit_s < 0.5
    assert list(hit) == steps
    for s in steps:
        np.testing.assert_array_equal(hit[s].points, first[s].points)
        np.testing.assert_array_equal(hit[s].proxies, first[s].proxies)
    progress_on_hit = []
    project_run(run, steps, "pca", progress=lambda f, m: progress_on_hit.append(m))
    assert progress_on_hit == ["loaded from cache"]
    keys = {
        cache_key(run, steps, "pca"),
        cache_key(run, [0, 20], "pca"),
        cache_key(run, steps, "pca", 3),
        cache_key(run, steps, "pca", params={"fit_on": "last"}),
        cache_key(run, steps, "pca", params={"seed": 1}),
        cache_key(run, steps, "umap"),
        cache_key(run, steps, "umap", params={"n_neighbors": 5}),
    }
    assert len(keys) == 7
    # Explicit defaults are the same request as no params.
    assert cache_key(run, steps, "pca", params={"fit_on": "all"}) == cache_key(run, steps, "pca")
    assert cache_key(run, [60, 0, 20, 20], "pca") == cache_key(run, steps, "pca")
    assert cached_projection(run, steps, "pca", 3) is None


def test_rewritten_snapshot_changes_the_key(tmp_path):
    write_fake_run(tmp_path, "rw", steps=20, snapshot_every=10, n=50, classes=3, modes_per_class=1, k=1, d=4)
    r = open_run(tmp_path, "rw")
    before = cache_key(r, [10], "pca")
    project_run(r, [10], "pca")
    time.sleep(0.01)
    with RunWriter.open_existing(tmp_path, "rw") as w:
        w.write_snapshot(10, embeddings=np.eye(4)[np.arange(50) % 4], labels=np.arange(50) % 3)
    assert cache_key(r, [10], "pca") != before and cached_projection(r, [10], "pca") is None


@pytest.mark.parametrize("garbage", [b"", b"not a zip at all", "truncate"])
def test_corrupt_cache_is_recomputed(run, garbage):
    _clear_cache(run)
    good = project_run(run, [20, 40], "pca")
    path = cache_path(run, cache_key(run, [20, 40], "pca"))
    path.write_bytes(path.read_bytes()[:200] if garbage == "truncate" else garbage)
    assert cached_projection(run, [20, 40], "pca") is None
    again = project_run(run, [20, 40], "pca")
    np.testing.assert_allclose(again[40].points, good[40].points)
    assert cached_projection(run, [20, 40], "pca") is not None  # the bad file was replaced


def test_cache_with_wrong_content_is_ignored(run):
    _clear_cache(run)
    project_run(run, [20, 40], "pca")
    path = cache_path(run, cache_key(run, [20, 40], "pca"))
    np.savez(path, steps=np.array([20, 40]), points_20=np.ones((3, 2), np.float32),
             proxies_20=np.ones((1, 3), np.float32), points_40=np.ones((3, 2), np.float32),
             proxies_40=np.ones((1, 2), np.float32))
    assert cached_projection(run, [20, 40], "pca") is None


def test_extend_layout_and_measures():
    rng = np.random.default_rng(0)
    x = _unit(rng.normal(size=(300, 6)))
    fit_idx = np.arange(0, 300, 3)
    coords = rng.normal(size=(100, 2))
    full = _extend_layout(np.concatenate([x, x[fit_idx[:5]]]), fit_idx, coords)
    np.testing.assert_array_equal(full[fit_idx], coords)
    # A duplicate of a fitted row lands (almost) on it: its own twin dominates the weighted mean.
    assert np.linalg.norm(full[300:] - coords[:5], axis=1).max() < 0.05 * coords.std()
    # Every other row lands inside the fitted layout's bounding box (a weighted mean of fitted rows).
    assert (full.min(0) >= coords.min(0) - 1e-9).all() and (full.max(0) <= coords.max(0) + 1e-9).all()
    a = {0: Projection(0, np.array([[0, 0], [2, 0]], np.float32), np.zeros((0, 2), np.float32)),
         1: Projection(1, np.array([[0, 1], [2, 1]], np.float32), np.zeros((0, 2), np.float32))}
    assert layout_motion(a) == pytest.approx(1.0)  # moved by 1, RMS radius 1
    assert knn_preservation(x, x[:, :2] * 0 + x[:, :2], k=5) <= 1.0
    assert knn_preservation(x, x, k=5) == pytest.approx(1.0)


def test_pca_subsamples_large_fits(run):
    proj = project_run(run, [0, 60], "pca", params={"max_fit_points": 100}, use_cache=False)
    full = project_run(run, [0, 60], "pca", use_cache=False)
    # A 100-point subsample still finds (nearly) the same dominant plane.
    a, b = proj[60].points.astype(np.float64), full[60].points.astype(np.float64)
    coef, *_ = np.linalg.lstsq(np.hstack([a, np.ones((len(a), 1))]), b, rcond=None)
    resid = np.linalg.norm(np.hstack([a, np.ones((len(a), 1))]) @ coef - b) / np.linalg.norm(b - b.mean(0))
    assert resid < 0.5


def _check_umap(run, alignment):
    steps = [20, 40, 60]
    proj = project_run(run, steps, "umap", params={"alignment": alignment, "n_epochs": 100})
    assert list(proj) == steps
    for s in steps:
        assert proj[s].points.shape == (240, 2) and proj[s].proxies.shape == (8, 2)
        assert np.isfinite(proj[s].points).all() and np.isfinite(proj[s].proxies).all()
    # Classes separate in the converged layout: a point's 2-D nearest neighbour shares its class.
    snap = run.snapshot(60)
    pts = proj[60].points.astype(np.float64)
    d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert (snap.labels[d2.argmin(1)] == snap.labels).mean() > 0.9
    assert cached_projection(run, steps, "umap", params={"alignment": alignment, "n_epochs": 100}) is not None


def test_umap_small_data(run):
    """The default UMAP ('joint') on 240 points x 3 steps (umap's first compile is ~15-30 s)."""
    _check_umap(run, "joint")


@pytest.mark.slow
def test_umap_init_small_data(run):
    _check_umap(run, "init")


@pytest.mark.slow
def test_umap_aligned_small_data(run):
    proj = project_run(run, [20, 40, 60], "umap_aligned", params={"n_epochs": 50}, use_cache=False)
    assert all(proj[s].points.shape == (240, 2) and np.isfinite(proj[s].points).all() for s in proj)


def test_exact_knn_is_the_brute_force_neighbours_in_any_block_size():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    x = _unit(rng.normal(size=(700, 16))).astype(np.float32)
    x[100] = x[7]  # an exact duplicate: each of the two still lists itself first
    reference_d, reference_i = NearestNeighbors(n_neighbors=16, algorithm="brute").fit(x).kneighbors(x)
    # rows whose 16 nearest distances are all apart (no tie inside the 15, none at the boundary to the 16th)
    unambiguous = np.diff(reference_d, axis=1).min(axis=1) > 1e-6
    reference_d, reference_i = reference_d[:, :15], reference_i[:, :15]
    for block in (1, 1_000, 10**9):  # one distance per block, a few rows per block, everything at once
        indices, distances = exact_knn(x, 15, max_block_elements=block)
        assert indices.shape == distances.shape == (700, 15) and indices.dtype == np.int32
        assert (indices[:, 0] == np.arange(700)).all() and (distances[:, 0] == 0).all()
        assert indices[7, 1] == 100 and indices[100, 1] == 7 and distances[7, 1] == 0
        np.testing.assert_allclose(distances, reference_d, atol=1e-6)
        assert (indices[unambiguous] == reference_i[unambiguous]).all() and unambiguous.mean() > 0.9
    assert (exact_knn(x[:5], 5)[0][:, 0] == np.arange(5)).all()  # k = n
    with pytest.raises(ValueError, match="k must be in"):
        exact_knn(x[:5], 6)


def test_a_joint_umap_past_4096_rows_takes_exact_neighbours_not_pynndescent(tmp_path, monkeypatch):
    """pynndescent's search is compiled in every new process (numba cannot cache it); proxylab hands umap-learn
    exact neighbours instead, so a fit of 4,500 stacked rows must never reach umap's own neighbour search."""
    from proxylab.projection import import_umap

    def no_search(*args, **kwargs):
        raise AssertionError("umap-learn searched for neighbours itself (pynndescent)")

    monkeypatch.setattr(import_umap().umap_, "nearest_neighbors", no_search)
    write_fake_run(tmp_path, "wide", steps=60, snapshot_every=20, n=1500, classes=4, modes_per_class=2, k=2, d=12)
    big = open_run(tmp_path, "wide")
    proj = project_run(big, [20, 40, 60], "umap", params={"n_epochs": 30}, use_cache=False)  # 3 x 1,500 rows
    snap = big.snapshot(60)
    pts = proj[60].points.astype(np.float64)
    assert pts.shape == (1500, 2) and np.isfinite(pts).all()
    d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert (snap.labels[d2.argmin(1)] == snap.labels).mean() > 0.9  # the layout keeps the classes together


def test_umap_is_imported_with_numba_caching_on():
    from numba.core.dispatcher import Dispatcher

    from proxylab.projection import import_umap

    umap = import_umap()
    for module in (umap.layouts, umap.umap_):  # the layout optimisers and the fuzzy graph: the first fit's compile
        jitted = [f for f in vars(module).values() if isinstance(f, Dispatcher)]
        assert jitted and all(type(f._cache).__name__ != "NullCache" for f in jitted), module.__name__


_SECOND_PROCESS = """
import json, sys, warnings
import numpy as np
from numba.core.dispatcher import Dispatcher
from proxylab.projection import import_umap
umap = import_umap()
# not those compiled at import (an explicit signature): they were compiled before the cache was turned on
lazy = [f for m in (umap.layouts, umap.umap_) for f in vars(m).values() if isinstance(f, Dispatcher) and not f.signatures]
x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    umap.UMAP(n_neighbors=10, n_epochs=50, random_state=0, n_jobs=1).fit_transform(x)
stats = [f.stats for f in lazy]
print(json.dumps({"hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


@pytest.mark.slow  # two fresh processes, the first compiling umap (~30 s)
def test_a_second_process_loads_umap_from_numba_cache(tmp_path):
    """The first process compiles umap's functions into an empty NUMBA_CACHE_DIR; a second one loads them all."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = [subprocess.run([sys.executable, "-c", _SECOND_PROCESS], capture_output=True, text=True, timeout=600,
                           env=env) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["misses"] > 0  # compiled, and written to the cache ...
    assert second["hits"] > 0 and second["misses"] == 0, (first, second)  # ... loaded, none compiled again
