"""Each sample of the snapshot shown, scored once as a query: so that a selection's R@1, MAP@R and mode coverage are
a mean of rows (:mod:`proxylab.selection`), shown at once however many samples the lasso takes.

Scoring every query of a step costs what the run's own retrieval metrics cost (about 30 s at 100,000 × 128 on two
cores), so the Embedding page asks for the step it shows as soon as it shows it (:func:`prefetch`): one
background thread does it and keeps the values in the run's cache, where later sessions find them. A selection made
before they are ready is scored directly when that is cheap, else waits for them with a spinner.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import streamlit as st

#: a selection is scored directly (its queries against their split) below this many query × gallery pairs
DIRECT_PAIRS = 20_000_000
#: a step's every query is scored in the background only up to this many query × gallery pairs (Σ n_split²: about
#: 30 s at 100,000 × 128 on two cores); a larger snapshot (an import of a million points) scores a selection directly
PREFETCH_PAIRS = 10**10
#: ... and refuses a selection beyond this many pairs (minutes of work): `proxylab eval --queries` does it offline
SELECTION_PAIRS = 5 * 10**10
#: finished jobs whose values stay in memory (4 MB at 100,000 samples each)
KEEP_DONE = 8


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[ThreadPoolExecutor, dict, threading.Lock]:
    """One worker for the whole server (the scoring uses every core), its jobs by snapshot file."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="proxylab-queries"), {}, threading.Lock()


def _compute(store: str, name: str, step: int):
    from proxylab.selection import cached_snapshot_queries
    from proxylab.store import open_run

    return cached_snapshot_queries(open_run(store, name), step)


def split_sizes(snap) -> np.ndarray:
    return np.bincount(snap.split.astype(np.int64), minlength=2)[:2]  # samples per split


def prefetchable(split_sizes: np.ndarray) -> bool:
    """Whether a snapshot of these split sizes is scored whole in the background (:data:`PREFETCH_PAIRS`)."""
    return int((np.asarray(split_sizes, dtype=np.int64) ** 2).sum()) <= PREFETCH_PAIRS


def prefetch(store: str, name: str, step: int, split_sizes: np.ndarray) -> Future | None:
    """The job scoring every query of snapshot `step` (started now unless it is running or done); None for a
    snapshot too large to score whole (see :data:`PREFETCH_PAIRS`)."""
    from proxylab.store.layout import snapshot_path

    if not prefetchable(split_sizes):
        return None
    path = snapshot_path(Path(store) / name, step)
    key = (str(path), os.stat(path).st_mtime_ns)  # a run written anew under the same name is scored anew
    executor, jobs, lock = _jobs()
    with lock:
        for other, queued in jobs.items():  # a step the user has left is not scored after all (unless started)
            if other[0] != key[0] and Path(other[0]).parent == path.parent:
                queued.cancel()
        for old in [k for k, j in jobs.items() if j.done()][:-KEEP_DONE]:  # their values stay in the run's cache
            del jobs[old]
        job = jobs.get(key)
        if job is None or job.cancelled():
            job = jobs[key] = executor.submit(_compute, store, name, step)
        return job


def selection_metrics(store: str, name: str, snap, ids: list[int]) -> dict[str, dict[str, float]]:
    """:func:`proxylab.selection.selection_metrics` of `ids` at `snap`: from the step's per-query values when they
    are ready (or worth the wait), else scored directly."""
    from proxylab import selection

    sizes = split_sizes(snap)
    job = prefetch(store, name, snap.step, sizes)
    if job is not None and job.done() and not job.cancelled() and job.exception() is None:
        return selection.selection_metrics(snap, ids, job.result())
    pairs = int(np.bincount(snap.split[np.asarray(ids, dtype=np.int64)].astype(np.int64), minlength=2)[:2] @ sizes)
    if pairs <= DIRECT_PAIRS:
        return selection.selection_metrics(snap, ids)
    if job is not None and not job.done():
        with st.spinner(f"Scoring each of the {len(snap.labels):,} samples of step {snap.step} as a query (once per "
                        "step; later selections at this step are instant)…"):
            try:
                return selection.selection_metrics(snap, ids, job.result())
            except CancelledError:  # another session left this step before the job started: score directly
                pass
    if pairs > SELECTION_PAIRS:
        raise SelectionTooLarge(f"{len(ids):,} selected samples against splits of {', '.join(f'{n:,}' for n in sizes)}"
                                " are too many to score here; select fewer, or run proxylab eval RUN --step "
                                f"{snap.step} --queries IDS")
    with st.spinner(f"Scoring the {len(ids):,} selected samples against their splits "
                    f"({', '.join(f'{n:,}' for n in sizes if n)} samples)…"):
        return selection.selection_metrics(snap, ids)


class SelectionTooLarge(ValueError):
    """A selection of a snapshot too large to score in the page (one line, for the page to show)."""
