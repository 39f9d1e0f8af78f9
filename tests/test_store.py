"""Run store: writer/reader round trip, names, corruption and pickle refusal (single process)."""
from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from proxylab.store import (
    Run, RunError, RunWriter, Snapshot, atomic_write_bytes, default_store, list_runs, open_run,
    validate_run_name, write_fake_run,
)

REPO = Path(__file__).resolve().parents[1]


def _snapshot_arrays(rng, n=50, d=8, c=3, k=2):
    return dict(
        embeddings=rng.normal(size=(n, d)).astype(np.float32),
        labels=rng.integers(0, c, n),
        modes=rng.integers(-1, 6, n),
        split=(rng.random(n) < 0.3).astype(np.int8),
        index=np.arange(n),
        proxies=rng.normal(size=(c, k, d)).astype(np.float32),
        grad_norm=rng.random(n).astype(np.float32),
    )


# -- import cost ---------------------------------------------------------------------------------
def test_import_store_pulls_no_heavy_modules():
    code = ("import sys, proxylab.store, proxylab.store.fake; "
            "bad = [m for m in ('torch', 'umap', 'sklearn', 'streamlit', 'numba') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# -- names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["run", "a", "My_run-1.2", "0" * 100, "x.y"])
def test_valid_names(name):
    assert validate_run_name(name) == name


@pytest.mark.parametrize("name", ["", "..", "a/b", "/abs", "../up", "a..b", ".hidden", "-dash", "a\x00b",
                                  "a b", "x" * 101, "é", "a\\b", None, 3, b"bytes"])
def test_hostile_names_rejected(tmp_path, name):
    with pytest.raises(RunError, match="run name must"):
        validate_run_name(name)
    with pytest.raises(RunError):
        RunWriter.create(tmp_path, name, {})
    with pytest.raises(RunError):
        open_run(tmp_path, name)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=120))
def test_accepted_names_stay_inside_the_store(tmp_path_factory, name):
    store = Path("/store/root")
    try:
        validate_run_name(name)
    except RunError as exc:
        assert "\n" not in str(exc)
        return
    resolved = Path(os.path.normpath(store / name))
    assert resolved.parent == store and resolved.name == name


def test_default_store(monkeypatch):
    monkeypatch.delenv("PROXYLAB_STORE", raising=False)
    assert default_store() == Path("checkpoints")
    monkeypatch.setenv("PROXYLAB_STORE", "/tmp/elsewhere")
    assert default_store() == Path("/tmp/elsewhere")


