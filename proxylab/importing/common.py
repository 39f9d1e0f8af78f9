"""Shared helpers of the importers: the error type, file hashing, safe loading of arrays and tensors."""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: suffixes that can only hold pickles; refused outright.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
#: suffixes read with ``torch.load(weights_only=True)``.
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")


from .budget import check_numpy_file, check_zip  # noqa: E402
from .errors import ImportFileError  # noqa: E402  (re-exported)


def one_line(text: object, limit: int = 300) -> str:
    """First line of ``text``, at most ``limit`` characters."""
    s = str(text).strip()
    s = s.splitlines()[0] if s else ""
    return s if len(s) <= limit else s[: limit - 1] + "…"


def check_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path if it is a non-empty readable file that is not a pickle, else raise."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportFileError(f"{p}: {what} file not found")
    if not p.is_file():
        raise ImportFileError(f"{p}: {what} must be a file, got a {'folder' if p.is_dir() else 'special file'}")
    if p.stat().st_size == 0:
        raise ImportFileError(f"{p}: the {what} file is empty")
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise ImportFileError(f"{p}: {p.suffix} files need pickle to load, which proxylab refuses (it can run "
                              "arbitrary code); save arrays as .npy/.npz/.csv/.parquet or tensors with torch.save")
    return p


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: Path, role: str, fmt: str, *, hashed: bool = True) -> dict[str, Any]:
    """``{"path", "role", "format", "sha256", "bytes"}`` of one imported file (goes to run.json); with
    ``hashed=False`` its ``sha256`` is None until :func:`fill_hashes` (an import hashes once the run plays)."""
    path = Path(path)
    return {"path": str(path.resolve()), "role": role, "format": fmt, "sha256": sha256(path) if hashed else None,
            "bytes": path.stat().st_size}


def fill_hashes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with the SHA-256 of every file whose hash is still None (folders keep None)."""
    return [{**r, "sha256": sha256(r["path"])} if r.get("sha256") is None and Path(r["path"]).is_file() else r
            for r in records]


def load_numpy(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """Load a .npy (array) or .npz (name → array) with ``allow_pickle=False``; pickled content is refused."""
    check_numpy_file(path)  # declared sizes first: a few kilobytes may declare gigabytes
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:  # numpy's "Cannot load file containing pickled data when allow_pickle=False"
        if "pickle" in str(exc).lower():
            raise ImportFileError(f"{path}: the file needs pickle to load, which proxylab refuses (it can run "
                                  "arbitrary code); save plain numeric arrays") from None
        raise ImportFileError(f"{path}: not a readable {path.suffix} file ({one_line(exc)})") from None
    except Exception as exc:  # BadZipFile, OSError, EOFError: not numpy data at all
        raise ImportFileError(f"{path}: not a readable {path.suffix} file ({type(exc).__name__}: "
                              f"{one_line(exc)})") from None
    if isinstance(loaded, np.ndarray):
        if loaded.dtype == object:
            raise ImportFileError(f"{path}: holds an object array that needs pickle to load, which is refused")
        return loaded
    arrays: dict[str, np.ndarray] = {}
    with loaded as npz:
        for name in npz.files:
            try:
                arrays[name] = npz[name]
            except ValueError:  # object arrays are refused when allow_pickle=False
                raise ImportFileError(f"{path}: array {name!r} needs pickle to load (an object array), which "
                                      "proxylab refuses; save numbers or fixed-width strings") from None
            except Exception as exc:
                raise ImportFileError(f"{path}: array {name!r} is unreadable ({type(exc).__name__}: "
                                      f"{one_line(exc)})") from None
    return arrays


def load_torch(path: Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; anything needing pickle is refused."""
    import torch

    import warnings

    if zipfile.is_zipfile(path):  # torch's format is a zip of tensor storages (a legacy file is its own size)
        check_zip(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the error says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        import pickle

        text = one_line(exc)
        with open(path, "rb") as f:
            head = f.read(2)
        looks_pickled = zipfile.is_zipfile(path) or head[:1] == b"\x80"  # torch's zip format or a raw pickle
        if looks_pickled and (isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc) or "Unsupported global" in str(exc)):
            raise ImportFileError(f"{path}: the file needs pickle to load objects other than tensors, which "
                                  "proxylab refuses (loaded with weights_only=True); save a plain state dict "
                                  "(dict of tensors)") from None
        raise ImportFileError(f"{path}: not a readable PyTorch file ({type(exc).__name__}: {text})") from None


def check_finite(values: np.ndarray, path: Path | str, what: str) -> None:
    """Raise unless every entry of ``values`` (rows along axis 0) is finite."""
    if values.size and np.isfinite(values.min()) and np.isfinite(values.max()):
        return  # min and max are NaN when any entry is, ±inf when any entry is: two passes, no boolean copy
    flat = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, 1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise ImportFileError(f"{path}: {what} must be finite, got NaN or inf in {int(bad.sum())} row(s), "
                              f"first row {int(np.flatnonzero(bad)[0])}")


def as_float_matrix(values: Any, path: Path | str, what: str) -> np.ndarray:
    """``values`` as a finite float32 array with at least one row, or a clear error."""
    a = np.asarray(values)
    if a.dtype.kind not in "iuf" or a.dtype == bool:
        raise ImportFileError(f"{path}: {what} must be real numbers, got dtype {a.dtype}")
    if a.size == 0:
        raise ImportFileError(f"{path}: {what} is empty (shape {a.shape})")
    a = a.astype(np.float32, copy=False)
    check_finite(a, path, what)
    return a
