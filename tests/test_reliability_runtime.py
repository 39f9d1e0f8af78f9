"""Reliability while running: readers during real training, one writer per run, numerical faults via the CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import non_finite_rows
from proxylab.cli import main
from proxylab.store import RunError, open_run
from proxylab.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
DATA = '{"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 20}'


def train_argv(store, name, steps, *extra):
    return ["train", "--store", str(store), "--name", name, "--no-progress", "--set", f"data_params={DATA}",
            "--data", "synthetic", "--model", "linear", "--embedding-dim", "4", "--split", "per-sample",
            "--classes-per-batch", "4", "--samples-per-class", "6", "--steps", str(steps), "--eval-every", "10",
            "--snapshot-points", "40", "--checkpoint-every", "10", "--lr", "0.01", "--device", "cpu", *extra]


def spawn(store, name, steps, *extra):
    return subprocess.Popen([sys.executable, "-m", "proxylab", *train_argv(store, name, steps, *extra)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_started(store, name, proc, step=1, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if open_run(store, name).progress.step >= step:
                return
        except RunError:
            pass
        time.sleep(0.02)
    raise AssertionError("trainer did not start")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_reader_during_real_training_never_errors_nor_sees_a_partial_snapshot(tmp_path):
    store = tmp_path / "store"
    proc = spawn(store, "live", 400, "--num-snapshots", "60")
    wait_started(store, "live", proc)
    reads, errors, snapshots_read = 0, [], 0
    while proc.poll() is None or reads == 0:
        try:
            run = open_run(store, "live")
            status = run.status
            assert status in ("running", "finished"), status
            evals = run.evals()  # read before the scalars: an eval row committed implies its step's scalars are
            steps = list(run.scalars(["loss", "grad_norm/total"]).index)
            assert steps == list(range(1, len(steps) + 1))  # committed rows are a contiguous prefix
            assert set(evals["step"]) <= set(steps)
            vsteps, values = run.vectors("proxy_grad")
            assert values.shape == (len(vsteps), 4) and np.isfinite(values).all()
            assert run.progress.step >= 0
            snap_steps = run.snapshot_steps()
            for s in snap_steps[-2:]:
                snap = run.snapshot(s)  # atomic replace: complete or absent, never torn
                assert snap.step == s and snap.embeddings.shape == (40, 4) and snap.proxies.shape == (4, 1, 4)
                assert np.isfinite(snap.embeddings).all() and np.isfinite(snap.proxies).all()
                snapshots_read += 1
            reads += 6 + len(snap_steps[-2:])
        except (RunError, AssertionError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    assert proc.wait() == 0, proc.stderr.read()
    print(f"\nreads during training: {reads} (snapshots {snapshots_read}), errors: {len(errors)}")
    assert not errors, errors[:5]
    assert reads >= 300 and snapshots_read >= 50
    assert open_run(store, "live").status == "finished"


def test_two_trainers_can_never_write_the_same_run(tmp_path, capsys):
    store = tmp_path / "store"
    proc = spawn(store, "busy", 100_000)
    try:
        wait_started(store, "busy", proc, step=2)
        pid = str(proc.pid)
        # a second trainer on the same name, as a new run or as a resume: one line, exit 2, nothing touched
        assert main(train_argv(store, "busy", 5)) == 2
        assert "already exists" in capsys.readouterr().err
        assert main(["train", "--store", str(store), "--resume", "busy", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "being written by process " + pid in err and len(err.strip().splitlines()) == 1
        out = subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(store), "--resume", "busy",
                              "--no-progress"], env=ENV, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and "Traceback" not in out.stderr and "being written" in out.stderr
        assert open_run(store, "busy").status == "running" and open_run(store, "busy").meta["pid"] == proc.pid
        step = open_run(store, "busy").progress.step
        wait_started(store, "busy", proc, step=step + 2)  # the first trainer carries on
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    run = open_run(store, "busy")
    assert run.status == "interrupted" and load_checkpoint(run.path)["step"] == run.progress.step
    steps = list(run.scalars(["loss"]).index)
    assert steps == list(range(1, run.progress.step + 1))


def test_exploding_lr_via_the_cli_stops_and_writes_nothing_non_finite(tmp_path, capsys):
    store = tmp_path / "store"
    for policy in ("stop", "skip"):
        name = f"boom-{policy}"
        rc = main(train_argv(store, name, 30, "--lr", "10", "--proxy-lr-multiplier", "1e37", "--optimizer", "sgd",
                             "--num-snapshots", "30", "--nan-policy", policy, "--set", "grad_clip=null"))
        err = capsys.readouterr().err
        assert rc == 2 and "non-finite" in err and "Traceback" not in err, err
        run = open_run(store, name)
        assert run.status == "failed" and "non-finite" in run.error
        assert non_finite_rows(run) == {"scalars": [], "evals": []}  # raw rows: a NaN write reads back as NULL
        for s in run.snapshot_steps():
            snap = run.snapshot(s)
            assert np.isfinite(snap.embeddings).all() and np.isfinite(snap.proxies).all(), s
        assert np.isfinite(run.evals()["value"].dropna()).all()


def test_nan_and_inf_input_data_via_the_cli(tmp_path, capsys):
    store = tmp_path / "store"
    x = np.random.default_rng(0).normal(size=(40, 3))
    for bad in (np.nan, np.inf, -np.inf):
        x2 = x.copy()
        x2[11, 1] = bad
        path = tmp_path / f"data-{bad}.npz"
        np.savez(path, X=x2, y=np.repeat(np.arange(4), 10))
        assert main(train_argv(store, "d", 5, "--data", "features", "--data-root", str(path),
                               "--set", "data_params={}")) == 2
        err = capsys.readouterr().err
        assert path.name in err and "NaN or inf" in err and "row 11" in err
        assert not (store / "d").exists()
