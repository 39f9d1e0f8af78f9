"""Selection in a scatter → sample ids → table of those samples and their nearest neighbours.

Pure functions (no Streamlit): AppTest cannot simulate a Plotly lasso, so this path is unit-tested here
and exercised end to end by the browser test.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from proxylab.selection import id_ranges


#: selected samples the Embedding page lists (the scores above the list count every selected sample)
LISTED = 1000
#: similarities per block (16 MB of float64): a block this small is reused by the allocator instead of being mapped
#: afresh, whose page faults cost more than the product itself
_BLOCK_VALUES = 2**21


def selected_ids(points: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Sample ids (snapshot rows) of the selected points, sorted and unique.

    Sample traces carry `customdata[0]` = sample id ≥ 0; proxy traces carry -1 and are skipped.
    """
    ids = set()
    for point in points:
        custom = point.get("customdata")
        first = custom[0] if isinstance(custom, (list, tuple)) and custom else custom
        if isinstance(first, (int, float, np.integer, np.floating)) and first >= 0:
            ids.add(int(first))
    return np.array(sorted(ids), dtype=np.int64)


def _top_k(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest values, ordered by (value desc, index asc): exactly what a stable
    sort of the whole row gives, at the cost of a partition (every column tied with the k-th value is a candidate,
    so a tie at the cut is broken by index, not by the partition)."""
    sims = np.where(np.isnan(sims), -np.inf, sims)  # a NaN cosine (non-finite embedding) ranks last
    n = sims.shape[1]
    kth = np.partition(sims, n - k, axis=1)[:, n - k:n - k + 1]  # (b, 1) the k-th largest value
    rows, cols = np.nonzero(sims >= kth)  # (m,) candidates: at least k a row, in row then index order
    keep = np.lexsort((cols, -sims[rows, cols], rows))  # by row, then value desc, then index asc
    rows, cols = rows[keep], cols[keep]
    first = np.searchsorted(rows, np.arange(len(sims)))  # each row's first candidate
    return cols[first[:, None] + np.arange(k)]


def neighbour_table(ids: np.ndarray, embeddings: np.ndarray, labels: np.ndarray,
                    modes: np.ndarray | None = None, k: int = 5,
                    class_names: list[str] | None = None) -> pd.DataFrame:
    """For each selected sample, its k nearest other samples by cosine (ties: lower id first).

    Long format: one row per (selected sample, rank).
    """
    columns = ["sample", "label", "mode", "rank", "neighbour", "neighbour_label", "neighbour_mode",
               "cosine", "same_label"]
    ids = np.asarray(ids, dtype=np.int64)
    n = len(embeddings)
    k = min(k, n - 1)
    if len(ids) == 0 or k < 1:
        return pd.DataFrame(columns=columns)
    if modes is None:
        modes = np.full(n, -1)
    x = np.asarray(embeddings)
    norms = np.linalg.norm(x, axis=1)
    norms[norms == 0] = 1.0  # a zero embedding has cosine 0 with everything
    frames = []
    rows_per_block = max(1, _BLOCK_VALUES // n)
    for start in range(0, len(ids), rows_per_block):
        block = ids[start:start + rows_per_block]
        sims = (x[block] @ x.T) / norms[block, None] / norms  # (b, n) cosines, in the embeddings' precision
        sims[np.arange(len(block)), block] = -np.inf  # a sample is not its own neighbour
        order = _top_k(sims, k)  # (b, k): similarity desc, index asc
        nb = order.ravel()
        query = np.repeat(block, k)
        frames.append(pd.DataFrame({
            "sample": query, "label": labels[query], "mode": modes[query],
            "rank": np.tile(np.arange(1, k + 1), len(block)),
            "neighbour": nb, "neighbour_label": labels[nb], "neighbour_mode": modes[nb],
            "cosine": np.take_along_axis(sims, order, axis=1).ravel(),
            "same_label": labels[nb] == labels[query],
        }))
    table = pd.concat(frames, ignore_index=True)
    if class_names:
        names = np.asarray(class_names, dtype=object)
        table["label"] = names[table["label"].to_numpy()]
        table["neighbour_label"] = names[table["neighbour_label"].to_numpy()]
    return table[columns]


def ids_to_text(ids: Iterable[int]) -> str:
    """Sample ids as compact ranges for the URL: [1, 2, 3, 7, 9, 10] → "1-3,7,9-10"."""
    ordered = sorted({int(i) for i in ids})
    parts, start = [], None
    for i, value in enumerate(ordered):
        if start is None:
            start = value
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def ids_from_text(text: str | None, limit: int) -> list[int]:
    """The inverse of :func:`ids_to_text`, keeping ids in [0, limit); anything malformed is skipped (a URL's
    selection; ``proxylab eval --queries`` refuses what this skips: :func:`proxylab.selection.parse_ids`)."""
    out: set[int] = set()
    for bounds in id_ranges(text or ""):
        if bounds is not None:
            out.update(range(max(bounds[0], 0), min(bounds[1], limit - 1) + 1))
    return sorted(out)
