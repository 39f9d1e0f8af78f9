"""Shared pytest fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def one_thread():
    """Tiny tensors: intra-op threads only add contention on the 2-core machine (up to 20× slower here).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------- the demo's own runs

@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """`proxylab demo --no-dashboard` run once for the session (about 20 s): its stdout is in `demo.out`."""
    import subprocess
    import sys

    store = tmp_path_factory.mktemp("demo") / "store"
    out = subprocess.run([sys.executable, "-m", "proxylab", "demo", "--no-dashboard", "--store", str(store)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (store.parent / "demo.out").write_text(out.stdout)
    return store


# ---------------------------------------------------------------- dashboard: a store of fake runs

def write_dashboard_store(root: Path) -> Path:
    """A run store with the runs the dashboard pages pair up by default, a corrupt run, and nothing else.

    mpa-k4 (multi-proxy), pa-k1 (single proxy, proxy_anchor), mpa-dw (data-wise), mpa-k4-so (SO on),
    sphere-d3 (d = 3 for the native view), broken (garbled run.json).
    """
    from proxylab.store import write_fake_run

    small = dict(steps=60, n=300, classes=4, modes_per_class=2, d=8)
    write_fake_run(root, "mpa-k4", k=4, loss="mpa", **small)
    write_fake_run(root, "pa-k1", k=1, loss="proxy_anchor", seed=1, **small)
    write_fake_run(root, "mpa-dw", k=2, loss="mpa_dw", seed=2, **small)
    write_fake_run(root, "mpa-k4-so", k=4, loss="mpa", so_weight=0.1, seed=3, **small)
    write_fake_run(root, "sphere-d3", k=2, loss="mpa", seed=4, **{**small, "d": 3})
    broken = root / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{ not json")
    return root


@pytest.fixture(scope="session")
def dashboard_store(tmp_path_factory) -> Path:
    return write_dashboard_store(tmp_path_factory.mktemp("dashboard_store"))


@pytest.fixture
def empty_store(tmp_path) -> Path:
    (tmp_path / "store").mkdir()
    return tmp_path / "store"


@pytest.fixture
def corrupt_only_store(tmp_path) -> Path:
    store = tmp_path / "store"
    (store / "bad-run").mkdir(parents=True)
    (store / "bad-run" / "run.json").write_text(json.dumps({"schema_version": 99, "status": "finished"}))
    return store


def non_finite_rows(run) -> dict[str, list]:
    """Raw scalar and eval rows of ``run`` whose value is NULL (SQLite's NaN), +inf or -inf, read with SQL: the
    store's DataFrames show NaN for both a NaN write and a value never written, so only the rows can tell."""
    import sqlite3

    con = sqlite3.connect(run.db_path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        bad = "value IS NULL OR value > 1e308 OR value < -1e308"
        return {"scalars": con.execute(f"SELECT step, key FROM scalars WHERE {bad}").fetchall(),
                "evals": con.execute(f"SELECT step, split, metric FROM evals WHERE {bad}").fetchall()}
    finally:
        con.close()