# -- round trip ----------------------------------------------------------------------------------
def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    snaps = {s: _snapshot_arrays(rng) for s in (0, 5, 10)}
    meta = {"config": {"loss": "mpa", "K": 2, "lr": np.float32(0.5)}, "seed": 3,
            "progress": {"total_steps": 10}, "dataset": {"class_names": ["a", "b", "c"]}}
    expected_scalars = {}
    with RunWriter.create(tmp_path, "rt", meta, commit_every=3) as w:
        for step in range(1, 11):
            vals = {"loss": 1.0 / step, "lr/head": np.float64(0.1), "loss/pos": np.float32(step)}
            w.log_scalars(step, vals)
            expected_scalars[step] = {k: float(v) for k, v in vals.items()}
            w.log_vectors(step, {"proxy_grad": np.arange(6) * step, "class_grad": [step, 2.0, 3.0]})
            if step % 5 == 0:
                w.log_eval(step, "test", {"R@1": step / 10, "NMI": 0.5})
                w.log_eval(step, "train", {"R@1": 1.0})
        for s, arrays in snaps.items():
            w.write_snapshot(s, **arrays)
        w.log_scalars(3, {"nan": float("nan")})
        w.set_status("finished")
    run = open_run(tmp_path, "rt")
    assert isinstance(run, Run) and run.name == "rt" and run.path == tmp_path / "rt"
    assert run.status == "finished" and run.error is None
    assert run.meta["config"] == {"loss": "mpa", "K": 2, "lr": 0.5}
    assert run.meta["schema_version"] == 1 and run.meta["pid"] == os.getpid()
    assert run.progress.step == 10 and run.progress.total_steps == 10 and run.progress.fraction == 1.0
    df = run.scalars()
    assert df.index.name == "step" and list(df.index) == list(range(1, 11))
    assert list(df.columns) == ["loss", "loss/pos", "lr/head", "nan"]
    for step, vals in expected_scalars.items():
        for key, value in vals.items():
            assert df.loc[step, key] == pytest.approx(value)
    assert df["nan"].isna().all()  # NaN stays NaN, never 0
    sub = run.scalars(["lr/head", "never-logged"])
    assert list(sub.columns) == ["lr/head", "never-logged"] and sub["never-logged"].isna().all()
    steps, values = run.vectors("proxy_grad")
    np.testing.assert_array_equal(steps, np.arange(1, 11))
    np.testing.assert_array_equal(values, np.arange(6)[None, :] * np.arange(1, 11)[:, None])
    assert values.dtype == np.float32
    assert run.vectors("missing")[1].shape == (0, 0)
    ev = run.evals()
    assert list(ev.columns) == ["step", "split", "metric", "value"] and len(ev) == 6
    assert ev.query("step == 10 and split == 'test' and metric == 'R@1'")["value"].item() == pytest.approx(1.0)
    assert run.snapshot_steps() == [0, 5, 10]
    for s, arrays in snaps.items():
        snap = run.snapshot(s)
        assert isinstance(snap, Snapshot) and snap.step == s
        for key, value in arrays.items():
            np.testing.assert_array_equal(getattr(snap, key), value)
        assert snap.embeddings.dtype == np.float32 and snap.labels.dtype == np.int64
        assert snap.split.dtype == np.int8 and snap.proxies.shape == (3, 2, 8)
    with pytest.raises(RunError, match="no snapshot at step 7"):
        run.snapshot(7)
    assert run.scalar_keys() == ["loss", "loss/pos", "lr/head", "nan"]
    assert run.vector_keys() == ["class_grad", "proxy_grad"]


def test_snapshot_defaults_and_validation(tmp_path):
    with RunWriter.create(tmp_path, "snap", {}) as w:
        w.write_snapshot(0, embeddings=np.ones((4, 3), np.float64), labels=np.array([0, 1, 0, 1], np.int32))
        snap_path = w.path / "snapshots" / "step_00000000.npz"
        assert snap_path.exists()
        bad_cases = [
            (dict(embeddings=np.ones((4, 3))), "labels"),
            (dict(embeddings=np.ones(4), labels=np.zeros(4, int)), "embeddings must have shape"),
            (dict(embeddings=np.ones((4, 3)), labels=np.zeros(3, int)), r"labels must have shape \(4,\)"),
            (dict(embeddings=np.ones((4, 3)), labels=np.zeros(4)), "labels must have a integer dtype"),
            (dict(embeddings=np.ones((4, 3)), labels=np.zeros(4, int), proxies=np.ones((2, 2, 5))), "proxies"),
            (dict(embeddings=np.ones((4, 3)), labels=np.zeros(4, int), split=np.full(4, 2)), "split"),
            (dict(embeddings=np.ones((4, 3)), labels=np.zeros(4, int), logits=np.ones(4)), "unknown snapshot"),
            (dict(embeddings=np.array([["a"] * 3] * 4), labels=np.zeros(4, int)), "floating"),
        ]
        for arrays, match in bad_cases:
            with pytest.raises(RunError, match=match):
                w.write_snapshot(1, **arrays)
        with pytest.raises(RunError, match="step must be an int >= 0"):
            w.write_snapshot(-1, embeddings=np.ones((4, 3)), labels=np.zeros(4, int))
    snap = open_run(tmp_path, "snap").snapshot(0)
    assert snap.embeddings.dtype == np.float32 and snap.labels.dtype == np.int64
    np.testing.assert_array_equal(snap.modes, -1)
    np.testing.assert_array_equal(snap.split, 0)
    np.testing.assert_array_equal(snap.index, np.arange(4))
    assert np.isnan(snap.grad_norm).all() and snap.proxies is None
    assert open_run(tmp_path, "snap").snapshot_steps() == [0]  # failed writes left nothing behind
    assert not [p for p in (tmp_path / "snap" / "snapshots").iterdir() if p.name.startswith(".")]


