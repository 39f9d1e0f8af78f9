"""A selection's retrieval metrics (proxylab.selection): the mean of per-query rows equals scoring those queries
directly, equals brute force, equals the run's own metrics when every sample is selected, equals the CLI; on a
trained-like run and on an imported one; the per-query cache is reused, refreshed and survives corruption."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from proxylab.cli import main
from proxylab.importing import import_run, read_embeddings
from proxylab.metrics import per_query_metrics, retrieval_metrics
from proxylab.selection import (cached_snapshot_queries, load_snapshot_queries, parse_ids, selection_metrics,
                                snapshot_queries)
from proxylab.store import open_run, write_fake_run


def brute_force(x: np.ndarray, y: np.ndarray, queries: np.ndarray) -> tuple[float, float]:
    """R@1 and MAP@R of `queries` against all rows of x (itself excluded), ranking by (cosine desc, index asc)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    hits, aps = [], []
    for q in queries:
        others = [j for j in range(len(x)) if j != q]
        sims = unit[others] @ unit[q]
        order = [others[i] for i in sorted(range(len(others)), key=lambda i: (-sims[i], others[i]))]
        rel = np.array([y[j] == y[q] for j in order], dtype=float)
        r = int(rel.sum())
        if r == 0:
            continue
        hits.append(rel[0])
        top = rel[:r]
        aps.append(float(np.sum(np.cumsum(top) / np.arange(1, r + 1) * top) / r))
    return float(np.mean(hits)), float(np.mean(aps))


