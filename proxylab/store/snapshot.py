"""Snapshots: the arrays of one training step (embeddings, labels, modes, split, proxies, …).

Stored as ``snapshots/step_%08d.npz`` (``np.savez``, never pickled). The same checks run when the
writer stores a snapshot and when the reader loads one, so a file that passes is always usable.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_write
from .layout import RunError

#: arrays a snapshot may hold, besides ``step``; ``embeddings`` and ``labels`` are required.
SNAPSHOT_ARRAYS = ("embeddings", "labels", "modes", "split", "index", "proxies", "grad_norm")
REQUIRED_ARRAYS = ("embeddings", "labels")


@dataclass(frozen=True)
class Snapshot:
    """Arrays of one snapshot (see docs/architecture.md, "Run store").

    Attributes
    ----------
    step : int
        Training step the snapshot was taken at.
    embeddings : ndarray of shape (N, d), float32
        Raw (not normalised) embeddings of the evaluation subset.
    labels : ndarray of shape (N,), int64
        Class labels.
    modes : ndarray of shape (N,), int64
        Ground-truth mode ids, -1 where unknown.
    split : ndarray of shape (N,), int8
        0 for training points, 1 for test points.
    index : ndarray of shape (N,), int64
        Row of each point in its split's dataset.
    grad_norm : ndarray of shape (N,), float32
        Per-sample ‖∂L/∂f(x)‖, NaN where not computed.
    proxies : ndarray of shape (C, K, d), float32, or None
        Raw proxies; None for losses without proxies.
    """

    step: int
    embeddings: np.ndarray
    labels: np.ndarray
    modes: np.ndarray
    split: np.ndarray
    index: np.ndarray
    grad_norm: np.ndarray
    proxies: np.ndarray | None = None

    @property
    def num_points(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The snapshot as a name → array dict (``proxies`` omitted when None)."""
        out = {name: getattr(self, name) for name in SNAPSHOT_ARRAYS if getattr(self, name) is not None}
        return out


def _as(arr: Any, name: str, kind: str, dtype: np.dtype, where: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind not in kind:
        expected = {"f": "floating", "iu": "integer"}.get(kind, kind)
        raise RunError(f"{where}: {name} must have a {expected} dtype, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def normalize_snapshot_arrays(step: int, arrays: Mapping[str, Any], where: str) -> Snapshot:
    """Check names, shapes and dtypes of snapshot arrays and return a :class:`Snapshot`.

    Floating arrays are cast to float32 and integer arrays to int64 (``split`` to int8); missing
    optional arrays get their defaults (modes -1, split 0, index 0..N-1, grad_norm NaN,
    proxies None). Anything else raises :class:`RunError` naming ``where``.
    """
    unknown = sorted(set(arrays) - set(SNAPSHOT_ARRAYS))
    if unknown:
        raise RunError(f"{where}: unknown snapshot array(s) {', '.join(unknown)}; valid: {', '.join(SNAPSHOT_ARRAYS)}")
    for name in REQUIRED_ARRAYS:
        if arrays.get(name) is None:
            raise RunError(f"{where}: snapshot array {name!r} is required, got none")
    emb = _as(arrays["embeddings"], "embeddings", "f", np.float32, where)
    if emb.ndim != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
        raise RunError(f"{where}: embeddings must have shape (N, d) with N, d >= 1, got {emb.shape}")
    n, d = emb.shape

    def vec(name: str, kind: str, dtype, default):
        value = arrays.get(name)
        if value is None:
            return default
        a = _as(value, name, kind, dtype, where)
        if a.shape != (n,):
            raise RunError(f"{where}: {name} must have shape ({n},) like embeddings, got {a.shape}")
        return a

    labels = vec("labels", "iu", np.int64, None)
    modes = vec("modes", "iu", np.int64, np.full(n, -1, np.int64))
    split = vec("split", "iub", np.int8, np.zeros(n, np.int8))
    if split.size and (split.min() < 0 or split.max() > 1):
        raise RunError(f"{where}: split must hold 0 (train) or 1 (test), got values in [{split.min()}, {split.max()}]")
    index = vec("index", "iu", np.int64, np.arange(n, dtype=np.int64))
    grad_norm = vec("grad_norm", "f", np.float32, np.full(n, np.nan, np.float32))
    proxies = arrays.get("proxies")
    if proxies is not None:
        proxies = _as(proxies, "proxies", "f", np.float32, where)
        if proxies.ndim != 3 or proxies.shape[0] < 1 or proxies.shape[1] < 1 or proxies.shape[2] != d:
            raise RunError(f"{where}: proxies must have shape (C, K, {d}) with C, K >= 1, got {proxies.shape}")
    return Snapshot(step=int(step), embeddings=emb, labels=labels, modes=modes, split=split, index=index,
                    grad_norm=grad_norm, proxies=proxies)


def write_snapshot_file(path: Path, snapshot: Snapshot, *, durable: bool = True) -> None:
    """Write ``snapshot`` to ``path`` as an uncompressed .npz, atomically (see :func:`atomic_write` for `durable`)."""
    arrays = {"step": np.asarray(snapshot.step, dtype=np.int64), **snapshot.arrays()}
    atomic_write(path, lambda f: np.savez(f, **arrays), durable=durable)


def read_snapshot_file(path: Path, step: int) -> Snapshot:
    """Load and check the snapshot at ``path`` (``allow_pickle=False``); any defect raises RunError."""
    where = str(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise RunError(f"{where}: expected an .npz archive, got a single {type(loaded).__name__}")
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
    except RunError:
        raise
    except FileNotFoundError:
        raise RunError(f"{where}: no snapshot at step {step}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, io.UnsupportedOperation) as exc:
        # ValueError covers object (pickled) arrays refused by allow_pickle=False and bad headers.
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"{where}: unreadable snapshot ({type(exc).__name__}: {msg})") from None
    file_step = arrays.pop("step", None)
    if file_step is None or np.shape(file_step) != () or np.asarray(file_step).dtype.kind not in "iu":
        raise RunError(f"{where}: snapshot must hold a scalar integer 'step', got {file_step!r}")
    if int(file_step) != step:
        raise RunError(f"{where}: snapshot step must be {step} (from the file name), got {int(file_step)}")
    # Arrays this reader does not know are ignored (forward compatibility).
    known = {k: v for k, v in arrays.items() if k in SNAPSHOT_ARRAYS}
    return normalize_snapshot_arrays(step, known, where)
