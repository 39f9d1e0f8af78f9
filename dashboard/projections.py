"""2-D/3-D coordinates of every snapshot of a run through proxylab.projection (PCA / UMAP / native).

proxylab.projection imports umap (and its numba compile) inside its UMAP code only, and it is itself imported
inside these functions, so opening the dashboard never loads umap.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from proxylab.store import open_run

METHODS = {"pca": "PCA", "umap": "UMAP", "native": "native circle / sphere"}
Coords = dict[int, tuple[np.ndarray, np.ndarray | None]]  # step → (points (N, m), proxies (C, K, m) or None)


def is_cached(store: str, name: str, steps: tuple[int, ...], method: str, dims: int) -> bool:
    """Whether this projection opens instantly: PCA and native always do, UMAP once it is in the run's cache."""
    if method != "umap":
        return True
    from proxylab.projection import cached_projection

    return cached_projection(open_run(store, name), list(steps), method, dims) is not None


def background_job(store: str, name: str, dims: int) -> dict | None:
    """The status of a background UMAP job for this run (``proxylab demo`` starts them), or None."""
    from proxylab.projection_jobs import read_status

    return read_status(Path(store), name, "umap", dims)


def option_label(method: str, cached: bool, job: dict | None) -> str:
    """What the projection picker says: "cached" only when it is, the progress of a background job if one runs."""
    if method == "pca":
        return "PCA (instant)"
    if method == "native":
        return METHODS["native"]
    if cached:
        return "UMAP (cached)"
    if job and job.get("state") in ("queued", "running"):
        return f"UMAP (computing in the background: {float(job.get('fraction') or 0):.0%})"
    return "UMAP (about a minute the first time)"


def compute(store: str, name: str, steps: tuple[int, ...], method: str, dims: int,
            progress: Callable[[float, str], None] | None = None) -> None:
    """Run a slow projection so that it lands in the run's on-disk projection cache."""
    from proxylab.projection import project_run

    project_run(open_run(store, name), list(steps), method, dims, None, progress)


@st.cache_data(show_spinner=False, max_entries=16)
def coordinates(store: str, name: str, steps: tuple[int, ...], method: str, dims: int,
                proxy_shape: tuple[int, int] | None) -> Coords:
    """Coordinates of every step in `steps`, aligned across steps; proxies reshaped to (C, K, m) (None at a step
    whose snapshot has none, or none of shape `proxy_shape`).

    `steps` is part of the key, so a live run that gains a snapshot gets a fresh (joint) projection.
    """
    from proxylab.projection import project_run

    result = project_run(open_run(store, name), list(steps), method, dims, None, None)
    out = {}
    for step, proj in result.items():  # a step without proxies, or with proxies of another shape, has none here
        has_proxies = proxy_shape is not None and len(proj.proxies) == proxy_shape[0] * proxy_shape[1]
        proxies = np.asarray(proj.proxies).reshape(*proxy_shape, -1) if has_proxies else None
        out[int(step)] = (np.asarray(proj.points), proxies)
    return out
