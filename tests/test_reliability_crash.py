"""Crash safety: a real ``python -m proxylab train`` process killed with SIGKILL at random moments, including in
the middle of snapshot, checkpoint and run.json writes, always leaves a run that the reader opens (interrupted),
with every step logged up to the last checkpoint intact, and ``--resume`` reaches the uninterrupted final state.

To land kills *inside* writes, the trainer runs under a small harness that stages every atomic write: it writes the
first half of the temp file, announces the write (a file named ``<n>-<kind>`` in a signal folder), sleeps, then
writes the rest. The test SIGKILLs the process while it sleeps, so half-written temp files are really on disk.
Random-moment kills run the plain CLI with no harness.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from proxylab.store import open_run
from proxylab.store.atomic import TEMP_MARKER
from proxylab.train import TrainConfig, Trainer
from proxylab.train.checkpoint import CHECKPOINT, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
STEPS = 40
CONFIG = dict(data="synthetic", data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 20},
              model="linear", embedding_dim=4, split="per-sample", classes_per_batch=4, samples_per_class=6,
              steps=STEPS, eval_every=5, snapshot_points=40, eval_max_points=80, num_snapshots=14,
              checkpoint_every=3, lr=1e-2, loss="mpa", proxies_per_class=2, device="cpu")

HARNESS = r"""
import io, os, sys, time
import proxylab.store.atomic as atomic
import proxylab.store.snapshot as snapshot
sigdir, delay, target = sys.argv[1], float(sys.argv[2]), sys.argv[3]
original, count = atomic.atomic_write, [0]

def kind_of(path):
    p = str(path)
    return ("snapshot" if os.sep + "snapshots" + os.sep in p else "checkpoint" if p.endswith(".pt")
            else "meta" if p.endswith("run.json") else "other")

