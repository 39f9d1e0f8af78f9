"""Run store across processes: lock exclusion, readers during writes, kill -9 of a writer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxylab.store import RunError, RunWriter, list_runs, open_run

REPO = Path(__file__).resolve().parents[1]

# Writes `steps` steps; every 10th a snapshot whose embeddings all equal the step (so a reader can
# tell a complete snapshot from a mixed one) and a flush, then prints the last committed step.
WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from proxylab.store import RunWriter
    store, name, steps, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with RunWriter.create(store, name, {"progress": {"total_steps": steps}}, commit_interval_s=0.02) as w:
        print("started", flush=True)
        for step in range(1, steps + 1):
            w.log_scalars(step, {"loss": 1.0 / step, "step_copy": step})
            w.log_vectors(step, {"v": np.full(100, step)})
            if step % 10 == 0:
                n = 500 + step  # shapes change, so a torn file could not pass the checks
                w.write_snapshot(step, embeddings=np.full((n, 16), step, np.float32),
                                 labels=np.full(n, step % 7), proxies=np.full((3, 2, 16), step, np.float32))
                w.log_eval(step, "test", {"R@1": step / steps})
                w.flush()
                print("committed", step, flush=True)
            time.sleep(delay)
        w.set_status("finished")
""")

HOLDER = textwrap.dedent("""
    import sys
    from proxylab.store import RunWriter
    w = RunWriter.create(sys.argv[1], sys.argv[2], {})
    print("ready", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
    w.close()
""")


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _expect_line(proc: subprocess.Popen, prefix: str) -> str:
    line = proc.stdout.readline()
    assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}; stderr: {proc.stderr.read()}"
    return line


def test_second_writer_gets_clear_error(tmp_path):
    holder = _spawn(HOLDER, tmp_path, "locked")
    try:
        _expect_line(holder, "ready")
        with pytest.raises(RunError, match=f"^run locked is being written by process {holder.pid}$"):
            RunWriter.create(tmp_path, "locked", {}, exist_ok=True)
        with pytest.raises(RunError, match=f"being written by process {holder.pid}"):
            RunWriter.open_existing(tmp_path, "locked")
        assert open_run(tmp_path, "locked").status == "running"
        assert list_runs(tmp_path)[0].status == "running"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0, holder.stderr.read()
    # The holder closed without finishing: the lock is free, so readers see "interrupted".
    assert open_run(tmp_path, "locked").status == "interrupted"
    with RunWriter.open_existing(tmp_path, "locked") as w:
        w.set_status("finished")
    assert open_run(tmp_path, "locked").status == "finished"


def test_reader_while_writer_writes(tmp_path):
    steps = 600
    writer = _spawn(WRITER, tmp_path, "live", steps, 0.005)
    try:
        _expect_line(writer, "started")
        run = open_run(tmp_path, "live")
        reads, snapshots_checked, errors, last_seen = 0, 0, [], 0
        statuses = set()
        while True:
            done = writer.poll() is not None
            try:
                df = run.scalars(["loss", "step_copy"])
                if len(df):
                    # committed steps arrive in order and whole: 1..max, no gaps
                    assert list(df.index) == list(range(1, len(df) + 1))
                    assert (df["step_copy"].to_numpy() == df.index.to_numpy()).all()
                    assert len(df) >= last_seen
                    last_seen = len(df)
                vsteps, values = run.vectors("v")
                assert (values == vsteps[:, None]).all()
                run.evals()
                statuses.add(run.status)
                run.progress
                for step in run.snapshot_steps()[-2:]:
                    snap = run.snapshot(step)
                    assert snap.embeddings.shape == (500 + step, 16)
                    assert (snap.embeddings == step).all() and (snap.proxies == step).all()
                    snapshots_checked += 1
                reads += 1
            except Exception as exc:  # noqa: BLE001 - count every failure, report them all
                errors.append(f"{type(exc).__name__}: {exc}")
            if done:
                break
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == 0, writer.stderr.read()
    assert errors == []
    assert reads >= 150 and snapshots_checked >= 150, (reads, snapshots_checked)
    assert "running" in statuses
    run = open_run(tmp_path, "live")
    assert run.status == "finished" and len(run.scalars()) == steps and len(run.snapshot_steps()) == steps // 10
    print(f"{reads} concurrent reads, {snapshots_checked} snapshots checked, 0 errors")


def test_kill_9_leaves_an_interrupted_readable_run(tmp_path):
    writer = _spawn(WRITER, tmp_path, "killed", 100000, 0.001)
    try:
        _expect_line(writer, "started")
        committed = 0
        while committed < 60:
            committed = int(_expect_line(writer, "committed").split()[1])
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    run = open_run(tmp_path, "killed")
    assert run.status == "interrupted"
    df = run.scalars()
    assert len(df) >= committed and list(df.index) == list(range(1, len(df) + 1))
    assert run.progress.step >= committed
    steps = run.snapshot_steps()
    assert steps[:committed // 10] == list(range(10, committed + 1, 10))
    for step in steps:
        assert (run.snapshot(step).embeddings == step).all()
    # A new writer can take over (resume) without any cleanup.
    with RunWriter.open_existing(tmp_path, "killed") as w:
        w.truncate_after(committed)
        w.set_status("finished")
    assert open_run(tmp_path, "killed").scalars().index.max() == committed
