"""Names, paths and errors of the run store: one folder per run under a store directory.

Everything here is stdlib-only so that ``import proxylab.store`` stays cheap (no torch, umap,
sklearn or streamlit).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

#: version of the on-disk layout written by :class:`proxylab.store.RunWriter` (docs/architecture.md).
SCHEMA_VERSION = 1
#: schema versions this reader understands.
SUPPORTED_SCHEMA_VERSIONS = (1,)

RUN_JSON = "run.json"
METRICS_DB = "metrics.sqlite"
SNAPSHOT_DIR = "snapshots"
PROJECTION_DIR = "projections"
WEIGHTS_DIR = "weights"
LOCK_FILE = ".lock"

STATUSES = ("running", "finished", "failed", "interrupted")

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SNAPSHOT_NAME = re.compile(r"^step_(\d{8})\.npz$")


class RunError(ValueError):
    """A run is missing, corrupt, locked by another writer, or was given bad input (one-line message)."""


class RunExistsError(RunError):
    """A new run was asked for under a name that is taken. The message advises the Python API (``exist_ok=True``);
    ``name`` and ``store`` let a caller with options of its own (the CLI) advise those instead."""

    def __init__(self, name: str, store: str):
        super().__init__(f"run {name} already exists in {store}; pick another name or pass exist_ok=True")
        self.name = name
        self.store = store


def validate_run_name(name: object) -> str:
    """Return ``name`` if it is a safe run-folder name, else raise :class:`RunError`.

    A name is 1–100 characters of ``A-Z a-z 0-9 . _ -``, starts with a letter or digit and does
    not contain ``..``; so it can never escape the store (no ``/``, no NUL, not absolute).
    """
    if not isinstance(name, str):
        raise RunError(f"run name must be a str, got {type(name).__name__} {name!r}")
    if not _RUN_NAME.fullmatch(name) or ".." in name:  # fullmatch: '$' alone would accept a trailing newline
        raise RunError(
            "run name must be 1-100 characters of A-Z a-z 0-9 . _ -, start with a letter or digit "
            f"and not contain '..', got {name!r}"
        )
    return name


def default_store() -> Path:
    """The run store: env ``PROXYLAB_STORE`` if set and non-empty, else ``./checkpoints``."""
    return Path(os.environ.get("PROXYLAB_STORE") or "checkpoints")


def run_dir(store: str | os.PathLike, name: str) -> Path:
    """Folder of run ``name`` inside ``store`` (the name is validated first)."""
    return Path(store) / validate_run_name(name)


def snapshot_path(path: Path, step: int) -> Path:
    """File of the snapshot taken at ``step`` inside run folder ``path``."""
    return path / SNAPSHOT_DIR / f"step_{step:08d}.npz"


def snapshot_steps_in(path: Path) -> list[int]:
    """Steps of the complete snapshot files in run folder ``path``, sorted (temp files are ignored)."""
    folder = path / SNAPSHOT_DIR
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    steps = []
    for fname in names:
        m = _SNAPSHOT_NAME.match(fname)
        if m:
            steps.append(int(m.group(1)))
    return sorted(steps)


def check_step(step: object, what: str = "step") -> int:
    """Return ``step`` as an int if it is a non-negative integer (not bool), else raise RunError."""
    import numbers

    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise RunError(f"{what} must be an int >= 0, got {step!r}")
    return int(step)
