"""Read embeddings computed elsewhere: .npz, .parquet, .csv, TensorBoard projector TSV pairs, export folders.

Accepted layouts (column / array names are matched case-insensitively):

* **table** (``.csv``, ``.parquet``): one row per sample. Embedding columns are ``e0..e{d-1}`` (also
  ``emb_0``, ``dim0``, ``x0``, ``f0``, ``feat_0`` …), or one list-valued column ``embedding`` (parquet),
  or else every remaining numeric column. A label column is required: ``label`` / ``labels`` / ``y`` /
  ``target`` (integers or strings) or ``class`` (strings). Optional: ``class`` next to an integer
  ``label`` (the class names), ``mode`` (ints, -1 unknown, or strings), ``split`` (``train``/``test``
  or 0/1), ``step`` (one snapshot per distinct step), ``index``, ``image``/``image_path``/``path``
  (image files, kept for thumbnails), ``grad_norm``, and ``kind`` with ``sub_proxy`` (rows of kind
  ``proxy`` are proxies (C, K, d), as in ``proxylab export``).
* **.npz** (``allow_pickle=False``): ``embeddings`` (or ``X``/``emb``/``features``) shaped (N, d) — or
  (T, N, d) with ``steps`` (T,) for T snapshots of the same points — and ``labels`` (or ``y``), optional
  ``modes``, ``split``, ``step`` (scalar or (N,)), ``index``, ``image_paths``, ``grad_norm``,
  ``class_names``, ``mode_names``, ``proxies`` (C, d) or (C, K, d).
* **TensorBoard projector pair**: ``tensors.tsv`` (N rows of d tab-separated numbers, no header) and
  ``metadata.tsv`` beside it (a header row when it has several columns; a single column without header
  is the label, TensorBoard's convention). Pass the tensors file or the folder.
* **a folder** written by ``proxylab export --format csv`` (``snapshot_%08d.csv`` + ``proxies_%08d.csv``)
  or ``--format tensorboard`` (``step_%08d/tensors.tsv`` + ``metadata.tsv``), or any folder holding
  one projector pair. Steps are read from those names.

Integer labels are kept as they are (they index the proxies' classes: label c ↔ proxies[c]); string
labels are numbered in sorted order. Mode ids that are only unique within a class (mode 0 of class A
and mode 0 of class B) are made global per (class, mode) pair. Several files without steps become
snapshots 0, 1, 2, … in the order given.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..tabular import non_numeric
from .budget import check_parquet, check_text_table
from .common import ImportFileError, as_float_matrix, check_file, file_record, load_numpy, one_line
from .tables import (CLASS_COLS, GRAD_COLS, IMAGE_COLS, INDEX_COLS, KIND_COLS, LABEL_COLS, MODE_COLS, SPLIT_COLS,
                     STEP_COLS, SUBPROXY_COLS, embedding_columns, pick, proxies_from_rows)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
FORMATS = ".npz, .parquet, .csv, a TensorBoard projector tensors.tsv (+ metadata.tsv), or a folder of those"

_FILE_STEP = re.compile(r"^(?:snapshot|step|proxies)_(\d+)$")
SPLIT_NAMES = {"train": 0, "training": 0, "test": 1, "testing": 1}


# ---------------------------------------------------------------------------------------- results

@dataclass
class ImportedSnapshot:
    """One step's arrays, ready for :meth:`proxylab.store.RunWriter.write_snapshot` (see its docs).

    ``labels`` index ``ImportedEmbeddings.class_names``; ``split`` is 0 (train) / 1 (test);
    ``image_paths`` is None or one path per row; ``proxies`` (C, K, d) or None.
    """

    step: int
    embeddings: np.ndarray
    labels: np.ndarray
    modes: np.ndarray
    split: np.ndarray
    index: np.ndarray
    grad_norm: np.ndarray
    image_paths: list[str] | None = None
    proxies: np.ndarray | None = None
    source: str = ""

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])


@dataclass
class ImportedEmbeddings:
    """Everything read from the embeddings files.

    Attributes
    ----------
    snapshots : list of ImportedSnapshot
        Sorted by step.
    class_names, mode_names : list of str
        ``class_names[label]``; ``mode_names[mode]`` (empty without modes).
    has_split : bool
        Whether the input said which rows are train and which test (else every row is test).
    sources : list of dict
        ``{"path", "role", "format", "sha256", "bytes"}`` of every file read (``sha256`` None: :func:`import_run`
        hashes them once the run plays).
    notes : list of str
        What was inferred (which columns are the embedding, …), for run.json and the CLI.
    """

    snapshots: list[ImportedSnapshot]
    class_names: list[str]
    mode_names: list[str] = field(default_factory=list)
    has_split: bool = False
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return self.snapshots[0].dim

    @property
    def has_modes(self) -> bool:
        return any(bool((s.modes >= 0).any()) for s in self.snapshots)


@dataclass
class _Raw:
    """What one file holds before labels, modes and steps are reconciled across files."""

    path: Path
    fmt: str
    embeddings: np.ndarray  # (N, d) or (T, N, d)
    labels: np.ndarray  # raw: ints, floats (integral) or strings
    class_col: np.ndarray | None = None
    class_names: list[str] | None = None
    modes: np.ndarray | None = None
    mode_names: list[str] | None = None
    split: np.ndarray | None = None
    step: np.ndarray | None = None  # (N,) per row, or (T,) with 3-D embeddings
    file_step: int | None = None
    index: np.ndarray | None = None
    image_paths: np.ndarray | None = None
    grad_norm: np.ndarray | None = None
    proxies: dict[int | None, np.ndarray] = field(default_factory=dict)  # step (None: the file's) -> (C, K, d)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- helpers

def _file_step(path: Path) -> int | None:
    m = _FILE_STEP.match(path.stem if path.is_file() or path.suffix else path.name)
    return int(m.group(1)) if m else None



def _raw_from_frame(frame, path: Path, fmt: str, vectors: np.ndarray | None = None) -> _Raw:
    """A table (rows = samples, maybe proxies) → _Raw. ``vectors``: the embeddings when they come separately."""
    notes: list[str] = []
    if len(frame) == 0:
        raise ImportFileError(f"{path}: no rows")
    kind_col = pick(frame.columns, KIND_COLS)
    if vectors is None:
        vectors, _ = embedding_columns(frame, path, notes)
    proxies: dict[int | None, np.ndarray] = {}
    label_col = pick(frame.columns, LABEL_COLS)
    class_col = pick(frame.columns, CLASS_COLS)
    step_col = pick(frame.columns, STEP_COLS)
    if kind_col is not None:
        kinds = frame[kind_col].astype(str).str.lower().to_numpy()
        is_proxy = kinds == "proxy"
        if is_proxy.any():
            if label_col is None:
                raise ImportFileError(f"{path}: proxy rows (kind=proxy) need an integer 'label' column")
            pframe = frame[is_proxy]
            pvec = as_float_matrix(vectors[is_proxy], path, "proxies")
            sub_col = pick(frame.columns, SUBPROXY_COLS)
            if step_col is not None:
                for step in np.unique(pframe[step_col].to_numpy()):
                    sel = (pframe[step_col] == step).to_numpy()
                    proxies[int(step)] = proxies_from_rows(
                        pframe[label_col].to_numpy()[sel], None if sub_col is None else pframe[sub_col].to_numpy()[sel],
                        pvec[sel], path)
            else:
                proxies[None] = proxies_from_rows(pframe[label_col].to_numpy(),
                                                   None if sub_col is None else pframe[sub_col].to_numpy(), pvec, path)
            notes.append(f"{path.name}: {int(is_proxy.sum())} proxy rows (kind=proxy)")
            frame, vectors = frame[~is_proxy].reset_index(drop=True), vectors[~is_proxy]
            if len(frame) == 0:
                raise ImportFileError(f"{path}: only proxy rows, no samples")
    if label_col is None and class_col is None:
        raise ImportFileError(f"{path}: expected a label column ({', '.join(LABEL_COLS)} or class), found "
                              f"columns {list(frame.columns)[:10]}")
    labels = frame[label_col if label_col is not None else class_col].to_numpy()
    col = lambda names: None if pick(frame.columns, names) is None else frame[pick(frame.columns, names)].to_numpy()  # noqa: E731
    raw = _Raw(path=path, fmt=fmt, embeddings=vectors, labels=labels,
               class_col=frame[class_col].to_numpy() if (label_col is not None and class_col is not None) else None,
               modes=col(MODE_COLS), split=col(SPLIT_COLS), step=col(STEP_COLS), index=col(INDEX_COLS),
               image_paths=col(IMAGE_COLS), grad_norm=col(GRAD_COLS), proxies=proxies, notes=notes)
    return raw


def _read_table(path: Path) -> _Raw:
    import pandas as pd

    fmt = "csv" if path.suffix.lower() == ".csv" else "parquet"
    check_text_table(path, b",") if fmt == "csv" else check_parquet(path)
    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise ImportFileError(f"{path}: the file is empty") from None
    except Exception as exc:  # parser / arrow errors
        raise ImportFileError(f"{path}: not a readable {fmt} table ({type(exc).__name__}: {one_line(exc)})") from None
    return _raw_from_frame(frame, path, fmt)


def _npz_key(arrays: dict[str, np.ndarray], names: Sequence[str]) -> str | None:
    lower = {k.lower(): k for k in arrays}
    return next((lower[n] for n in names if n in lower), None)


def _read_npz(path: Path) -> _Raw:
    arrays = load_numpy(path)
    if not isinstance(arrays, dict):
        raise ImportFileError(f"{path}: expected an .npz archive of named arrays (embeddings, labels), got a "
                              "single array; an .npy holds no labels")
    emb_key = _npz_key(arrays, ("embeddings", "embedding", "x", "emb", "features"))
    lab_key = _npz_key(arrays, ("labels", "label", "y"))
    if emb_key is None or lab_key is None:
        raise ImportFileError(f"{path}: expected arrays 'embeddings' (or 'X') and 'labels' (or 'y'), found "
                              f"{sorted(arrays)}")
    emb = arrays[emb_key]
    if emb.ndim not in (2, 3):
        raise ImportFileError(f"{path}: embeddings must have shape (N, d) or (T, N, d), got {emb.shape}")
    get = lambda *names: None if _npz_key(arrays, names) is None else arrays[_npz_key(arrays, names)]  # noqa: E731
    step = get("steps", "step")
    file_step = None
    if step is not None and np.ndim(step) == 0:
        file_step, step = int(step), None
    if emb.ndim == 3:
        t = emb.shape[0]
        step = np.arange(t) if step is None else np.asarray(step).reshape(-1)
        if len(step) != t:
            raise ImportFileError(f"{path}: steps must have shape ({t},) for embeddings shaped {emb.shape}, got "
                                  f"{np.shape(step)}")
    names = get("class_names")
    mode_names = get("mode_names")
    raw = _Raw(path=path, fmt="npz", embeddings=emb, labels=arrays[lab_key], modes=get("modes", "mode"),
               split=get("split"), step=step, file_step=file_step, index=get("index"),
               image_paths=get("image_paths", "paths", "image_path"), grad_norm=get("grad_norm"),
               class_names=None if names is None else [str(n) for n in np.asarray(names).reshape(-1)],
               mode_names=None if mode_names is None else [str(n) for n in np.asarray(mode_names).reshape(-1)])
    prox = get("proxies")
    if prox is not None:
        prox = as_float_matrix(prox, path, "proxies")
        if prox.ndim == 2:
            prox = prox[:, None, :]
        if prox.ndim != 3:
            raise ImportFileError(f"{path}: proxies must have shape (C, d) or (C, K, d), got {prox.shape}")
        raw.proxies[None] = prox
    return raw


def _read_tsv_pair(tensors: Path, metadata: Path | None = None) -> _Raw:
    import pandas as pd

    tensors = check_file(tensors, "projector tensors")
    check_text_table(tensors, b"\t")
    try:
        vec = pd.read_csv(tensors, sep="\t", header=None)
    except pd.errors.EmptyDataError:
        raise ImportFileError(f"{tensors}: the file is empty") from None
    except Exception as exc:
        raise ImportFileError(f"{tensors}: not a readable TSV of numbers ({type(exc).__name__}: {one_line(exc)})") from None
    problem = non_numeric(vec, list(vec.columns))
    if problem:
        raise ImportFileError(f"{tensors}: {problem} (projector tensors are tab-separated numbers without a header)")
    vectors = vec.to_numpy(dtype=np.float64)
    metadata = metadata or tensors.with_name("metadata.tsv")
    if not metadata.exists():
        raise ImportFileError(f"{tensors}: expected the labels in {metadata} (TensorBoard projector metadata), "
                              "found no such file")
    metadata = check_file(metadata, "projector metadata")
    check_text_table(metadata, b"\t")
    lines = [ln for ln in metadata.read_text(encoding="utf-8", errors="replace").splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    n = len(vectors)
    if len(lines) == n + 1:
        frame = pd.read_csv(metadata, sep="\t", keep_default_na=True)
    elif len(lines) == n:
        if any("\t" in ln for ln in lines):
            raise ImportFileError(f"{metadata}: metadata with several columns needs a header row (TensorBoard "
                                  f"convention), got {len(lines)} lines for {n} rows of tensors")
        frame = pd.read_csv(metadata, sep="\t", header=None, names=["label"])
    else:
        raise ImportFileError(f"{metadata}: expected {n} label rows (+1 header) to match {tensors.name}, "
                              f"got {len(lines)} lines (label count != rows)")
    raw = _raw_from_frame(frame, tensors, "tensorboard-projector", vectors=vectors)
    raw.notes.append(f"{tensors.parent.name}/{tensors.name}: labels from {metadata.name}")
    raw.extra_files = [metadata]  # type: ignore[attr-defined]
    raw.file_step = _file_step(tensors.parent)
    return raw


def _expand_inputs(paths: Sequence[str | os.PathLike]) -> list[tuple[str, Path, Path | None]]:
    """(kind, file, companion) for every input: kind is 'table', 'npz', 'tsv' or 'csv-export'."""
    out: list[tuple[str, Path, Path | None]] = []
    for given in paths:
        p = Path(given).expanduser()
        if p.is_dir():
            pairs = sorted(p.glob("step_*/tensors.tsv")) or sorted(p.glob("*/tensors.tsv"))
            if (p / "tensors.tsv").is_file():
                pairs = [p / "tensors.tsv"] + pairs
            snaps = sorted(p.glob("snapshot_*.csv"))
            if snaps:
                for s in snaps:
                    prox = s.with_name(s.name.replace("snapshot_", "proxies_"))
                    out.append(("table", s, prox if prox.is_file() else None))
            elif pairs:
                out += [("tsv", t, None) for t in pairs]
            else:
                raise ImportFileError(f"{p}: found no embeddings in the folder (expected snapshot_*.csv from "
                                      "'proxylab export --format csv' or tensors.tsv + metadata.tsv pairs)")
            continue
        f = check_file(p, "embeddings")
        suffix = f.suffix.lower()
        if suffix in TABLE_SUFFIXES:
            prox = f.with_name(f.name.replace("snapshot_", "proxies_")) if f.name.startswith("snapshot_") else None
            out.append(("table", f, prox if prox is not None and prox.is_file() else None))
        elif suffix == ".npz":
            out.append(("npz", f, None))
        elif suffix == ".tsv":
            if f.name == "metadata.tsv":
                raise ImportFileError(f"{f}: pass the projector's tensors.tsv (metadata.tsv is read beside it)")
            out.append(("tsv", f, None))
        elif suffix == ".npy":
            raise ImportFileError(f"{f}: an .npy holds one array and no labels; save embeddings and labels "
                                  "together in an .npz (embeddings=..., labels=...)")
        else:
            raise ImportFileError(f"{f}: unknown embeddings format {f.suffix or '(no suffix)'!r}; expected {FORMATS}")
    if not out:
        raise ImportFileError("embeddings: no input files given")
    return out


# ---------------------------------------------------------------------------------------- assembly

def _int_or_none(values: np.ndarray) -> np.ndarray | None:
    """``values`` as int64 if they are integers (or integral floats without NaN), else None."""
    a = np.asarray(values)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        return a.astype(np.int64)
    return None


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


#: integer ids index classes (and modes) 0..C-1, so their names are made for every id up to the largest: ids far
#: beyond the row count (one label 10**12 in a 1 KB file) would make a list of 10**12 names
MIN_ID_LIMIT = 1 << 20


def _check_id_range(raws: list[_Raw], ids: list[np.ndarray], top: int, what: str, plural: str) -> None:
    rows = sum(len(i) for i in ids)
    limit = max(MIN_ID_LIMIT, 16 * rows)
    if top >= limit:
        path = next(r.path for r, i in zip(raws, ids) if len(i) and int(i.max()) == top)
        raise ImportFileError(f"{path}: {what} id {top} is far beyond the {rows:,} rows (ids index {plural} "
                              f"0..C-1, at most {limit:,} of them); number the {plural} from 0")


def _encode_labels(raws: list[_Raw]) -> tuple[list[np.ndarray], list[str]]:
    ints = [_int_or_none(r.labels) for r in raws]
    if all(i is not None for i in ints):
        for r, lab in zip(raws, ints):
            if lab.min() < 0:
                raise ImportFileError(f"{r.path}: labels must be >= 0 (they index classes), got {int(lab.min())}")
        top = max(int(lab.max()) for lab in ints)
        _check_id_range(raws, ints, top, "label", "classes")
        names = [str(c) for c in range(top + 1)]
        given: dict[int, str] = {}
        for r, lab in zip(raws, ints):
            if r.class_names is not None:
                if len(r.class_names) <= int(lab.max()):
                    raise ImportFileError(f"{r.path}: class_names must have more than {int(lab.max())} entries "
                                          f"(labels go up to it), got {len(r.class_names)}")
                pairs = list(enumerate(r.class_names))
            elif r.class_col is not None:
                pairs = list(zip(lab.tolist(), [str(v) for v in r.class_col]))
            else:
                continue
            for c, name in pairs:
                if given.setdefault(c, name) != name:
                    raise ImportFileError(f"{r.path}: label {c} is named both {given[c]!r} and {name!r}")
        for c, name in given.items():
            if c < len(names):
                names[c] = name
        return ints, names
    for r, lab in zip(raws, ints):
        if lab is None:
            values = np.asarray(r.labels)
            if values.dtype.kind == "f":
                bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
                raise ImportFileError(f"{r.path}: labels must be integers or strings, got {values[bad[0]]!r} in "
                                      f"row {int(bad[0])}")
            miss = [i for i, v in enumerate(values) if _is_missing(v)]
            if miss:
                raise ImportFileError(f"{r.path}: label is missing in row {miss[0]}")
    strings = [np.array([str(v) for v in r.labels], dtype=object) for r in raws]
    names = sorted(set().union(*[set(s.tolist()) for s in strings]))
    lookup = {n: i for i, n in enumerate(names)}
    return [np.array([lookup[v] for v in s], np.int64) for s in strings], names


def _encode_modes(raws: list[_Raw], labels: list[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    present = [r for r in raws if r.modes is not None]
    if not present:
        return [np.full(len(lab), -1, np.int64) for lab in labels], []
    raw_codes: list[np.ndarray] = []
    ints = [None if r.modes is None else _mode_ints(r.modes) for r in raws]
    if all(i is not None for r, i in zip(raws, ints) if r.modes is not None):
        names_by_id: dict[int, str] = {}
        for r, lab, m in zip(raws, labels, ints):
            if m is None:
                raw_codes.append(np.full(len(lab), -1, np.int64))
                continue
            if m.min() < -1:
                raise ImportFileError(f"{r.path}: modes must be >= -1 (-1 = unknown), got {int(m.min())}")
            raw_codes.append(m)
            if r.mode_names is not None:
                for i, n in enumerate(r.mode_names):
                    names_by_id.setdefault(i, n)
        top = max(int(c.max()) for c in raw_codes)
        _check_id_range(raws, raw_codes, top, "mode", "modes")
        base_names = [names_by_id.get(i, str(i)) for i in range(top + 1)]
    else:
        strings = []
        for r, lab in zip(raws, labels):
            if r.modes is None:
                strings.append([None] * len(lab))
            else:
                strings.append([None if _is_missing(v) or str(v) == "-1" else str(v) for v in r.modes])
        base_names = sorted({v for s in strings for v in s if v is not None})
        lookup = {n: i for i, n in enumerate(base_names)}
        raw_codes = [np.array([-1 if v is None else lookup[v] for v in s], np.int64) for s in strings]
    # A mode must lie in one class; ids that repeat across classes are local ids: make them global.
    pairs = {(int(m), int(c)) for codes, lab in zip(raw_codes, labels) for m, c in zip(codes, lab) if m >= 0}
    classes_of: dict[int, set[int]] = {}
    for m, c in pairs:
        classes_of.setdefault(m, set()).add(c)
    if all(len(v) == 1 for v in classes_of.values()):
        return raw_codes, base_names
    ordered = sorted(pairs, key=lambda mc: (mc[1], mc[0]))
    gid = {mc: i for i, mc in enumerate(ordered)}
    out = [np.array([gid[(int(m), int(c))] if m >= 0 else -1 for m, c in zip(codes, lab)], np.int64)
           for codes, lab in zip(raw_codes, labels)]
    return out, [f"{c}/{base_names[m] if m < len(base_names) else m}" for m, c in ordered]


def _mode_ints(values: Any) -> np.ndarray | None:
    """Integer mode ids (NaN in a float column = unknown = -1), or None when the modes are strings."""
    a = np.asarray(values)
    if a.dtype.kind == "f":
        a = np.where(np.isnan(a), -1.0, a)
    return _int_or_none(a)


def _encode_split(raw: _Raw, n: int) -> np.ndarray:
    if raw.split is None:
        return np.ones(n, np.int8)
    values = np.asarray(raw.split)
    ints = _int_or_none(values)
    if ints is not None:
        if ints.min() < 0 or ints.max() > 1:
            raise ImportFileError(f"{raw.path}: split must be train/test or 0/1, got values {sorted(set(ints.tolist()))[:5]}")
        return ints.astype(np.int8)
    lowered = [str(v).strip().lower() for v in values]
    unknown = sorted({v for v in lowered if v not in SPLIT_NAMES})
    if unknown:
        raise ImportFileError(f"{raw.path}: split must be 'train' or 'test' (or 0/1), got {unknown[:5]}")
    return np.array([SPLIT_NAMES[v] for v in lowered], np.int8)


def _vector(raw: _Raw, values: Any, name: str, n: int, kind: str) -> np.ndarray | None:
    if values is None:
        return None
    a = np.asarray(values)
    if a.shape != (n,):
        raise ImportFileError(f"{raw.path}: {name} must have one entry per row, shape ({n},), got {a.shape} "
                              f"({name} count != rows)")
    if kind == "int":
        ints = _int_or_none(a)
        if ints is None:
            raise ImportFileError(f"{raw.path}: {name} must be integers, got dtype {a.dtype}")
        return ints
    if kind == "float":
        if a.dtype.kind not in "iuf":
            raise ImportFileError(f"{raw.path}: {name} must be numbers, got dtype {a.dtype}")
        return a.astype(np.float32)
    return a


def read_embeddings(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> ImportedEmbeddings:
    """Read embeddings files (see the module docstring for the layouts) into snapshots.

    Parameters
    ----------
    paths : path or sequence of paths
        Files (.npz, .csv, .parquet, tensors.tsv) or folders (``proxylab export`` output, projector pairs).

    Returns
    -------
    ImportedEmbeddings

    Raises
    ------
    ImportFileError
        Unknown format, unreadable or pickled file, empty file, NaN/inf embeddings, a label / mode /
        split count that does not match the rows, different embedding dimensions across files, a step
        given twice.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    inputs = _expand_inputs(list(paths))
    raws: list[_Raw] = []
    sources: list[dict[str, Any]] = []
    for kind, f, companion in inputs:
        raw = _read_npz(f) if kind == "npz" else _read_tsv_pair(f) if kind == "tsv" else _read_table(f)
        if raw.file_step is None:
            raw.file_step = _file_step(f)
        sources.append(file_record(f, "embeddings", raw.fmt, hashed=False))
        for extra in getattr(raw, "extra_files", []):
            sources.append(file_record(extra, "metadata", raw.fmt, hashed=False))
        if companion is not None:
            from .proxies import read_proxies

            res = read_proxies(companion)
            raw.proxies[None] = res.proxies
            sources.append(file_record(companion, "proxies", res.format, hashed=False))
            raw.notes.append(f"{f.name}: proxies from {companion.name}")
        raws.append(raw)

    # embeddings: finite, one d everywhere, one row per label
    dim = None
    for raw in raws:
        emb = as_float_matrix(raw.embeddings, raw.path, "embeddings")
        if emb.ndim not in (2, 3) or emb.shape[-1] < 1 or emb.shape[-2] < 1:
            raise ImportFileError(f"{raw.path}: embeddings must have shape (N, d) with N, d >= 1, got {emb.shape}")
        raw.embeddings = emb
        d = emb.shape[-1]
        if dim is None:
            dim = (d, raw.path)
        elif d != dim[0]:
            raise ImportFileError(f"{raw.path}: embeddings have d={d}, but {dim[1].name} has d={dim[0]}")
        n = emb.shape[-2]
        if np.shape(raw.labels) != (n,):
            raise ImportFileError(f"{raw.path}: labels must have shape ({n},) like the embeddings' rows, got "
                                  f"{np.shape(raw.labels)} (label count != rows)")
    labels, class_names = _encode_labels(raws)
    modes, mode_names = _encode_modes(raws, labels)

    per_row_steps = [r.step is not None and r.embeddings.ndim == 2 for r in raws]
    file_steps = [r.file_step for r in raws]
    snapshots: list[ImportedSnapshot] = []
    seen: dict[int, Path] = {}
    has_split = any(r.split is not None for r in raws)
    for pos, (raw, lab, mode) in enumerate(zip(raws, labels, modes)):
        n = raw.embeddings.shape[-2]
        split = _encode_split(raw, n)
        index = _vector(raw, raw.index, "index", n, "int")
        grad = _vector(raw, raw.grad_norm, "grad_norm", n, "float")
        images = _vector(raw, raw.image_paths, "image paths", n, "any")
        if raw.embeddings.ndim == 3:
            groups = [(int(s), np.arange(n), raw.embeddings[t]) for t, s in enumerate(raw.step)]
        elif per_row_steps[pos]:
            steps = _vector(raw, raw.step, "step", n, "int")
            if steps.min() < 0:
                raise ImportFileError(f"{raw.path}: step must be >= 0, got {int(steps.min())}")
            distinct = np.unique(steps)
            groups = ([(int(distinct[0]), np.arange(n), raw.embeddings)] if len(distinct) == 1  # no copy of a file's
                      else [(int(s), np.flatnonzero(steps == s), None) for s in distinct])  # one step: its matrix
        else:
            if file_steps[pos] is not None:
                step = file_steps[pos]
            elif all(s is None for s in file_steps) and not any(per_row_steps):
                step = pos
            else:
                raise ImportFileError(f"{raw.path}: no step (column 'step' or a name like snapshot_00000100.csv) "
                                      "while other inputs have steps; give every input its step")
            groups = [(step, np.arange(n), None)]
        for step, rows, emb in groups:
            if step in seen:
                raise ImportFileError(f"{raw.path}: step {step} appears twice (also in {seen[step].name}); one "
                                      "snapshot per step")
            seen[step] = raw.path
            emb = raw.embeddings[rows] if emb is None else emb
            sp = split[rows]
            idx = index[rows] if index is not None else _index_within_split(sp)
            prox = raw.proxies.get(step, raw.proxies.get(None))
            snapshots.append(ImportedSnapshot(
                step=step, embeddings=np.ascontiguousarray(emb, np.float32), labels=lab[rows], modes=mode[rows],
                split=sp, index=idx, grad_norm=grad[rows] if grad is not None else np.full(len(rows), np.nan, np.float32),
                image_paths=None if images is None else [str(v) for v in images[rows]], proxies=prox,
                source=str(raw.path)))
    snapshots.sort(key=lambda s: s.step)
    notes = [n for r in raws for n in r.notes]
    return ImportedEmbeddings(snapshots=snapshots, class_names=class_names, mode_names=mode_names,
                              has_split=has_split, sources=sources, notes=notes)


def _index_within_split(split: np.ndarray) -> np.ndarray:
    index = np.zeros(len(split), np.int64)
    for s in (0, 1):
        sel = split == s
        index[sel] = np.arange(int(sel.sum()))
    return index
