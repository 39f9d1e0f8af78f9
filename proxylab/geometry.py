"""Geometry of proxies and samples, in numpy (no torch): what the lessons, the dashboard and the demo's summary
measure on a snapshot, defined once here.

A snapshot's arrays: ``embeddings`` (N, d), ``labels`` (N,) in [0, C), ``modes`` (N,) ground-truth mode ids (-1 =
unknown), ``proxies`` (C, K, d). Cosines are taken between L2-normalised rows.
"""
from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise the last axis; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def nearest_proxy(embeddings: np.ndarray, proxies: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each sample: class (N,) and sub-proxy index (N,) of its most similar proxy of all C·K (ties: the lowest
    flat index c·K + k), and that cosine (N,)."""
    c, k, d = proxies.shape
    sims = unit_rows(embeddings) @ unit_rows(proxies.reshape(c * k, d)).T  # (N, C·K)
    best = sims.argmax(axis=1)
    return best // k, best % k, sims[np.arange(len(best)), best]


def wrong_proxy_share_by_mode(embeddings: np.ndarray, labels: np.ndarray, modes: np.ndarray,
                              proxies: np.ndarray) -> dict[int, float]:
    """Per ground-truth mode id: the share of its samples whose most similar proxy belongs to another class — the
    samples a proxy-based retrieval gets wrong (the player's "proxy outcome" colouring). Unknown modes (-1) and
    samples of classes without proxies are left out."""
    nearest_class, _, _ = nearest_proxy(embeddings, proxies)
    keep = (modes >= 0) & (labels < proxies.shape[0])
    wrong = nearest_class[keep] != labels[keep]
    ids, inverse = np.unique(modes[keep], return_inverse=True)
    shares = np.bincount(inverse, weights=wrong, minlength=len(ids)) / np.bincount(inverse, minlength=len(ids))
    return {int(m): float(v) for m, v in zip(ids, shares)}
