"""Background projection jobs: a real detached process fills the run's projection cache and reports its progress;
a job that fails or dies says so; the Embedding page shows the progress and draws PCA meanwhile."""
from __future__ import annotations

import json
import os
import time

import pytest

from proxylab.projection import cached_projection
from proxylab.projection_jobs import read_status, start, status_path
from proxylab.store import list_runs, open_run, write_fake_run


def wait_until_finished(store, run, method, dims, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(store, run, method, dims)
        if status and status["state"] not in ("queued", "running"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job for {run} did not finish: {read_status(store, run, method, dims)}")


def test_a_background_job_fills_the_cache_and_a_broken_run_fails_with_a_reason(tmp_path):
    write_fake_run(tmp_path, "small", steps=20, n=200, classes=3, modes_per_class=2, d=8, k=2, loss="mpa")
    run = open_run(tmp_path, "small")
    assert cached_projection(run, run.snapshot_steps(), "pca", 2) is None
    process = start(tmp_path, ["missing-run", "small"], "pca", 2)
    assert read_status(tmp_path, "small", "pca", 2)["state"] in ("queued", "running", "done")
    done = wait_until_finished(tmp_path, "small", "pca", 2)
    process.wait(timeout=30)
    assert done["state"] == "done" and done["fraction"] == 1.0
    assert cached_projection(run, run.snapshot_steps(), "pca", 2) is not None
    failed = read_status(tmp_path, "missing-run", "pca", 2)
    assert failed["state"] == "failed" and "missing-run" in failed["message"]
    assert process.returncode == 1  # one of its runs failed
    assert [r.name for r in list_runs(tmp_path)] == ["small"]  # the jobs folder is not a run


def test_an_active_job_whose_process_died_reads_as_stopped(tmp_path):
    path = status_path(tmp_path, "r", "umap", 2)
    path.parent.mkdir(parents=True)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    path.write_text(json.dumps({"state": "running", "fraction": 0.3, "message": "x", "pid": dead}))
    assert read_status(tmp_path, "r", "umap", 2)["state"] == "stopped"
    path.write_text("{ not json")
    assert read_status(tmp_path, "r", "umap", 2) is None


def test_embedding_page_shows_the_background_progress_and_draws_pca_meanwhile(dashboard_store, monkeypatch):
    from test_dashboard_apptest import charts, open_app

    path = status_path(dashboard_store, "mpa-k4", "umap", 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state": "running", "fraction": 0.4, "message": "fitting UMAP", "pid": os.getpid()}))
    try:
        at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "projection": "umap", "chart": "plotly"})
        picker = at.selectbox(key="w_projection")
        assert "UMAP (computing in the background: 40%)" in picker.options
        assert "(cached)" not in " ".join(picker.options)
        assert "PCA" in charts(at)[0]["layout"]["title"]["text"]  # not computed a second time in the page
        assert any("being computed in the background" in str(p.proto) for p in at.get("progress"))
    finally:
        path.unlink()