def test_bad_log_input_is_one_line(tmp_path):
    with RunWriter.create(tmp_path, "bad", {}) as w:
        for call, match in [
            (lambda: w.log_scalars(True, {"a": 1}), "step must be"),
            (lambda: w.log_scalars(1.5, {"a": 1}), "step must be"),
            (lambda: w.log_scalars(1, {"a": "x"}), "scalar 'a' must be a real number"),
            (lambda: w.log_scalars(1, {"": 1}), "non-empty str"),
            (lambda: w.log_vectors(1, {"v": np.ones((2, 2))}), r"vector 'v' must be 1-D, got shape \(2, 2\)"),
            (lambda: w.log_eval(1, "test", {"R@1": None}), "eval metric 'R@1'"),
            (lambda: w.update_meta(status="finished"), "set_status"),
            (lambda: w.set_status("done"), "status must be one of"),
        ]:
            with pytest.raises(RunError, match=match) as info:
                call()
            assert "\n" not in str(info.value)
    with pytest.raises(RunError, match="meta must not set status"):
        RunWriter.create(tmp_path, "bad2", {"status": "finished"})
    with pytest.raises(RunError, match="JSON-serialisable"):
        RunWriter.create(tmp_path, "bad3", {"config": {"f": object()}})
    with pytest.raises(RunError, match="writer is closed"):
        w.log_scalars(1, {"a": 1.0})