def staged_atomic_write(path, write, **options):  # options: atomic_write's own (durable)
    def staged(f):
        buf = io.BytesIO()
        write(buf)
        data = buf.getvalue()
        if kind_of(path) != target:
            f.write(data)
            return
        f.write(data[: len(data) // 2])
        f.flush()
        count[0] += 1
        open(os.path.join(sigdir, f"{count[0]:05d}-{target}"), "w").close()
        time.sleep(delay)  # the test kills the process here, half the temp file written
        f.write(data[len(data) // 2:])
    return original(path, staged, **options)

atomic.atomic_write = staged_atomic_write
snapshot.atomic_write = staged_atomic_write
from proxylab.cli import main
raise SystemExit(main(sys.argv[4:]))
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def write_config(folder: Path) -> Path:
    path = folder / "tiny.json"
    path.write_text(json.dumps(CONFIG))
    return path


def train_args(store: Path, name: str, config: Path) -> list[str]:
    return ["train", "--store", str(store), "--name", name, "--config", str(config), "--no-progress"]


def reference_run(store: Path, config: Path):
    Trainer(TrainConfig.from_file(config), store, "reference", progress=False).run()
    return open_run(store, "reference")


def final_state(run) -> dict[str, np.ndarray]:
    state = load_checkpoint(run.path)
    assert int(state["step"]) == STEPS
    return {f"{part}.{k}": v.numpy() for part in ("model", "loss") for k, v in state[part].items()}


def kill_at_write(store: Path, name: str, config: Path, sigdir: Path, kind: str, nth: int) -> None:
    """Start the staged trainer and SIGKILL it while it is inside its ``nth`` write of ``kind``."""
    sigdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HARNESS, str(sigdir), "0.4", kind, *train_args(store, name, config)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            hits = sorted(n for n in os.listdir(sigdir) if n.endswith("-" + kind))
            if len(hits) >= nth:
                proc.send_signal(signal.SIGKILL)
                break
            if proc.poll() is not None:
                raise AssertionError(f"trainer ended before write {nth} of {kind}: {proc.stderr.read()}")
            time.sleep(0.01)
        else:
            raise AssertionError(f"no write {nth} of {kind} within 120 s")
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the kill landed inside the write: its half-written temp file is still on disk
    temps = [p for p in store.joinpath(name).rglob(f"*{TEMP_MARKER}*")]
    assert temps, f"no temp file left by the {kind} write: the kill missed the write"


def start_then_signal(store: Path, name: str, config: Path, delay_s: float, signum: int,
                      output=subprocess.DEVNULL) -> subprocess.Popen:
    """Start the plain CLI trainer and send it ``signum`` ``delay_s`` seconds after its run.json appeared."""
    proc = subprocess.Popen([sys.executable, "-m", "proxylab", *train_args(store, name, config)], env=ENV,
                            stdout=output, stderr=output, text=True)
    deadline = time.monotonic() + 120
    try:
        while not (store / name / "run.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "trainer did not start"
            time.sleep(0.005)
        time.sleep(delay_s)
        proc.send_signal(signum)
    except BaseException:
        proc.kill()
        raise
    return proc


def kill_at_random(store: Path, name: str, config: Path, delay_s: float) -> None:
    """SIGKILL the plain CLI trainer ``delay_s`` seconds after its run.json appeared."""
    proc = start_then_signal(store, name, config, delay_s, signal.SIGKILL)
    proc.wait()


def check_killed_run(store: Path, name: str) -> int | None:
    """What a kill -9 must leave: a readable run, interrupted, steps contiguous up to >= the checkpoint,
    every snapshot readable and finite. Returns the checkpoint step (None if killed before the first one)."""
    run = open_run(store, name)
    if run.status == "finished":  # the kill came after the last write; nothing to resume
        return STEPS
    assert run.status == "interrupted"
    steps = list(run.scalars(["loss"]).index)
    assert steps == list(range(1, len(steps) + 1)), "a committed step is missing"
    last = steps[-1] if steps else 0
    ck_path = run.path / CHECKPOINT
    ck = int(load_checkpoint(run.path)["step"]) if ck_path.exists() else None
    if ck is not None:
        assert last >= ck, f"checkpoint at step {ck} but only steps up to {last} are committed"
    assert run.progress.step >= (ck or 0)
    for s in run.snapshot_steps():
        snap = run.snapshot(s)
        assert s <= last and np.isfinite(snap.embeddings).all() and np.isfinite(snap.proxies).all()
    assert set(run.evals()["step"]) <= set(steps)
    return ck


def check_resumed(store: Path, name: str, reference, ref_state) -> None:
    run = open_run(store, name)
    assert run.status == "finished"
    assert list(run.scalars().index) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(run.scalars(["loss"]).to_numpy(), reference.scalars(["loss"]).to_numpy(),
                               rtol=1e-5, atol=1e-6)
    assert run.snapshot_steps() == reference.snapshot_steps()
    np.testing.assert_allclose(run.snapshot(STEPS).proxies, reference.snapshot(STEPS).proxies, rtol=1e-5, atol=1e-6)
    state = final_state(run)
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_allclose(state[key], ref_state[key], rtol=1e-5, atol=1e-6, err_msg=key)
    evals, ref_evals = run.evals(), reference.evals()
    assert len(evals) == len(ref_evals)
    np.testing.assert_allclose(evals["value"].to_numpy(), ref_evals["value"].to_numpy(), rtol=1e-5, atol=1e-6)
    assert not list(run.path.rglob(f"*{TEMP_MARKER}*")), "stale temp files were not cleaned up"


def resume_cli(store: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(store), "--resume", name,
                           "--no-progress"], env=ENV, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # ~40-60 s on the shared 2-core machine (two torch start-ups), over the 20 s default-suite budget
def test_kill_inside_snapshot_and_checkpoint_writes_then_resume(tmp_path):
    """Short version: 2 kills inside writes, resumed in-process (the 20-trial test resumes via the CLI)."""
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference = reference_run(store, config)
    ref_state = final_state(reference)
    for name, kind, nth in (("snap", "snapshot", 4), ("ckpt", "checkpoint", 3)):
        kill_at_write(store, name, config, tmp_path / f"sig-{name}", kind, nth)
        assert check_killed_run(store, name) is not None
        Trainer(None, store, name, resume=True, progress=False).run()
        check_resumed(store, name, reference, ref_state)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_twenty_sigkills_spread_over_the_run_then_cli_resume(tmp_path):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference = reference_run(store, config)
    ref_state = final_state(reference)
    # how long the plain CLI takes from run.json to the end, to spread random kills over the whole run
    proc = subprocess.run([sys.executable, "-m", "proxylab", *train_args(store, "timing", config)], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    timing = open_run(store, "timing").meta
    run_s = max(0.5, _iso_seconds(timing["updated"]) - _iso_seconds(timing["created"]))

    rng = random.Random(8)
    trials = ([("write", "snapshot", n) for n in (1, 3, 6, 10)] + [("write", "checkpoint", n) for n in (1, 2, 7, 12)]
              + [("write", "meta", n) for n in (2, 9, 20, 35)]
              + [("random", None, rng.uniform(0.0, 0.9 * run_s)) for _ in range(8)])
    outcomes = {"resumed": 0, "finished_before_kill": 0}
    for i, (how, kind, arg) in enumerate(trials):
        name = f"t{i:02d}"
        if how == "write":
            kill_at_write(store, name, config, tmp_path / f"sig-{name}", kind, arg)
        else:
            kill_at_random(store, name, config, arg)
        ck = check_killed_run(store, name)
        if ck == STEPS and open_run(store, name).status == "finished":
            outcomes["finished_before_kill"] += 1
            check_resumed(store, name, reference, ref_state)
            continue
        out = resume_cli(store, name)
        assert out.returncode == 0, f"trial {i} ({how} {kind} {arg}): {out.stderr}"
        check_resumed(store, name, reference, ref_state)
        outcomes["resumed"] += 1
    print(f"\nSIGKILL trials: {len(trials)}, {outcomes}")
    assert len(trials) == 20 and outcomes["resumed"] >= 14  # most kills must land mid-run to count


def _iso_seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
