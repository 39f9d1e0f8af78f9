"""Columns of imported tables, shared by the embeddings and proxies readers: which column is what, the
embedding matrix of a table, and proxies from rows labelled (class, sub-proxy) as ``proxylab export`` writes them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..tabular import non_numeric
from .common import ImportFileError

LABEL_COLS = ("label", "labels", "y", "target", "class_id")
CLASS_COLS = ("class", "class_name", "classname")
MODE_COLS = ("mode", "modes", "mode_id")
SPLIT_COLS = ("split", "subset")
STEP_COLS = ("step", "global_step")
INDEX_COLS = ("index", "idx")
IMAGE_COLS = ("image_path", "image", "path", "filepath", "file", "filename")
GRAD_COLS = ("grad_norm",)
KIND_COLS = ("kind",)
SUBPROXY_COLS = ("sub_proxy",)
LIST_COLS = ("embedding", "embeddings", "vector", "features")
META_COLS = set(LABEL_COLS + CLASS_COLS + MODE_COLS + SPLIT_COLS + STEP_COLS + INDEX_COLS + IMAGE_COLS + GRAD_COLS
                + KIND_COLS + SUBPROXY_COLS + ("mode_name", "id", "unnamed: 0"))
EMBEDDING_COLUMN = re.compile(r"^(e|emb_?|embedding_?|dim_?|x|f|feat_?|v)(\d+)$", re.IGNORECASE)


def pick(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The first of ``names`` among ``columns`` (matched case-insensitively), as spelled in ``columns``; or None."""
    lower = {str(c).lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def proxies_from_rows(labels: np.ndarray, sub: np.ndarray | None, vectors: np.ndarray, path: Path) -> np.ndarray:
    """(C, K, d) from proxy rows labelled (class, sub-proxy), as ``proxylab export`` writes them."""
    try:
        labels = np.asarray(labels).astype(np.int64)
        sub = np.zeros(len(labels), np.int64) if sub is None else np.asarray(sub).astype(np.int64)
    except (TypeError, ValueError):
        raise ImportFileError(f"{path}: proxy rows need integer 'label' and 'sub_proxy' columns") from None
    if labels.min() < 0 or sub.min() < 0:
        raise ImportFileError(f"{path}: proxy rows need label >= 0 and sub_proxy >= 0, got negative values")
    c, k = int(labels.max()) + 1, int(sub.max()) + 1
    if c * k != len(labels) or len(set(zip(labels.tolist(), sub.tolist()))) != len(labels):
        raise ImportFileError(f"{path}: proxy rows must hold every (label, sub_proxy) pair once for C={c} classes "
                              f"x K={k} proxies = {c * k} rows (K·C not matching), got {len(labels)} rows")
    out = np.zeros((c, k, vectors.shape[1]), np.float32)
    out[labels, sub] = vectors
    return out


def embedding_columns(frame, path: Path, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The (N, d) embedding matrix of a table and the columns it came from."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for col in frame.columns:
        m = EMBEDDING_COLUMN.match(str(col))
        if m and str(col).lower() not in META_COLS:
            groups.setdefault(m.group(1).lower(), []).append((int(m.group(2)), col))
    if groups:
        prefix, cols = max(groups.items(), key=lambda kv: len(kv[1]))
        cols = [c for _, c in sorted(cols)]
        notes.append(f"{path.name}: embedding = {len(cols)} columns {cols[0]}..{cols[-1]}")
        return numeric_matrix(frame[cols], path), cols
    list_col = pick(frame.columns, LIST_COLS)
    if list_col is not None and frame[list_col].dtype == object:
        values = frame[list_col].to_numpy()
        try:
            lengths = {len(v) for v in values}
        except TypeError:
            raise ImportFileError(f"{path}: column {list_col!r} must hold one list of numbers per row") from None
        if len(lengths) != 1:
            raise ImportFileError(f"{path}: column {list_col!r} must hold lists of one length d, got lengths "
                                  f"{sorted(lengths)[:5]}")
        try:
            matrix = np.stack([np.asarray(v, dtype=np.float64) for v in values])
        except (TypeError, ValueError):
            raise ImportFileError(f"{path}: column {list_col!r} must hold lists of numbers") from None
        notes.append(f"{path.name}: embedding = list column {list_col!r}")
        return matrix, [list_col]
    cols = [c for c in frame.columns if str(c).lower() not in META_COLS and frame[c].dtype.kind in "iuf"]
    if not cols:
        raise ImportFileError(f"{path}: found no embedding columns (expected e0..e{{d-1}}, a list column "
                              f"'embedding', or numeric columns), got columns {list(frame.columns)[:10]}")
    ignored = [c for c in frame.columns if str(c).lower() not in META_COLS and c not in cols]
    notes.append(f"{path.name}: embedding = the {len(cols)} numeric columns {cols[0]}..{cols[-1]}"
                 + (f"; ignored non-numeric columns {ignored[:5]}" if ignored else ""))
    return numeric_matrix(frame[cols], path), cols


def numeric_matrix(frame, path: Path) -> np.ndarray:
    """The (N, d) float64 matrix of ``frame``'s columns; a cell that is no number is named by row and column."""
    problem = non_numeric(frame, list(frame.columns))
    if problem:
        raise ImportFileError(f"{path}: {problem} (embedding columns must be numeric)")
    return frame.to_numpy(dtype=np.float64)
