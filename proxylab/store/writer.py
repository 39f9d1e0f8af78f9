"""``RunWriter``: the one process writing a run (meta, time series, snapshots), crash-safe.

Time series are buffered in memory and written to SQLite with ``executemany`` in one transaction
every ``commit_every`` steps or ``commit_interval_s`` seconds, whichever comes first, and on
:meth:`RunWriter.flush`, :meth:`RunWriter.write_snapshot` and :meth:`RunWriter.close`. A crash
loses at most the uncommitted buffer; everything committed stays readable.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_json, fsync_files, remove_stale_temp_files
from .db import check_database, connect_writer
from .layout import (
    METRICS_DB, PROJECTION_DIR, RUN_JSON, SCHEMA_VERSION, SNAPSHOT_DIR, STATUSES, WEIGHTS_DIR, RunError,
    RunExistsError, check_step, run_dir, snapshot_path, snapshot_steps_in,
)
from .lock import acquire_lock, release_lock
from .snapshot import normalize_snapshot_arrays, write_snapshot_file

#: run.json fields the writer owns; callers cannot set them through ``meta`` / ``update_meta``.
RESERVED_META = ("schema_version", "name", "status", "created", "updated", "pid", "error")


def utc_now() -> str:
    """Current time as ISO 8601 UTC with milliseconds, e.g. ``2025-01-31T12:00:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"proxylab": __version__, "python": platform.python_version(), "numpy": np.__version__}


def _check_key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key:
        raise RunError(f"{what} key must be a non-empty str, got {key!r}")
    return key


