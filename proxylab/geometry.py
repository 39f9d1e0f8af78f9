"""Geometry of proxies and samples, in numpy (no torch): what the lessons, the dashboard and the demo's summary
measure on a snapshot, defined once here.

A snapshot's arrays: ``embeddings`` (N, d), ``labels`` (N,) in [0, C), ``modes`` (N,) ground-truth mode ids (-1 =
unknown), ``proxies`` (C, K, d). Cosines are taken between L2-normalised rows.

Sub-proxy share and dead sub-proxies: a class's sample *uses* the own-class sub-proxy most similar to it; a
sub-proxy's share is the fraction of its class's samples that use it, and it is **dead** when that share is below
:data:`DEAD_SHARE` (with K = 1 a proxy is never dead). The trainer's ``dead_proxies`` metric, the Proxies page and
the Lessons page all count this. The trainer also logs ``proxy_usage``, the *soft* assignment of SoftTriple
(a softmax over the sub-proxies' similarities), a different quantity that the pages name as such.
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


#: a sub-proxy used by fewer than this share of its class's samples is dead
DEAD_SHARE = 0.05


def sub_proxy_share(embeddings: np.ndarray, labels: np.ndarray, proxies: np.ndarray) -> np.ndarray:
    """(C, K): the share of each class's samples whose most similar own-class sub-proxy is k (ties: the lower k).
    Rows sum to 1; a class without samples has a row of zeros. Labels outside [0, C) are left out."""
    c, k, _ = proxies.shape
    keep = (labels >= 0) & (labels < c)
    x, y = unit_rows(embeddings[keep]), labels[keep]
    own = np.einsum("nd,nkd->nk", x, unit_rows(proxies)[y])  # (n, K) cosines to the own class's sub-proxies
    counts = np.zeros((c, k))
    np.add.at(counts, (y, own.argmax(axis=1)), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return counts / np.where(totals > 0, totals, 1.0)


def dead_sub_proxies(share: np.ndarray, threshold: float = DEAD_SHARE) -> np.ndarray:
    """Boolean (C, K): sub-proxies whose share (rows of :func:`sub_proxy_share`, or any non-negative usage, which is
    normalised per class) is below `threshold`. A class with no samples is not judged; with K = 1 nothing is dead."""
    share = np.asarray(share, dtype=np.float64)
    totals = share.sum(axis=1, keepdims=True)
    return (share / np.where(totals > 0, totals, 1.0) < threshold) & (totals > 0) & (share.shape[1] > 1)


def welch_floor(n: int, d: int) -> float:
    """Lowest possible mean squared off-diagonal cosine of n unit vectors in R^d: 0 when n <= d, else
    (n/d - 1)/(n - 1) (Welch 1974), so no regulariser can push the proxies' mean cos² below it."""
    if n <= 1 or n <= d:
        return 0.0
    return (n / d - 1.0) / (n - 1.0)