def test_exception_in_with_marks_failed(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunWriter.create(tmp_path, "boom", {}) as w:
            w.log_scalars(1, {"loss": 1.0})
            1 / 0
    run = open_run(tmp_path, "boom")
    assert run.status == "failed" and run.error == "ZeroDivisionError: division by zero"
    assert run.scalars()["loss"].tolist() == [1.0]  # buffered rows were committed on the way out
    assert w.closed


def test_exists_and_overwrite(tmp_path):
    write_fake_run(tmp_path, "dup", steps=20, n=60)
    with pytest.raises(RunError, match="already exists"):
        RunWriter.create(tmp_path, "dup", {})
    with RunWriter.create(tmp_path, "dup", {"seed": 9}, exist_ok=True) as w:
        assert w.meta_when_opened is None
        w.set_status("finished")
    run = open_run(tmp_path, "dup")
    assert run.meta["seed"] == 9 and run.snapshot_steps() == [] and run.scalars().empty


def test_resume_truncate_after(tmp_path):
    write_fake_run(tmp_path, "res", steps=40, snapshot_every=10, n=60, status="interrupted")
    run = open_run(tmp_path, "res")
    assert run.status == "interrupted" and run.progress.step == 24
    assert run.snapshot_steps() == [0, 10, 20]
    (run.path / "projections").mkdir()
    (run.path / "projections" / "x.npz").write_bytes(b"stale")
    with RunWriter.open_existing(tmp_path, "res") as w:
        assert open_run(tmp_path, "res").status == "running"
        assert w.meta_when_opened["status"] == "interrupted" and w.meta["status"] == "running"
        w.truncate_after(10)
        assert open_run(tmp_path, "res").scalars().index.max() == 10
        for step in range(11, 41):
            w.log_scalars(step, {"loss": -step})
        w.write_snapshot(40, embeddings=np.ones((2, 2)), labels=np.zeros(2, int))
        w.set_status("finished")
    run = open_run(tmp_path, "res")
    assert run.status == "finished" and run.error is None and run.progress.step == 40
    assert run.snapshot_steps() == [0, 10, 40]
    assert not (run.path / "projections").exists()
    loss = run.scalars(["loss"])["loss"]
    assert list(loss.index) == list(range(1, 41))
    assert (loss.loc[11:] == -loss.loc[11:].index).all() and (loss.loc[:10] > 0).all()
    assert run.evals()["step"].max() <= 10
    with pytest.raises(RunError, match="not found"):
        RunWriter.open_existing(tmp_path, "nothing-here")


def test_meta_follows_updates_and_atomic_write(tmp_path):
    with RunWriter.create(tmp_path, "m", {"progress": {"total_steps": 100}}) as w:
        run = open_run(tmp_path, "m")
        assert run.status == "running" and run.progress.total_steps == 100
        w.update_meta(note="hello")
        assert run.meta["note"] == "hello"
        w.log_scalars(7, {"loss": 1.0})
        w.flush()
        assert run.progress.step == 7 and run.progress.fraction == pytest.approx(0.07)
    target = tmp_path / "blob.bin"
    atomic_write_bytes(target, b"abc")
    atomic_write_bytes(target, b"defg")
    assert target.read_bytes() == b"defg" and [p.name for p in tmp_path.iterdir() if p.is_file()] == ["blob.bin"]


# -- fake run ------------------------------------------------------------------------------------
def test_fake_run_is_complete_and_converges(tmp_path):
    write_fake_run(tmp_path, "fake", steps=100, n=240, classes=4, modes_per_class=3, k=3, d=8)
    run = open_run(tmp_path, "fake")
    keys = ["loss", "loss/pos", "loss/neg", "loss/reg", "loss/so", "grad_norm/total", "grad_norm/backbone",
            "grad_norm/head", "grad_norm/proxies", "lr/backbone", "lr/head", "lr/proxies", "sample_grad/mean",
            "sample_grad/max", "sample_grad/top10_share", "sample_grad/gini", "proxy/mean_cos", "proxy/max_cos",
            "proxy/mean_sq_cos", "proxy/r_so", "proxy/welch_floor", "time/step"]
    df = run.scalars()
    assert set(keys) <= set(df.columns) and len(df) == 100 and not df[keys].isna().any().any()
    parts = df["loss/pos"] + df["loss/neg"] + df["loss/reg"] + df["loss/so"]
    np.testing.assert_allclose(df["loss"], parts, rtol=1e-9)
    assert df["loss"].iloc[-1] < 0.7 * df["loss"].iloc[0]
    for key, length in [("proxy_grad", 12), ("proxy_grad_pull", 12), ("proxy_grad_push", 12),
                        ("class_grad", 4), ("proxy_usage", 12)]:
        steps, values = run.vectors(key)
        assert values.shape == (100, length)
    ev = run.evals()
    assert {"R@1", "R@2", "R@4", "R@8", "P@1", "RP", "MAP@R", "nDCG@1", "NMI", "mode_coverage",
            "mode_best_cos"} <= set(ev["metric"])
    r1 = ev[(ev.metric == "R@1") & (ev.split == "test")].set_index("step")["value"]
    assert r1.iloc[-1] > r1.iloc[0] + 0.3
    first, last = run.snapshot(run.snapshot_steps()[0]), run.snapshot(100)

    def spread(s):  # mean within-mode cosine distance to the mode mean: shrinks as training converges
        x = s.embeddings / np.linalg.norm(s.embeddings, axis=1, keepdims=True)
        return np.mean([1 - np.linalg.norm(x[s.modes == m].mean(0)) for m in np.unique(s.modes)])

    assert spread(last) < 0.5 * spread(first)
    assert last.proxies.shape == (4, 3, 8) and set(np.unique(last.split)) == {0, 1}
    assert np.isnan(last.grad_norm[last.split == 1]).all() and np.isfinite(last.grad_norm[last.split == 0]).all()
    assert run.meta["dataset"]["class_names"] == [f"class {c}" for c in range(4)]
    assert run.meta["config"]["proxies_per_class"] == 3


def test_list_runs_reports_every_state(tmp_path):
    write_fake_run(tmp_path, "ok", steps=20, n=60)
    write_fake_run(tmp_path, "failed", steps=20, n=60, status="failed")
    write_fake_run(tmp_path, "gone", steps=20, n=60, status="running")
    (tmp_path / "no-json").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "README.md").write_text("x")
    write_fake_run(tmp_path, "bad-json", steps=5, n=20)
    (tmp_path / "bad-json" / "run.json").write_text("{not json")
    summaries = {s.name: s for s in list_runs(tmp_path)}
    assert set(summaries) == {"ok", "failed", "gone", "no-json", "bad-json"}
    assert summaries["ok"].status == "finished" and summaries["ok"].ok and summaries["ok"].progress.step == 20
    assert summaries["failed"].status == "failed" and "NaN" in summaries["failed"].run_error
    assert summaries["gone"].status == "interrupted"
    assert summaries["no-json"].error and "missing" in summaries["no-json"].error
    assert summaries["bad-json"].status is None and "not valid JSON" in summaries["bad-json"].error
    assert list_runs(tmp_path / "does-not-exist") == []