def _to_float(value: object, what: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RunError(f"{what} must be a real number, got {value!r}") from None


def refuse_links(path: Path) -> None:
    """Refuse to write through a symbolic link: a run folder (or its run.json, database, snapshot, projection or
    weights entry) that links elsewhere would make a writer change files outside the store."""
    for entry in (path, *(path / e for e in (RUN_JSON, METRICS_DB, METRICS_DB + "-wal", METRICS_DB + "-shm",
                                             SNAPSHOT_DIR, PROJECTION_DIR, WEIGHTS_DIR))):
        if entry.is_symlink():
            raise RunError(f"{entry} is a symbolic link; a run is only written inside its store (copy the run "
                           "instead of linking it)")


class RunWriter:
    """Writes one run of the store; holds the run's exclusive lock until :meth:`close`.

    Create with :meth:`create` (new run) or :meth:`open_existing` (resume), not directly. Use as a
    context manager: on an exception inside ``with`` the run is marked ``failed`` (``interrupted``
    for ``KeyboardInterrupt``) with the error text, then closed. A normal exit leaves the status as
    set — call ``set_status("finished")`` when training completes.

    Parameters
    ----------
    commit_every : int
        Commit buffered rows at least every this many logged steps.
    commit_interval_s : float
        ... or when this many seconds passed since the last commit (checked when logging).
    """

    def __init__(self, path: Path, name: str, lock_fd: int, meta: dict[str, Any], *,
                 commit_every: int = 50, commit_interval_s: float = 1.0):
        self.path = path
        self.name = name
        self._lock_fd: int | None = lock_fd
        self._meta = meta
        self._con = connect_writer(path / METRICS_DB)
        self.commit_every = int(commit_every)
        self.commit_interval_s = float(commit_interval_s)
        self._scalars: list[tuple[int, str, float]] = []
        self._vectors: list[tuple[int, str, bytes]] = []
        self._evals: list[tuple[int, str, str, float]] = []
        self._steps_since_commit = 0
        self._last_commit = time.monotonic()
        self._last_step: int | None = None
        self._buffer_step: int | None = None
        self._original_meta: bytes | None = None  # run.json's bytes before open_existing changed it

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def create(cls, store: str | os.PathLike, name: str, meta: Mapping[str, Any] | None = None, *,
               exist_ok: bool = False, **options: Any) -> "RunWriter":
        """Start a new run ``store/name`` with ``meta`` (config, seed, dataset, progress, …).

        With ``exist_ok=True`` an existing run of that name is replaced: once its lock is held, its
        metrics, snapshots, projections and weights are deleted. Raises :class:`RunError` if the
        run exists (and not ``exist_ok``) or another process is writing it.
        """
        path = run_dir(store, name)
        refuse_links(path)
        meta = dict(meta or {})
        bad = sorted(set(meta) & set(RESERVED_META))
        if bad:
            raise RunError(f"meta must not set {', '.join(bad)} (the writer owns them), got them for run {name}")
        try:
            json.dumps(meta, default=lambda o: o.tolist() if hasattr(o, "tolist") else os.fspath(o))
        except (TypeError, ValueError) as exc:
            raise RunError(f"meta for run {name} must be JSON-serialisable, got {exc}") from None
        if path.exists() and not exist_ok and (path / RUN_JSON).exists():
            raise RunExistsError(name, str(store))
        path.mkdir(parents=True, exist_ok=True)
        fd = acquire_lock(path, name)
        try:
            if (path / RUN_JSON).exists() and not exist_ok:
                raise RunExistsError(name, str(store))
            for sub in (SNAPSHOT_DIR, PROJECTION_DIR, WEIGHTS_DIR):
                shutil.rmtree(path / sub, ignore_errors=True)
            for fname in (METRICS_DB, METRICS_DB + "-wal", METRICS_DB + "-shm"):
                try:
                    os.unlink(path / fname)
                except FileNotFoundError:
                    pass
            (path / SNAPSHOT_DIR).mkdir()
            now = utc_now()
            full = {
                "schema_version": SCHEMA_VERSION, "name": name, "status": "running",
                "created": now, "updated": now, "pid": os.getpid(), "error": None,
                "source": "proxylab", "progress": {"step": 0, "total_steps": None},
                "versions": _versions(),
            }
            full.update(meta)
            full["progress"] = {"step": 0, "total_steps": None, **dict(full.get("progress") or {})}
            # the database's tables before run.json: a run is visible only once it is readable (a Ctrl-C or
            # kill -9 here leaves a folder without run.json, which the next create of that name clears)
            connect_writer(path / METRICS_DB).close()
            atomic_write_json(path / RUN_JSON, full)
            return cls(path, name, fd, full, **options)
        except BaseException:
            release_lock(fd)
            raise

    @classmethod
    def open_existing(cls, store: str | os.PathLike, name: str, **options: Any) -> "RunWriter":
        """Re-open run ``store/name`` to continue it (resume): takes the lock and keeps all data.

        The status becomes ``running`` again and the error is cleared; call :meth:`truncate_after`
        with the step of the restored checkpoint to drop anything logged after it.
        """
        from .reader import read_meta  # late: the reader imports nothing from here

        path = run_dir(store, name)
        refuse_links(path)
        if not (path / RUN_JSON).exists():
            raise RunError(f"run {name} not found in {store} (no {RUN_JSON})")
        fd = acquire_lock(path, name)
        writer = None
        try:
            original = (path / RUN_JSON).read_bytes()
            meta = read_meta(path)
            if meta.get("read_only"):  # imported runs are evidence of someone else's training: never appended to
                raise RunError(f"run {name} is read-only (imported from {meta.get('source', 'elsewhere')}); "
                               "it cannot be resumed or written to — import or train a new run instead")
            check_database(path / METRICS_DB)  # a database that is not this run's is refused, never "repaired"
            writer = cls(path, name, fd, meta, **options)  # opens the database: a corrupt one fails here
            writer._original_meta = original
            remove_stale_temp_files(path)
            remove_stale_temp_files(path / SNAPSHOT_DIR)
            remove_stale_temp_files(path / PROJECTION_DIR)
            remove_stale_temp_files(path / WEIGHTS_DIR)  # a kill -9 during a checkpoint write leaves one here
            (path / SNAPSHOT_DIR).mkdir(exist_ok=True)
            meta.pop("stop", None)  # how the previous session ended no longer describes the run
            meta.update(status="running", error=None, pid=os.getpid(), updated=utc_now())
            atomic_write_json(path / RUN_JSON, meta)
        except BaseException:
            if writer is not None:
                writer.abandon()
            else:
                release_lock(fd)
            raise
        return writer

    def abandon(self) -> None:
        """Give up a resume that could not start: drop buffered rows, put run.json back as it was when
        :meth:`open_existing` read it, and release the lock (idempotent). Nothing else is written."""
        if self._lock_fd is None:
            return
        try:
            self._scalars, self._vectors, self._evals = [], [], []
            original = self._original_meta
            if original is not None and (self.path / RUN_JSON).read_bytes() != original:
                atomic_write_bytes(self.path / RUN_JSON, original)
        finally:
            self._release()

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.closed:
            return
        try:
            if exc_type is not None:
                text = f"{exc_type.__name__}: {exc}".splitlines()[0] if str(exc) else exc_type.__name__
                status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
                self.set_status(status, error=text)
        finally:
            self.close()

    # -- meta ------------------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        """A copy of the run.json content as last written."""
        return json.loads(json.dumps(self._meta))

    @property
    def meta_when_opened(self) -> dict[str, Any] | None:
        """run.json as it was before :meth:`open_existing` marked the run running again (how the previous
        session left it: ``finished``, ``interrupted``, ...); ``None`` for a run this writer created."""
        return None if self._original_meta is None else json.loads(self._original_meta)

    @property
    def closed(self) -> bool:
        return self._lock_fd is None

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise RunError(f"run {self.name}: the writer is closed")

    def _write_meta(self) -> None:
        self._meta["updated"] = utc_now()
        if self._last_step is not None:
            progress = dict(self._meta.get("progress") or {})
            progress["step"] = max(int(progress.get("step") or 0), self._last_step)
            self._meta["progress"] = progress
        atomic_write_json(self.path / RUN_JSON, self._meta)

    def update_meta(self, **fields: Any) -> None:
        """Set top-level run.json fields (e.g. ``progress={"step": 10, "total_steps": 500}``) atomically."""
        self._check_open()
        bad = sorted(set(fields) & set(RESERVED_META))
        if bad:
            raise RunError(f"update_meta cannot set {', '.join(bad)} (use set_status for status/error)")
        self._meta.update(fields)
        self._write_meta()

    def set_status(self, status: str, error: str | None = None) -> None:
        """Set the run's status (``running``, ``finished``, ``failed``, ``interrupted``) and error text."""
        self._check_open()
        if status not in STATUSES:
            raise RunError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if error is not None and not isinstance(error, str):
            raise RunError(f"error must be a str or None, got {type(error).__name__}")
        self.flush(write_meta=False)
        self._meta["status"] = status
        self._meta["error"] = error
        self._write_meta()

    # -- time series -----------------------------------------------------------------------------
    def _note_step(self, step: int) -> None:
        if step != self._buffer_step and (self._last_step is None or step > self._last_step):
            self._buffer_step = step  # a new step (rows of earlier ones, e.g. their statistics, do not count)
            self._steps_since_commit += 1
        if self._last_step is None or step > self._last_step:
            self._last_step = step
        if (self._steps_since_commit >= self.commit_every
                or time.monotonic() - self._last_commit >= self.commit_interval_s):
            self._commit()

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        """Record scalar ``values`` (key → real number; NaN is stored as missing) at ``step``."""
        self._check_open()
        step = check_step(step)
        rows = self._scalars
        for key, value in values.items():
            _check_key(key, "scalar")
            rows.append((step, key, _to_float(value, f"scalar {key!r}")))
        self._note_step(step)

    def log_vectors(self, step: int, values: Mapping[str, Any]) -> None:
        """Record 1-D vectors (key → array-like, stored as little-endian float32) at ``step``."""
        self._check_open()
        step = check_step(step)
        rows = self._vectors
        for key, value in values.items():
            _check_key(key, "vector")
            try:
                arr = np.asarray(value, dtype="<f4")
            except (TypeError, ValueError):
                raise RunError(f"vector {key!r} must be a 1-D array of numbers, got {type(value).__name__}") from None
            if arr.ndim != 1:
                raise RunError(f"vector {key!r} must be 1-D, got shape {arr.shape}")
            rows.append((step, key, arr.tobytes()))
        self._note_step(step)

    def log_steps(self, scalars: Sequence[tuple[int, Mapping[str, float]]],
                  vectors: Sequence[tuple[int, Mapping[str, np.ndarray]]] = ()) -> None:
        """:meth:`log_scalars` and :meth:`log_vectors` of many steps at once (a logging window): each distinct
        step and key is checked once, values must already be floats and 1-D float32 arrays."""
        self._check_open()
        for key in {key for _, values in (*scalars, *vectors) for key in values}:
            _check_key(key, "scalar or vector")
        steps = sorted({step for step, _ in (*scalars, *vectors)})
        for step in steps:
            check_step(step)
        self._scalars.extend((step, key, value) for step, values in scalars for key, value in values.items())
        for step, values in vectors:
            for key, arr in values.items():
                if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype != np.float32:
                    raise RunError(f"vector {key!r} must be a 1-D float32 array, got {type(arr).__name__}")
                self._vectors.append((step, key, arr.astype("<f4", copy=False).tobytes()))
        for step in steps:
            self._note_step(step)

    def log_eval(self, step: int, split: str, metrics: Mapping[str, Any]) -> None:
        """Record evaluation ``metrics`` (name → value) computed on ``split`` (e.g. ``"test"``) at ``step``."""
        self._check_open()
        step = check_step(step)
        _check_key(split, "eval split")
        for metric, value in metrics.items():
            _check_key(metric, "eval metric")
            self._evals.append((step, split, metric, _to_float(value, f"eval metric {metric!r}")))
        self._note_step(step)

    def _commit(self) -> None:
        con = self._con
        if self._scalars or self._vectors or self._evals:
            con.execute("BEGIN")
            try:
                if self._scalars:
                    con.executemany("INSERT OR REPLACE INTO scalars VALUES (?, ?, ?)", self._scalars)
                if self._vectors:
                    con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", self._vectors)
                if self._evals:
                    con.executemany("INSERT OR REPLACE INTO evals VALUES (?, ?, ?, ?)", self._evals)
                con.execute("COMMIT")
            except BaseException as exc:
                con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):  # "database or disk is full" names no file: say which
                    raise RunError(f"{self.path / METRICS_DB}: cannot write the metrics ({exc})") from None
                raise
            self._scalars, self._vectors, self._evals = [], [], []
        self._steps_since_commit = 0
        self._last_commit = time.monotonic()

    def flush(self, write_meta: bool = True) -> None:
        """Commit buffered rows now (and record the progress step in run.json)."""
        self._check_open()
        self._commit()
        if write_meta:
            self._write_meta()

    # -- snapshots -------------------------------------------------------------------------------
    def write_snapshot(self, step: int, *, durable: bool = True, **arrays: Any) -> Path:
        """Store the snapshot of ``step`` atomically; see :class:`proxylab.store.Snapshot` for the arrays.

        Buffered time series are committed first, so a reader that sees the snapshot also sees
        the metrics logged up to it. ``durable=False`` skips the fsync (a process crash still leaves no partial
        file; a power loss could) until :meth:`sync_snapshots`. Returns the snapshot's path.
        """
        self._check_open()
        step = check_step(step)
        path = snapshot_path(self.path, step)
        snap = normalize_snapshot_arrays(step, arrays, f"write_snapshot(step={step})")
        self._commit()
        write_snapshot_file(path, snap, durable=durable)
        if self._last_step is None or step > self._last_step:
            self._last_step = step
        self._write_meta()
        return path

    def sync_snapshots(self) -> None:
        """fsync every snapshot file and their folder (after writes with ``durable=False``)."""
        self._check_open()
        fsync_files(snapshot_path(self.path, step) for step in snapshot_steps_in(self.path))

    # -- resume ----------------------------------------------------------------------------------
    def truncate_after(self, step: int) -> None:
        """Delete every row and snapshot logged after ``step`` (resume from the checkpoint at ``step``).

        The projection cache is cleared too, since snapshots after ``step`` will be rewritten.
        """
        self._check_open()
        step = check_step(step)
        self._commit()
        con = self._con
        con.execute("BEGIN")
        for table in ("scalars", "vectors", "evals"):
            con.execute(f"DELETE FROM {table} WHERE step > ?", (step,))
        con.execute("COMMIT")
        for s in snapshot_steps_in(self.path):
            if s > step:
                os.unlink(snapshot_path(self.path, s))
        shutil.rmtree(self.path / PROJECTION_DIR, ignore_errors=True)
        self._last_step = step
        progress = dict(self._meta.get("progress") or {})
        progress["step"] = step
        self._meta["progress"] = progress
        self._write_meta()

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Commit, write run.json, close the database and release the lock (idempotent)."""
        if self._lock_fd is None:
            return
        try:
            self._commit()
            self._write_meta()
        finally:
            self._release()

    def _release(self) -> None:
        """Close the database, then release the run's lock (even if closing fails)."""
        try:
            self._con.close()
        finally:
            fd, self._lock_fd = self._lock_fd, None
            release_lock(fd)

    def __del__(self) -> None:  # pragma: no cover - best effort for a forgotten close()
        if getattr(self, "_lock_fd", None) is not None:
            try:
                self.close()
            except Exception:
                pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"RunWriter({str(self.path)!r}, {state})"
