"""Several processes (torchrun, gloo on CPU): one writer, replicas equal, a clean stop on Ctrl-C, exact resume.

Who writes is read from the file system calls themselves: every process runs under a harness that logs each call
that can change the store (open for writing, os.open with a write flag, rename/replace, mkdir, unlink, a SQLite
connection) to a file of its own, outside the store.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from proxylab.store import open_run
from proxylab.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
# an MLP with BatchNorm: its running statistics are buffers that the ranks must agree on
TINY = ["--data", "synthetic", "--set", 'data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 30}',
        "--model", "mlp", "--set", 'model_params={"hidden_sizes": [16], "batch_norm": true}', "--embedding-dim", "6",
        "--split", "per-sample", "--classes-per-batch", "4", "--samples-per-class", "8", "--eval-every", "10",
        "--snapshot-points", "60", "--num-snapshots", "3", "--lr", "0.01", "--no-progress", "--loss", "proxy_anchor"]

HARNESS = r"""
import builtins, io, os, sqlite3, sys
store, logdir = os.path.realpath(sys.argv[1]), sys.argv[2]
log = open(os.path.join(logdir, f"rank{os.environ['RANK']}.log"), "a", buffering=1)
sys.stderr = open(os.path.join(logdir, f"rank{os.environ['RANK']}.stderr"), "w", buffering=1)

def record(kind, path):
    try:
        real = os.path.realpath(os.fsdecode(path))  # scipy 1.9 opens bytes paths
    except TypeError:  # a file descriptor
        return
    if real == store or real.startswith(store + os.sep):
        log.write(f"{kind} {os.path.relpath(real, store)}\n")

def wrap(kind, original, writes=lambda *a, **k: True, which=0):
    def call(*args, **kwargs):
        if writes(*args, **kwargs):
            record(kind, args[which])
        return original(*args, **kwargs)
    return call

write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
builtins.open = io.open = wrap("open", io.open, lambda f, mode="r", *a, **k: any(c in mode for c in "wax+"))
os.open = wrap("os.open", os.open, lambda p, flags, *a, **k: bool(flags & write_flags))
os.replace = wrap("replace", os.replace, which=1)
os.rename = wrap("rename", os.rename, which=1)
os.mkdir = wrap("mkdir", os.mkdir)
os.unlink = wrap("unlink", os.unlink)
os.remove = wrap("remove", os.remove)
sqlite3.connect = wrap("sqlite", sqlite3.connect)
from proxylab.cli import main
raise SystemExit(main(sys.argv[3:]))
"""


def torchrun(tmp_path: Path, store: Path, args: list[str], logs: str, **popen) -> subprocess.Popen:
    harness = tmp_path / "harness.py"
    harness.write_text(HARNESS)
    (tmp_path / logs).mkdir()
    return subprocess.Popen([*TORCHRUN, str(harness), str(store), str(tmp_path / logs), "train", "--store",
                             str(store), *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def writes_by_rank(tmp_path: Path, logs: str) -> dict[str, list[str]]:
    return {p.stem: p.read_text().splitlines() for p in sorted((tmp_path / logs).glob("*.log"))}


def said_by_rank(tmp_path: Path, logs: str) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((tmp_path / logs).glob("*.stderr"))}


def test_a_two_process_run_has_exactly_one_writer_and_equal_replicas(tmp_path):
    store = tmp_path / "store"
    # a cut-off beyond the eval split (72 points) makes a note that every rank meets
    proc = torchrun(tmp_path, store, ["--name", "ddp", *TINY, "--steps", "20", "--set", "eval_ks=[1,2,4,100]"],
                    "logs")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.strip().splitlines() == [str(store / "ddp")]  # printed once, by rank 0
    said = said_by_rank(tmp_path, "logs")
    assert "R@100" in said["rank0"], said["rank0"]  # the note, from rank 0 ...
    assert said["rank1"] == "", said["rank1"]  # ... and nothing at all from rank 1
    writes = writes_by_rank(tmp_path, "logs")
    assert sorted(writes) == ["rank0", "rank1"]
    assert writes["rank1"] == [], writes["rank1"][:5]  # rank 1 touched nothing in the store
    assert any(w.startswith("replace ddp/weights/") for w in writes["rank0"])  # rank 0 wrote the checkpoint
    run = open_run(store, "ddp")
    assert run.status == "finished"
    assert run.meta["distributed"] == {"world_size": 2, "replica_param_max_diff": 0.0}
    assert sorted(p.name for p in store.iterdir()) == ["ddp"]  # nothing beside the run (rank 1 wrote none)
    state = load_checkpoint(run.path)["model"]
    assert any(k.endswith("running_mean") for k in state)  # BatchNorm buffers are in rank 0's checkpoint
    single = subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(store), "--name", "single",
                             *TINY, "--steps", "20"], env=ENV, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    one = open_run(store, "single")
    assert np.allclose(run.snapshot(0).proxies, one.snapshot(0).proxies)  # same seed, same start
    # rank 1 trained on its own batches, so the averaged updates differ from one process's
    assert not np.allclose(run.snapshot(20).proxies, one.snapshot(20).proxies)


@pytest.mark.slow  # three two-process runs (~1 min)
def test_ctrl_c_stops_every_rank_at_one_step_and_resume_is_exact(tmp_path):
    store = tmp_path / "store"
    reference = torchrun(tmp_path, store, ["--name", "ref", *TINY, "--steps", "400"], "logs-ref")
    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    proc = torchrun(tmp_path, store, ["--name", "cut", *TINY, "--steps", "400"], "logs-cut", start_new_session=True)
    deadline = time.monotonic() + 120
    while not _progress(store, "cut") >= 60:  # well into training
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: torchrun and both workers get it
    _, err = proc.communicate(timeout=120)
    cut = open_run(store, "cut")
    assert cut.status == "interrupted", err
    step = cut.meta["stop"]["step"]
    assert 60 <= step < 400 and int(load_checkpoint(cut.path)["step"]) == step
    said = said_by_rank(tmp_path, "logs-cut")  # the harness keeps each rank's stderr apart
    assert said["rank0"].count("stopped by the user (Ctrl-C)") == 1, (said, err)  # said once, by rank 0 ...
    assert "stopped by the user" not in said["rank1"] + err, (said, err)  # ... and by no one else
    assert writes_by_rank(tmp_path, "logs-cut")["rank1"] == []
    resumed = subprocess.run([*TORCHRUN, "-m", "proxylab", "train", "--store", str(store), "--resume", "cut",
                              "--no-progress"], env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = open_run(store, "cut"), open_run(store, "ref")
    assert a.status == "finished" and list(a.scalars().index) == list(range(1, 401))
    np.testing.assert_allclose(a.scalars(["loss"]).to_numpy(), b.scalars(["loss"]).to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.snapshot(400).proxies, b.snapshot(400).proxies, rtol=1e-5, atol=1e-6)


def _progress(store: Path, name: str) -> int:
    try:
        return open_run(store, name).progress.step or 0
    except (ValueError, OSError):
        return 0
