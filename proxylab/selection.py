"""The retrieval metrics of a selection of queries at one snapshot: what ``proxylab eval RUN --step S --queries
IDS`` prints and the Embedding page shows for a lasso or box selection.

A snapshot's samples are scored as the run's own snapshot metrics score them
(:func:`proxylab.importing.writer.snapshot_metrics`): each sample is a query of its split (train: split 0, test:
split 1) against every other sample of that split. A selection's metrics are those of its queries only, each still
against its whole split, so they equal the run's metrics restricted to those queries:

- R@1 and MAP@R (and P@1, nDCG@1, RP) are means over the selected queries that have a relevant candidate;
- mode coverage (where the snapshot has proxies whose classes its labels index, and known modes) is
  :func:`proxylab.geometry.mode_coverage` of the selected samples: each mode present in the selection, its centre
  from its selected samples.

Two ways to the same numbers: :func:`selection_metrics` with no cache scores the selected queries directly
(:func:`proxylab.metrics.retrieval_metrics` against the split as gallery: the reference, what the CLI uses); with
the snapshot's per-query values (:func:`snapshot_queries`, kept on disk by :func:`cached_snapshot_queries`) a
selection is a mean of rows, in microseconds whatever its size. A query's values depend only on its own ranking,
so both agree (tests/test_selection.py checks it to 1e-12).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import geometry
from .store.atomic import atomic_write
from .store.layout import PROJECTION_DIR

#: the cut-offs a selection is scored at (R@1; RP and MAP@R need none)
SELECTION_KS = (1,)
SPLITS = (("train", 0), ("test", 1))
#: bump when the per-query values would change for the same snapshot (invalidates the disk cache)
CODE_VERSION = 1
_ID_RANGE = re.compile(r"([0-9]{1,15})(?:-([0-9]{1,15}))?")  # ASCII digits only ('²'.isdigit() is True), int-sized


@dataclass(frozen=True)
class SnapshotQueries:
    """Every sample's retrieval values at one snapshot, as a query of its split.

    Attributes
    ----------
    step : int
    names : list of str
        The metrics, columns of ``values`` (``R@1``, ``P@1``, ``nDCG@1``, ``RP``, ``MAP@R``).
    values : ndarray of shape (N, M), float64
        Row i: sample i's values (0 where not scored).
    scored : ndarray of shape (N,), bool
        Whether sample i is scored: its split has at least 2 samples and another sample of its class.
    """

    step: int
    names: list[str]
    values: np.ndarray
    scored: np.ndarray


def id_ranges(text: str) -> list[tuple[int, int] | None]:
    """Each comma-separated part of ``"0-99,120"`` (the Embedding page's URL form) as (first, last); None for a part
    that is not one."""
    out: list[tuple[int, int] | None] = []
    for part in str(text).split(","):
        match = _ID_RANGE.fullmatch(part.strip())
        out.append(None if match is None else (int(match[1]), int(match[2] or match[1])))
    return out


def parse_ids(text: str, num_points: int) -> np.ndarray:
    """Sample ids from ``"0-99,120,130-140"``, sorted and unique.

    Raises
    ------
    ValueError
        On anything that is not such a list, or an id outside [0, num_points).
    """
    ids: set[int] = set()
    for part, bounds in zip(str(text).split(","), id_ranges(text)):
        if bounds is None:
            raise ValueError(f"queries must be sample ids like 0-99,120, got {part.strip()[:40]!r}")
        a, b = bounds
        if b < a or b >= num_points:
            raise ValueError(f"queries must lie in 0..{num_points - 1} (ascending ranges), got {part.strip()}")
        ids.update(range(a, b + 1))
    return np.array(sorted(ids), dtype=np.int64)


def _split_rows(snap) -> list[tuple[str, np.ndarray]]:
    """Each split's rows with at least 2 samples (fewer have no candidates to score)."""
    return [(name, rows) for name, code in SPLITS if len(rows := np.flatnonzero(snap.split == code)) >= 2]


def _proxies_for(snap, labels: np.ndarray, modes: np.ndarray) -> np.ndarray | None:
    """The snapshot's proxies where mode coverage is defined for these samples (as ``snapshot_metrics`` decides)."""
    prox = snap.proxies
    if prox is None or not (modes >= 0).any() or len(labels) == 0 or int(labels.max()) >= prox.shape[0]:
        return None
    return prox


def snapshot_queries(snap, ks: Sequence[int] = SELECTION_KS) -> SnapshotQueries:
    """Every sample's retrieval values at snapshot `snap` (the full cost of the run's retrieval metrics, once)."""
    from .metrics import per_query_metrics

    from .metrics.inputs import as_ks
    from .metrics.retrieval import metric_names

    n = len(snap.labels)
    names = metric_names(as_ks(ks))
    values, scored = np.zeros((n, len(names))), np.zeros(n, bool)  # (N, M), (N,)
    for _, rows in _split_rows(snap):
        part = per_query_metrics(snap.embeddings[rows], snap.labels[rows], ks)
        values[rows], scored[rows] = part.values, part.scored
    return SnapshotQueries(int(snap.step), names, values, scored)


def selection_metrics(snap, ids: Sequence[int] | np.ndarray, queries: SnapshotQueries | None = None,
                      ks: Sequence[int] = SELECTION_KS) -> dict[str, dict[str, float]]:
    """The metrics of the selected queries `ids` (snapshot rows) at snapshot `snap`, per split.

    Parameters
    ----------
    snap : proxylab.store.Snapshot
    ids : sequence of int
        Selected sample ids (rows of the snapshot), any order; duplicates count once.
    queries : SnapshotQueries, optional
        The snapshot's per-query values (:func:`cached_snapshot_queries`): the metrics are then means of their
        rows. None: the selected queries are scored directly against their split.
    ks : sequence of int, default=(1,)

    Returns
    -------
    dict
        ``{split: {"num_selected", "num_queries", "num_excluded", "R@1", ..., "MAP@R", ["mode_coverage",
        "mode_best_cos", "num_modes", "num_covered"]}}`` for each split with a selected sample; a split too small
        to score is left out. Retrieval values are NaN when no selected query has a relevant candidate.
    """
    n = len(snap.labels)
    chosen = np.zeros(n, bool)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"ids must lie in 0..{n - 1}, got {int(ids.min())}..{int(ids.max())}")
    chosen[ids] = True
    if queries is not None and (queries.step != snap.step or len(queries.scored) != n):
        raise ValueError(f"queries are of step {queries.step} with {len(queries.scored)} samples, the snapshot of "
                         f"step {snap.step} has {n}")
    out: dict[str, dict[str, float]] = {}
    for split, rows in _split_rows(snap):
        picked = np.flatnonzero(chosen[rows])  # positions within the split
        if len(picked) == 0:
            continue
        mine = rows[picked]  # snapshot rows
        if queries is not None:
            scored = mine[queries.scored[mine]]
            means = queries.values[scored].mean(axis=0) if len(scored) else np.full(len(queries.names), np.nan)
            metrics: dict[str, float] = dict(zip(queries.names, means.tolist()))
            metrics.update(num_queries=len(scored), num_excluded=len(mine) - len(scored))
        else:
            from .metrics import retrieval_metrics  # torch: only for direct scoring

            x, y = snap.embeddings[rows], snap.labels[rows]
            metrics = dict(retrieval_metrics(x[picked], y[picked], ks, gallery=x, gallery_labels=y,
                                             query_indices=picked))
        metrics["num_selected"] = len(picked)
        labels, modes = snap.labels[mine], snap.modes[mine]
        proxies = _proxies_for(snap, snap.labels[rows], snap.modes[rows])  # decided on the split, as its metrics are
        if proxies is not None and (modes >= 0).any():
            cover = geometry.mode_coverage(snap.embeddings[mine], labels, modes, proxies.astype(np.float64))
            metrics.update(mode_coverage=cover["mode_coverage"], mode_best_cos=cover["mode_best_cos"],
                           num_modes=len(cover["mode_ids"]), num_covered=int(cover["covered"].sum()))
        out[split] = {k: float(v) for k, v in metrics.items()}
    return out