def test_per_query_rows_average_to_the_metrics_of_any_subset_of_queries():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    x[7] = x[3]  # exact duplicates tie: the stable order must hold in both computations
    y = rng.integers(0, 5, size=120)
    y[119] = 9  # a query with no relevant candidate: excluded from every mean
    whole = per_query_metrics(x, y, (1, 2))
    assert not whole.scored[119] and whole.scored[:119].all()
    for subset in (np.arange(120), rng.choice(120, 17, replace=False), np.array([119, 3, 7])):
        subset = np.sort(subset)
        direct = retrieval_metrics(x[subset], y[subset], (1, 2), gallery=x, gallery_labels=y, query_indices=subset)
        rows = subset[whole.scored[subset]]
        for name in whole.names:
            assert whole.column(name)[rows].mean() == pytest.approx(direct[name], abs=1e-12)
        assert direct["num_queries"] == len(rows)
        r1, map_r = brute_force(x.astype(np.float64), y, subset)
        assert direct["R@1"] == pytest.approx(r1, abs=1e-12) and direct["MAP@R"] == pytest.approx(map_r, abs=1e-12)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A trained-like run (write_fake_run: proxies, modes, train/test split) and an import of three snapshots."""
    root = tmp_path_factory.mktemp("selection")
    write_fake_run(root / "store", "fake", steps=30, snapshot_every=10, n=160, classes=4, modes_per_class=2, k=2, d=8)
    rng = np.random.default_rng(1)
    labels = np.arange(300) % 6
    centres = rng.normal(size=(6, 16))
    emb = np.stack([centres[labels] * s + rng.normal(size=(300, 16)) for s in (0.5, 1.0, 2.0)]).astype(np.float32)
    np.savez(root / "emb.npz", embeddings=emb, labels=labels, split=(np.arange(300) % 3 == 0).astype(np.int8),
             steps=np.array([0, 10, 20]))
    import_run(root / "store", "imported", read_embeddings(root / "emb.npz"))
    return root / "store"


@pytest.mark.parametrize("name", ["fake", "imported"])
def test_cached_rows_and_direct_scoring_agree_on_any_selection(stores, name):
    run = open_run(stores, name)
    rng = np.random.default_rng(2)
    for step in run.snapshot_steps():
        snap = run.snapshot(step)
        queries = cached_snapshot_queries(run, step)
        for size in (1, 5, len(snap.labels) // 3, len(snap.labels)):
            ids = rng.choice(len(snap.labels), size, replace=False)
            cached, direct = selection_metrics(snap, ids, queries), selection_metrics(snap, ids)
            assert cached.keys() == direct.keys() and cached
            for split in cached:
                assert cached[split].keys() == direct[split].keys()
                for key, value in cached[split].items():
                    assert value == pytest.approx(direct[split][key], abs=1e-12, nan_ok=True), (step, split, key)


def test_every_sample_selected_gives_the_runs_own_metrics(stores):
    run = open_run(stores, "imported")  # an import's evals are its snapshots' metrics (snapshot_metrics)
    evals = run.evals()
    for step in run.snapshot_steps():
        snap = run.snapshot(step)
        everything = selection_metrics(snap, np.arange(len(snap.labels)), cached_snapshot_queries(run, step))
        assert set(everything) == {"train", "test"}
        for split, metrics in everything.items():
            logged = evals[(evals.step == step) & (evals.split == split)].set_index("metric")["value"]
            for key in ("R@1", "MAP@R", "RP"):
                assert metrics[key] == pytest.approx(logged[key], abs=1e-9), (step, split, key)


def test_mode_coverage_of_a_selection_counts_only_its_own_modes(stores):
    run = open_run(stores, "fake")
    snap = run.snapshot(run.snapshot_steps()[-1])
    from proxylab.geometry import mode_coverage

    train = np.flatnonzero(snap.split == 0)
    one_mode = train[snap.modes[train] == snap.modes[train][0]]
    metrics = selection_metrics(snap, one_mode)["train"]
    assert metrics["num_modes"] == 1
    expected = mode_coverage(snap.embeddings[one_mode].astype(np.float64), snap.labels[one_mode],
                             snap.modes[one_mode], snap.proxies.astype(np.float64))
    assert metrics["mode_coverage"] == expected["mode_coverage"]
    assert metrics["mode_best_cos"] == pytest.approx(expected["mode_best_cos"], abs=1e-12)


def test_the_imported_run_without_proxies_has_no_mode_coverage(stores):
    run = open_run(stores, "imported")
    snap = run.snapshot(20)
    assert all("mode_coverage" not in m for m in selection_metrics(snap, range(40)).values())


def test_the_cache_is_reused_refreshed_and_survives_corruption(stores, tmp_path):
    import shutil

    shutil.copytree(stores / "imported", tmp_path / "imported", ignore=shutil.ignore_patterns("projections"))
    run = open_run(tmp_path, "imported")
    assert load_snapshot_queries(run, 10) is None
    first = cached_snapshot_queries(run, 10)
    again = load_snapshot_queries(run, 10)
    assert again is not None and np.array_equal(again.values, first.values) and again.names == first.names
    cache = next((run.path / "projections").glob("queries-*.npz"))
    cache.write_bytes(b"not a zip")  # corrupt: recomputed, same values
    assert load_snapshot_queries(run, 10) is None
    assert np.array_equal(cached_snapshot_queries(run, 10).values, first.values)
    stat = os.stat(run.snapshot_path(10))  # a snapshot written anew is scored anew
    os.utime(run.snapshot_path(10), ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_snapshot_queries(run, 10) is None


def test_snapshot_queries_of_a_split_too_small_to_score(tmp_path):
    np.savez(tmp_path / "one.npz", embeddings=np.eye(3, dtype=np.float32), labels=np.array([0, 1, 1]),
             split=np.array([0, 1, 1], np.int8))
    import_run(tmp_path / "store", "tiny", read_embeddings(tmp_path / "one.npz"))
    run = open_run(tmp_path / "store", "tiny")
    queries = snapshot_queries(run.snapshot(run.snapshot_steps()[0]))
    assert queries.scored.tolist() == [False, True, True]
    assert set(selection_metrics(run.snapshot(run.snapshot_steps()[0]), [0, 1])) == {"test"}


def test_cli_eval_of_a_selection_prints_the_same_numbers(stores, capsys):
    run = open_run(stores, "fake")
    step = run.snapshot_steps()[1]
    assert main(["eval", "--store", str(stores), "fake", "--step", str(step), "--queries", "0-9,40,100-120",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    ids = parse_ids("0-9,40,100-120", 160)
    assert len(ids) == 32
    assert printed["step"] == step and printed["metrics"] == selection_metrics(run.snapshot(step), ids)


@pytest.mark.parametrize("args, message", [
    (["--queries", "0-²"], "--queries: queries must be sample ids"),
    (["--queries", "5-2"], "ascending ranges"),
    (["--queries", "0-100000"], "queries must lie in 0..159"),
    (["--step", "12345"], "has no snapshot at step 12345"),
])
def test_cli_eval_refuses_bad_queries_in_one_line(stores, capsys, args, message):
    assert main(["eval", "--store", str(stores), "fake", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_eval_of_queries_without_relevant_candidates_prints_valid_json(tmp_path, capsys):
    np.savez(tmp_path / "lone.npz", embeddings=np.eye(3, dtype=np.float32), labels=np.array([0, 1, 2]),
             split=np.array([1, 1, 0], np.int8))
    import_run(tmp_path / "store", "lone", read_embeddings(tmp_path / "lone.npz"))
    assert main(["eval", "--store", str(tmp_path / "store"), "lone", "--queries", "0-1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)  # null where no query was scored, not NaN (not JSON)
    assert printed["metrics"]["test"]["R@1"] is None and printed["metrics"]["test"]["num_queries"] == 0
    assert main(["eval", "--store", str(tmp_path / "store"), "lone", "--queries", "2"]) == 2
    assert "no selected sample of step" in capsys.readouterr().err
