"""Server-side subsampling of big scatters: send the browser only what it can draw."""
from __future__ import annotations

import numpy as np

MAX_POINTS = 50_000


def subsample_indices(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted row indices to draw: all rows when n <= limit, else a fixed random subset of `limit`.

    The subset depends only on (n, limit, seed), so the same samples are drawn at every step and the
    step slider shows motion, not resampling.
    """
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