# -- the per-query values kept beside the run's projections --------------------------------------------------
def _cache_path(run, step: int, ks: Sequence[int]) -> Path:
    st = os.stat(run.snapshot_path(step))
    blob = json.dumps({"step": int(step), "size": st.st_size, "mtime": st.st_mtime_ns, "ks": list(ks),
                       "code_version": CODE_VERSION}, sort_keys=True)
    return run.path / PROJECTION_DIR / f"queries-{hashlib.sha1(blob.encode()).hexdigest()}.npz"


def load_snapshot_queries(run, step: int, ks: Sequence[int] = SELECTION_KS) -> SnapshotQueries | None:
    """The per-query values of `step` kept on disk, or None (never computed, stale or unreadable)."""
    try:
        with np.load(_cache_path(run, step, ks), allow_pickle=False) as npz:
            names = [str(v) for v in npz["names"].tolist()]
            values, scored = npz["values"], npz["scored"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (values.dtype != np.float64 or scored.dtype != bool or values.ndim != 2 or scored.shape != values.shape[:1]
            or values.shape[1] != len(names)):
        return None
    return SnapshotQueries(int(step), names, values, scored)


def cached_snapshot_queries(run, step: int, ks: Sequence[int] = SELECTION_KS) -> SnapshotQueries:
    """:func:`snapshot_queries` of `step`, read from the run's cache or computed and kept there (a read-only store
    still gets the values, just not kept)."""
    found = load_snapshot_queries(run, step, ks)
    if found is not None:
        return found
    queries = snapshot_queries(run.snapshot(step), ks)
    path = _cache_path(run, step, ks)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, names=np.array(queries.names), values=queries.values,
                                              scored=queries.scored))
    except OSError:
        pass
    return queries


def describe(metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Rows for a table or the CLI: one per split, the selection's R@1, MAP@R and mode coverage."""
    rows = []
    for split, m in metrics.items():
        rows.append({"split": split, "selected": int(m["num_selected"]), "queries scored": int(m["num_queries"]),
                     "R@1": m.get("R@1"), "MAP@R": m.get("MAP@R"),
                     "modes covered": (f"{int(m['num_covered'])} of {int(m['num_modes'])}"
                                       if "num_modes" in m else "–")})
    return rows