# -- corruption ----------------------------------------------------------------------------------
@pytest.fixture
def small_run(tmp_path):
    write_fake_run(tmp_path, "c", steps=20, snapshot_every=10, n=60)
    return tmp_path, tmp_path / "c"


@pytest.mark.parametrize("content, match", [
    (b"{garbled", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"schema_version": 99, "status": "finished"}', "schema_version must be one of"),
    (b'{"schema_version": 1, "status": "exploded"}', "status must be one of"),
    (b"\xff\xfe\x00", "unreadable"),
])
def test_corrupt_run_json(small_run, content, match):
    store, path = small_run
    (path / "run.json").write_bytes(content)
    with pytest.raises(RunError, match=match) as info:
        open_run(store, "c")
    assert "\n" not in str(info.value) and "run.json" in str(info.value)


def test_missing_run(tmp_path):
    with pytest.raises(RunError, match="run nope not found"):
        open_run(tmp_path, "nope")


def test_corrupt_sqlite(small_run):
    store, path = small_run
    db = path / "metrics.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunError, match="metrics.sqlite") as info:
        open_run(store, "c")
    assert "\n" not in str(info.value)
    (summary,) = list_runs(store)
    assert summary.error and "metrics.sqlite" in summary.error and summary.status == "finished"


def test_truncated_sqlite_raises_on_read(small_run):
    store, path = small_run
    db = path / "metrics.sqlite"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    with pytest.raises(RunError, match="metrics.sqlite"):
        run = open_run(store, "c")
        run.scalars()
        run.vectors("proxy_grad")
        run.evals()


