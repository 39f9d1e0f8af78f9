"""Torch-free reader of the run store: list runs, open one, read its time series and snapshots.

Safe to use while the trainer writes: the database is opened read-only per query (SQLite WAL
lets readers see every committed transaction without blocking the writer), run.json and snapshots
are replaced atomically, and a run whose status says ``running`` but whose lock is free is
reported as ``interrupted``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .db import check_database, query
from .layout import (
    METRICS_DB, RUN_JSON, STATUSES, SUPPORTED_SCHEMA_VERSIONS, RunError, check_step, run_dir, snapshot_path,
    snapshot_steps_in, validate_run_name,
)
from .images import read_eval_images
from .lock import is_locked
from .snapshot import Snapshot, read_snapshot_file


def read_meta(path: Path) -> dict[str, Any]:
    """Load and check ``path/run.json``; raise a one-line RunError if missing, garbled or unknown."""
    file = path / RUN_JSON
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{file}: missing (not a run folder)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{file}: unreadable ({type(exc).__name__})") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(meta, dict):
        raise RunError(f"{file}: expected a JSON object, got {type(meta).__name__}")
    version = meta.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise RunError(f"{file}: schema_version must be one of {list(SUPPORTED_SCHEMA_VERSIONS)}, got {version!r}")
    status = meta.get("status")
    if status not in STATUSES:
        raise RunError(f"{file}: status must be one of {', '.join(STATUSES)}, got {status!r}")
    return meta


def _effective_status(path: Path, meta: dict[str, Any]) -> str:
    status = meta["status"]
    if status == "running" and not is_locked(path):
        return "interrupted"
    return status


@dataclass(frozen=True)
class Progress:
    """How far a run got: last logged ``step`` and planned ``total_steps`` (None if unknown)."""

    step: int
    total_steps: int | None

    @property
    def fraction(self) -> float | None:
        """``step / total_steps`` clipped to [0, 1], or None when the total is unknown."""
        if not self.total_steps:
            return None
        return min(1.0, max(0.0, self.step / self.total_steps))


def _progress(meta: dict[str, Any], db_step: int | None) -> Progress:
    raw = meta.get("progress") or {}
    step = raw.get("step") if isinstance(raw, dict) else None
    total = raw.get("total_steps") if isinstance(raw, dict) else None
    step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else 0
    if db_step is not None:
        step = max(step, int(db_step))
    total = int(total) if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0 else None
    return Progress(step, total)


class Run:
    """A run of the store, opened for reading with :func:`open_run`.

    ``meta`` and ``status`` re-read run.json when it changed, so one ``Run`` follows a run that
    is still training. Every read raises a one-line :class:`RunError` on corrupt data.
    """

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.name = path.name
        self._meta = meta
        self._meta_stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path / RUN_JSON)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    @property
    def meta(self) -> dict[str, Any]:
        """The content of run.json (re-read when the file changed)."""
        stamp = self._stamp()
        if stamp != self._meta_stamp:
            self._meta = read_meta(self.path)
            self._meta_stamp = stamp
        return self._meta

    @property
    def config(self) -> dict[str, Any]:
        """The training configuration recorded in run.json (empty dict if none)."""
        return self.meta.get("config") or {}

    @property
    def status(self) -> str:
        """``running``, ``finished``, ``failed`` or ``interrupted`` (running with a free lock)."""
        return _effective_status(self.path, self.meta)

    @property
    def error(self) -> str | None:
        """The error text recorded for a failed or interrupted run, if any."""
        return self.meta.get("error")

    @property
    def progress(self) -> Progress:
        """Last step reached (from run.json and the database, whichever is further) and total steps."""
        rows = self._query("SELECT MAX(step) FROM scalars")
        return _progress(self.meta, rows[0][0] if rows else None)

    # -- time series -----------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / METRICS_DB

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return query(self.db_path, sql, params)

    def scalar_keys(self) -> list[str]:
        """Names of the scalars logged so far, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT key FROM scalars ORDER BY key")]

    def vector_keys(self) -> list[str]:
        """Names of the vectors logged so far, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT key FROM vectors ORDER BY key")]

    def scalars(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """Scalars as a wide DataFrame: index ``step`` (sorted), one float column per key.

        With ``keys``, exactly those columns in that order (all-NaN for a key never logged);
        without, every logged key in sorted order. Missing values (and logged NaN) are NaN.
        """
        if keys is None:
            rows = self._query("SELECT step, key, value FROM scalars")
            wanted = None
        else:
            wanted = [keys] if isinstance(keys, str) else list(keys)
            if not wanted:
                return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
            marks = ",".join("?" * len(wanted))
            rows = self._query(f"SELECT step, key, value FROM scalars WHERE key IN ({marks})", tuple(wanted))
        if rows:
            long = pd.DataFrame(rows, columns=["step", "key", "value"])
            long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float64")
            wide = long.pivot(index="step", columns="key", values="value").sort_index()
            wide.columns.name = None
        else:
            wide = pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
        wide.index = wide.index.astype("int64")
        wide.index.name = "step"
        columns = wanted if wanted is not None else sorted(wide.columns)
        return wide.reindex(columns=columns).astype("float64")

    def vectors(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Vector ``key`` over time: ``steps`` (T,) int64 and ``values`` (T, n) float32.

        An unknown key gives ``(T=0,)`` and ``(0, 0)`` arrays. Vectors of different lengths within
        one key, or a blob that is not float32 data, raise RunError.
        """
        rows = self._query("SELECT step, value FROM vectors WHERE key = ? ORDER BY step", (key,))
        steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return steps, np.zeros((0, 0), np.float32)
        blobs = [r[1] for r in rows]
        lengths = {len(b) for b in blobs if isinstance(b, (bytes, memoryview))}
        if len(lengths) != 1 or any(not isinstance(b, (bytes, memoryview)) for b in blobs):
            raise RunError(f"{self.db_path}: vector {key!r} has rows of different lengths or types")
        nbytes = lengths.pop()
        if nbytes % 4:
            raise RunError(f"{self.db_path}: vector {key!r} must hold float32 data, got a {nbytes}-byte blob")
        values = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(rows), nbytes // 4)
        return steps, values.astype(np.float32)

    def evals(self) -> pd.DataFrame:
        """Evaluation metrics in long form: columns ``step`` (int64), ``split``, ``metric``, ``value``."""
        rows = self._query("SELECT step, split, metric, value FROM evals ORDER BY step, split, metric")
        frame = pd.DataFrame(rows, columns=["step", "split", "metric", "value"])
        frame["step"] = frame["step"].astype("int64")
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
        return frame

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot_steps(self) -> list[int]:
        """Steps that have a complete snapshot file, sorted."""
        return snapshot_steps_in(self.path)

    def snapshot_path(self, step: int) -> Path:
        """Path of the snapshot file of ``step`` (it may not exist)."""
        return snapshot_path(self.path, check_step(step))

    def snapshot(self, step: int) -> Snapshot:
        """Load the snapshot of ``step``; a missing, truncated or malformed file raises RunError."""
        step = check_step(step)
        return read_snapshot_file(snapshot_path(self.path, step), step)

    def eval_images(self) -> np.ndarray | None:
        """Thumbnails (N, H, W, C) uint8 of the snapshot rows for image datasets, else None."""
        return read_eval_images(self.path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def open_run(store: str | os.PathLike, name: str) -> Run:
    """Open run ``store/name`` for reading; a missing or corrupt run raises a one-line RunError."""
    path = run_dir(store, name)
    if not path.is_dir():
        raise RunError(f"run {name} not found in {store}")
    meta = read_meta(path)
    check_database(path / METRICS_DB)
    return Run(path, meta)


@dataclass(frozen=True)
class RunSummary:
    """One line of :func:`list_runs`. ``error`` says why the run cannot be opened (None if it can).

    The run's own failure message (for a failed run) is ``meta["error"]`` / :attr:`run_error`.
    """

    name: str
    path: Path
    status: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    progress: Progress | None = None
    snapshots: int = 0
    error: str | None = None

    @property
    def created(self) -> str | None:
        return self.meta.get("created")

    @property
    def updated(self) -> str | None:
        return self.meta.get("updated")

    @property
    def run_error(self) -> str | None:
        """Error text the writer recorded (failed / interrupted runs)."""
        return self.meta.get("error")

    @property
    def ok(self) -> bool:
        return self.error is None


def _summarise(path: Path) -> RunSummary:
    name = path.name
    try:
        meta = read_meta(path)
    except RunError as exc:
        return RunSummary(name=name, path=path, status=None, error=str(exc))
    try:
        check_database(path / METRICS_DB)
        rows = query(path / METRICS_DB, "SELECT MAX(step) FROM scalars")
        progress = _progress(meta, rows[0][0] if rows else None)
        problem = None
    except RunError as exc:
        progress, problem = _progress(meta, None), str(exc)
    return RunSummary(name=name, path=path, status=_effective_status(path, meta), meta=meta, progress=progress,
                      snapshots=len(snapshot_steps_in(path)), error=problem)


def list_runs(store: str | os.PathLike) -> list[RunSummary]:
    """Summaries of the runs in ``store``, most recently updated first; never raises for a bad run.

    Sub-folders whose names are not valid run names (hidden folders, ``__pycache__``…) are
    skipped; a folder with a valid name but no readable run.json is listed with ``error`` set. A
    missing store gives an empty list.
    """
    store = Path(store)
    try:
        entries = sorted(os.scandir(store), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if not entry.is_dir():
            continue
        try:
            validate_run_name(entry.name)
        except RunError:
            continue
        out.append(_summarise(Path(entry.path)))
    out.sort(key=lambda s: (s.updated or "", s.name), reverse=True)
    return out
