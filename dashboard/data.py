"""Cached access to the run store for the pages (through proxylab.store only).

Cache keys carry a `stamp` of the run's files (mtimes), so a run that is still training refreshes as soon
as the trainer commits, while a finished run is read once. Snapshots are immutable per step.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from proxylab.store import RunError, Snapshot, list_runs, open_run
from proxylab.store.layout import METRICS_DB, RUN_JSON, SNAPSHOT_DIR, snapshot_path


def store_path(argv: list[str] | None = None) -> Path:
    """The run store: `--store DIR` among the script's arguments, else $PROXYLAB_STORE, else ./checkpoints.

    `streamlit run dashboard/app.py -- --store DIR` hands the script sys.argv = [app.py, --store, DIR].
    """
    args = (sys.argv if argv is None else argv)[1:]
    for i, arg in enumerate(args):
        if arg == "--store" and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--store="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("PROXYLAB_STORE") or "checkpoints")


def run_stamp(store: Path, name: str) -> tuple:
    """Modification times of the files a live run changes; part of every cache key of that run."""
    stamp = []
    for rel in (RUN_JSON, METRICS_DB, METRICS_DB + "-wal", SNAPSHOT_DIR):
        try:
            stamp.append(os.stat(Path(store) / name / rel).st_mtime_ns)
        except FileNotFoundError:
            stamp.append(None)
    return tuple(stamp)


def store_signature(store: Path) -> tuple:
    """(name, run.json mtime, snapshots mtime) of every run folder: changes when a run starts, commits or
    snapshots. A few stat calls, no file reads, so the page can poll it every few seconds."""
    entries = []
    try:
        folders = sorted(e.name for e in os.scandir(store) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return ()
    for name in folders:
        entries.append((name, *run_stamp(Path(store), name)[::3]))  # run.json and snapshots/
    return tuple(entries)


def _typed(value, kind: type):
    """`value` if it is of `kind` (a bool is no number; an int is a float), else None: a config written by a loop
    of the user's own may hold anything under any key, and the runs table shows only what it can read."""
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


def _count(value) -> int | None:
    """A positive int config value (K, d), else None."""
    value = _typed(value, int)
    return value if value is not None and value >= 1 else None


def runs_table(store: Path) -> pd.DataFrame:
    """One row per run folder (corrupt ones included, with their error). Not cached: a directory scan."""
    rows = []
    for summary in list_runs(store):
        config = summary.meta.get("config")
        config = config if isinstance(config, dict) else {}
        progress = summary.progress
        tags = summary.meta.get("tags")
        rows.append({
            "name": summary.name, "status": summary.status or "corrupt",
            "loss": _typed(config.get("loss"), str), "K": _count(config.get("proxies_per_class")),
            "SO weight": _typed(config.get("so_weight"), float), "d": _count(config.get("embedding_dim")),
            "model": _typed(config.get("model"), str), "seed": _typed(config.get("seed"), int),
            "data": _typed(config.get("data"), str), "tags": [t for t in tags if isinstance(t, str)]
            if isinstance(tags, list) else [],
            "step": progress.step if progress else None,
            "total steps": progress.total_steps if progress else None,
            "progress": progress.fraction if progress and progress.fraction is not None else None,
            "snapshots": summary.snapshots, "updated": summary.updated,
            "error": summary.error or summary.run_error,
            "openable": summary.ok, "source": summary.meta.get("source") or "proxylab",
        })
    columns = ["name", "status", "loss", "K", "SO weight", "d", "model", "seed", "data", "tags", "step", "total steps",
               "progress", "snapshots", "updated", "error", "openable", "source"]
    return pd.DataFrame(rows, columns=columns)


@st.cache_data(show_spinner=False, max_entries=64)
def meta(store: str, name: str, stamp: tuple) -> dict:
    run = open_run(store, name)
    return {"meta": run.meta, "status": run.status}