def _corrupt_npz(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_bytes(b"hello world, not an archive")


@pytest.mark.parametrize("how", ["truncated", "garbled", "empty", "text"])
def test_corrupt_snapshot(small_run, how):
    store, path = small_run
    snap = path / "snapshots" / "step_00000010.npz"
    _corrupt_npz(snap, how)
    run = open_run(store, "c")
    with pytest.raises(RunError, match="step_00000010.npz") as info:
        run.snapshot(10)
    assert "\n" not in str(info.value)
    assert run.snapshot(20).step == 20  # other snapshots unaffected


@pytest.mark.parametrize("arrays, match", [
    (dict(step=np.int64(10), embeddings=np.ones((4, 2), np.float32), labels=np.zeros(3, np.int64)), "labels"),
    (dict(step=np.int64(10), embeddings=np.ones((4, 2), np.float32), labels=np.zeros(4)), "integer dtype"),
    (dict(step=np.int64(11), embeddings=np.ones((4, 2), np.float32), labels=np.zeros(4, np.int64)), "step must be 10"),
    (dict(embeddings=np.ones((4, 2), np.float32), labels=np.zeros(4, np.int64)), "scalar integer 'step'"),
    (dict(step=np.int64(10), labels=np.zeros(4, np.int64)), "'embeddings' is required"),
])
def test_malformed_snapshot_arrays(small_run, arrays, match):
    store, path = small_run
    np.savez(path / "snapshots" / "step_00000010.npz", **arrays)
    with pytest.raises(RunError, match=match):
        open_run(store, "c").snapshot(10)


class _Payload:
    """Unpickling this calls open(marker, "w"), i.e. creates the marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_snapshot_is_refused_without_executing(small_run, tmp_path_factory):
    store, path = small_run
    probe = tmp_path_factory.mktemp("probe") / "probe-marker"
    pickle.loads(pickle.dumps(_Payload(str(probe)))).close()
    assert probe.exists(), "the payload must be live, or this test proves nothing"
    marker = tmp_path_factory.mktemp("marker") / "executed"
    obj = np.empty(4, dtype=object)
    obj[:] = [_Payload(str(marker))] * 4
    snap = path / "snapshots" / "step_00000010.npz"
    np.savez(snap, step=np.int64(10), embeddings=np.ones((4, 2), np.float32), labels=obj)
    with pytest.raises(RunError, match="step_00000010.npz"):
        open_run(store, "c").snapshot(10)
    # A raw pickle (no npz) under the snapshot's name is refused too.
    snap.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(RunError, match="step_00000010.npz"):
        open_run(store, "c").snapshot(10)
    assert not marker.exists()


# -- cost ----------------------------------------------------------------------------------------
def test_logging_is_cheap(tmp_path):
    """~25 scalars + 5 vectors (<= 1000 long) per step, amortised including commits."""
    rng = np.random.default_rng(0)
    scalars = {f"key/{i}": float(v) for i, v in enumerate(rng.random(25))}
    vectors = {f"vec/{i}": rng.random(1000).astype(np.float32) for i in range(5)}
    steps = 500
    with RunWriter.create(tmp_path, "cost", {}) as w:
        t0 = time.perf_counter()
        for step in range(steps):
            w.log_scalars(step, scalars)
            w.log_vectors(step, vectors)
        w.flush()
        per_step = (time.perf_counter() - t0) / steps
    print(f"logging cost: {per_step * 1e6:.0f} us/step")
    assert per_step < 2e-3  # target < 1 ms; slack for a shared 2-core machine
    run = open_run(tmp_path, "cost")
    assert run.scalars().shape == (steps, 25) and run.vectors("vec/4")[1].shape == (steps, 1000)


def test_a_writer_never_writes_through_a_symlinked_run_folder(tmp_path):
    import os

    from proxylab.store import RunError, RunWriter

    outside = tmp_path / "outside"
    with RunWriter.create(outside, "victim", {"config": {}}) as w:
        w.log_scalars(1, {"loss": 1.0})
        w.set_status("finished")
    before = {p.name: p.read_bytes() for p in (outside / "victim").iterdir() if p.is_file()}
    store = tmp_path / "store"
    store.mkdir()
    os.symlink(outside / "victim", store / "linked")
    for attempt in (lambda: RunWriter.open_existing(store, "linked"),
                    lambda: RunWriter.create(store, "linked", {"config": {}}, exist_ok=True)):
        with pytest.raises(RunError, match="is a symbolic link"):
            attempt()
    (store / "real").mkdir()
    os.symlink(outside / "victim" / "run.json", store / "real" / "run.json")
    with pytest.raises(RunError, match="run.json is a symbolic link"):
        RunWriter.open_existing(store, "real")
    after = {p.name: p.read_bytes() for p in (outside / "victim").iterdir() if p.is_file()}
    assert after == before


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from proxylab.store import RunWriter
    from proxylab.store import snapshot as snapshot_module

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with RunWriter.create(tmp_path, "full", {"config": {}}) as w:
        monkeypatch.setattr(snapshot_module.np, "savez", full)
        with pytest.raises(OSError, match=r"No space left on device while writing .*full/snapshots/step_00000003\.npz"):
            w.write_snapshot(3, embeddings=np.zeros((4, 2), np.float32), labels=np.zeros(4, np.int64))
        monkeypatch.undo()
        assert w.path.joinpath("snapshots").exists() and not list(w.path.joinpath("snapshots").iterdir())


@contextlib.contextmanager
def _read_only_view(folder):
    """`folder` as a path through which nothing can be written: permissions for a user, a read-only bind mount for
    root (whom permissions do not stop)."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        for sub in folder.rglob("*"):
            if sub.is_dir():
                os.chmod(sub, 0o555)
        try:
            yield folder
        finally:
            for sub in [folder, *folder.rglob("*")]:
                if sub.is_dir():
                    os.chmod(sub, 0o755)
        return
    view = folder.parent / (folder.name + "-ro")
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True).returncode == 0 and \
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True).returncode == 0
    try:
        if not mounted:
            pytest.skip("running as root without mount: no way to make a folder read-only here")
        yield view
    finally:
        if subprocess.run(["umount", str(view)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(view)], capture_output=True)  # busy: detach it now, free it later
        if not os.path.ismount(view):
            shutil.rmtree(view, ignore_errors=True)


def test_a_read_only_store_reads(tmp_path):
    import numpy as np

    from proxylab.store import RunWriter, open_run

    store = tmp_path / "store"
    with RunWriter.create(store, "r", {"config": {}}) as w:
        w.log_scalars(1, {"loss": 0.5})
        w.write_snapshot(1, embeddings=np.zeros((4, 2), np.float32), labels=np.zeros(4, np.int64))
        w.set_status("finished")
    assert not (store / "r" / "metrics.sqlite-wal").exists()  # a clean close leaves no WAL
    with _read_only_view(store) as view:
        run = open_run(view, "r")
        assert run.scalars()["loss"].tolist() == [0.5] and run.snapshot_steps() == [1]
