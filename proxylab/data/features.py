"""``features``: bring-your-own features (or small images) from a local .npz, .csv or .parquet file.

* ``.npz`` (read with ``allow_pickle=False``): ``X`` (N, ...) real numbers, ``y`` (N,) integer or
  string labels, optional ``modes`` (N,) integer (-1 = unknown) or string mode labels. Other keys
  are ignored.
* ``.csv`` / ``.parquet``: a ``label`` column (integers or strings), an optional ``mode`` column,
  and every other column a numeric feature.

String labels become the class names; integer labels are named by their value. Classes are
ordered by label (numerically or alphabetically), which fixes the zero-shot split (first half
train). The default split is per-sample: every class on both sides, ``test_fraction`` of each
held out — what a labelled feature file usually is for (and it works from 2 classes, where
zero-shot needs 4). Every problem raises :class:`DataError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..tabular import non_numeric
from .dataset import LabeledDataset
from .errors import DataError
from .registry import DatasetLoader, register_dataset
from .splits import Source

SUFFIXES = (".npz", ".csv", ".parquet")


def _encode(values: np.ndarray, what: str, path: Path, allow_missing: bool) -> tuple[np.ndarray, list[str]]:
    """Integer codes (N,) and names of ``values``: integers or strings; ``allow_missing`` maps -1/None to -1."""
    if values.ndim != 1:
        raise DataError(f"{path}: {what} must be 1-D, got shape {values.shape}")
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
        known = values >= 0 if allow_missing else np.ones(len(values), bool)
        if not allow_missing and (values < 0).any():
            raise DataError(f"{path}: {what} must be >= 0, got {values.min()}")
        names, codes = np.unique(values[known], return_inverse=True)
        out = np.full(len(values), -1, dtype=np.int64)
        out[known] = codes
        return out, [str(n) for n in names]
    if values.dtype.kind in "USO":
        is_missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool)
        if is_missing.any() and not allow_missing:
            raise DataError(f"{path}: {what} is missing in row {int(np.flatnonzero(is_missing)[0])}")
        not_str = [v for v in values[~is_missing] if not isinstance(v, str)]
        if not_str:
            raise DataError(f"{path}: {what} must be all integers or all strings, got a mix such as {not_str[0]!r}")
        names, codes = np.unique(values[~is_missing].astype(str), return_inverse=True)
        out = np.full(len(values), -1, dtype=np.int64)
        out[~is_missing] = codes
        return out, [str(n) for n in names]
    kind = "floats" if values.dtype.kind == "f" else str(values.dtype)
    raise DataError(f"{path}: {what} must be integers or strings, got {kind} (dtype {values.dtype})")


def _check_features(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype.kind not in "iuf":
        raise DataError(f"{path}: features must be real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{path}: features X must have shape (N, F) or (N, ...), got shape {x.shape}")
    if len(x) == 0 or x[0].size == 0:
        raise DataError(f"{path}: no samples (features shape {x.shape})")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise DataError(f"{path}: features hold NaN or inf in {int(bad.sum())} rows, first row {int(np.flatnonzero(bad)[0])}")
    limit = float(np.finfo(np.float32).max)
    if x.dtype.kind == "f" and x.size and float(np.abs(x).max()) > limit:
        raise DataError(f"{path}: features must fit in float32 (|x| <= {limit:.3g}), got values up to {float(np.abs(x).max()):.3g}")
    return x.astype(np.float32)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError: all mean "not a readable .npz"
        if "pickle" in str(exc):  # numpy's text would suggest allow_pickle=True, which proxylab never does
            raise DataError(f"{path}: not a readable .npz file (it is neither a zip of arrays nor .npy data; "
                            "pickled data is refused)") from None
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {first})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array saved under an .npz name
        raise DataError(f"{path}: expected an .npz archive with arrays 'X' and 'y', got a single "
                        f"{getattr(archive, 'dtype', '')} array of shape {getattr(archive, 'shape', '?')}")
    with archive:
        missing = [k for k in ("X", "y") if k not in archive.files]
        if missing:
            raise DataError(f"{path}: expected arrays 'X' and 'y' (optional 'modes'), missing {missing}, found {archive.files}")
        arrays = {}
        for key in ("X", "y", "modes"):
            if key not in archive.files:
                continue
            try:
                arrays[key] = archive[key]
            except ValueError as exc:  # numpy refuses object arrays when allow_pickle=False
                if "pickle" not in str(exc):
                    raise DataError(f"{path}: array {key!r} is unreadable ({str(exc).splitlines()[0]})") from None
                raise DataError(f"{path}: array {key!r} is an object (pickled) array, which is refused; "
                                "save numbers or fixed-width strings") from None
            except Exception as exc:  # truncated or garbled member of the zip
                raise DataError(f"{path}: array {key!r} is unreadable ({type(exc).__name__})") from None
    return arrays["X"], arrays["y"], arrays.get("modes")


def _read_table(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except Exception as exc:  # parser / arrow errors: the file is not a readable table
        raise DataError(f"{path}: not a readable {path.suffix} table ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    if "label" not in frame.columns:
        raise DataError(f"{path}: expected a 'label' column (and optional 'mode'), found columns {list(frame.columns)[:10]}")
    feature_cols = [c for c in frame.columns if c not in ("label", "mode")]
    if not feature_cols:
        raise DataError(f"{path}: no feature columns besides 'label'/'mode'")
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    problem = non_numeric(frame, feature_cols)
    if problem:
        raise DataError(f"{path}: {problem} (every column but 'label' and 'mode' is a numeric feature)")
    modes = frame["mode"].to_numpy() if "mode" in frame.columns else None
    return frame[feature_cols].to_numpy(), frame["label"].to_numpy(), modes


@register_dataset("features")
class FeaturesLoader(DatasetLoader):
    """Features (or small images, via an N-D ``X`` in .npz) from one local file; ``root`` is the file."""

    root_help = "the path of a .npz (X, y, optional modes), .csv or .parquet file (label, optional mode, numeric columns)"
    default_split = "per-sample"

    @classmethod
    def load(cls, root: Path | None, seed: int) -> Source:
        path = root
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(f"{path}: expected a .npz, .csv or .parquet file, got suffix {path.suffix!r}")
        if not path.is_file():
            raise DataError(f"{path}: features file not found")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        x, y, modes = _read_npz(path) if path.suffix.lower() == ".npz" else _read_table(path)
        x = _check_features(np.asarray(x), path)
        if np.asarray(y).shape != (len(x),):
            raise DataError(f"{path}: labels must have shape ({len(x)},) to match the features, got {np.asarray(y).shape}")
        labels, class_names = _encode(np.asarray(y), "labels", path, allow_missing=False)
        if len(class_names) < 2:
            raise DataError(f"{path}: labels must hold at least 2 classes, got 1 ({class_names[0]!r})")
        mode_ids, mode_names = None, []
        if modes is not None:
            if np.asarray(modes).shape != (len(x),):
                raise DataError(f"{path}: modes must have shape ({len(x)},), got {np.asarray(modes).shape}")
            mode_ids, mode_names = _encode(np.asarray(modes), "modes", path, allow_missing=True)
        data = LabeledDataset(labels, class_names, features=x, modes=mode_ids)
        description = f"features from {path.name}: {len(x)} samples of shape {tuple(x.shape[1:])}, {len(class_names)} classes"
        return Source(data, description, mode_names)