@st.cache_data(show_spinner=False, max_entries=64)
def scalars(store: str, name: str, stamp: tuple, keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Wide frame: index step, one column per key."""
    return open_run(store, name).scalars(list(keys) if keys is not None else None)


@st.cache_data(show_spinner=False, max_entries=64)
def scalar_keys(store: str, name: str, stamp: tuple) -> list[str]:
    return open_run(store, name).scalar_keys()


@st.cache_data(show_spinner=False, max_entries=64)
def vectors(store: str, name: str, stamp: tuple, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps (T,), values (T, n)) of a per-step vector."""
    return open_run(store, name).vectors(key)


@st.cache_data(show_spinner=False, max_entries=64)
def evals(store: str, name: str, stamp: tuple) -> pd.DataFrame:
    return open_run(store, name).evals()


@st.cache_data(show_spinner=False, max_entries=32)
def _snapshot(store: str, name: str, step: int, mtime: int | None) -> Snapshot:
    return open_run(store, name).snapshot(step)


def snapshot(store: str, name: str, step: int) -> Snapshot:
    """The snapshot of `step` (cached; a resumed run that rewrote the file is re-read)."""
    try:
        mtime = os.stat(snapshot_path(Path(store) / name, step)).st_mtime_ns
    except FileNotFoundError:
        mtime = None
    return _snapshot(str(store), name, step, mtime)


@st.cache_data(show_spinner=False, max_entries=16)
def eval_images(store: str, name: str) -> np.ndarray | None:
    """Thumbnails of the snapshot rows (image data only; written once when the run starts)."""
    try:
        return open_run(store, name).eval_images()
    except RunError:  # a damaged thumbnail file only costs the thumbnails
        return None


def snapshot_steps(store: str, name: str) -> list[int]:
    return open_run(store, name).snapshot_steps()


def proxies_per_class(store: str, name: str) -> int:
    """K of run `name`: from its stored proxies (what its vectors are laid out by), else its config, else 1."""
    shape = proxy_shape(store, name, snapshot_steps(store, name))
    if shape is not None:
        return shape[1]
    config = meta(store, name, run_stamp(Path(store), name))["meta"].get("config")
    return _count(config.get("proxies_per_class") if isinstance(config, dict) else None) or 1


def proxy_shape(store: str, name: str, steps: list[int] | tuple[int, ...]) -> tuple[int, int] | None:
    """(C, K) of the proxies in the latest of `steps` whose snapshot has proxies; None when none has. A run logged
    or imported with proxies at some steps only (or once) has them there and nowhere else."""
    for step in reversed(list(steps)):
        proxies = snapshot(store, name, step).proxies
        if proxies is not None:
            return int(proxies.shape[0]), int(proxies.shape[1])
    return None


def long_scalars(frames: dict[str, pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Wide per-run scalar frames → one long frame (run, step, key, value), NaN rows dropped."""
    parts = []
    for run, wide in frames.items():
        present = [k for k in keys if k in wide.columns]
        if present:
            long = wide[present].reset_index().melt(id_vars="step", var_name="key", value_name="value")
            parts.append(long.assign(run=run))
    if not parts:
        return pd.DataFrame(columns=["run", "step", "key", "value"])
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])[["run", "step", "key", "value"]]


def class_labels(names: list[str] | None, count: int) -> list[str]:
    """A name for each of `count` classes: the run's own where it has one (a run may name fewer), else "class i"."""
    return [names[i] if names and i < len(names) else f"class {i}" for i in range(count)]


def class_names(meta_doc: dict) -> list[str] | None:
    """Names indexing snapshot labels (train classes, then unseen test classes), if the run recorded them."""
    dataset = meta_doc.get("dataset") or {}
    names = dataset.get("snapshot_class_names") or dataset.get("class_names")
    return [str(n) for n in names] if names else None


__all__ = ["RunError", "store_path", "run_stamp", "runs_table", "meta", "scalars", "scalar_keys", "vectors",
           "evals", "snapshot", "snapshot_steps", "proxy_shape", "proxies_per_class", "long_scalars", "class_names", "class_labels"]
