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


def mode_coverage(embeddings: np.ndarray, labels: np.ndarray, modes: np.ndarray,
                  proxies: np.ndarray) -> dict[str, np.ndarray | float]:
    """Do a class's proxies cover each of its ground-truth modes (SCIENCE.md section 2)?

    A mode's centre is the mean direction of its samples' unit embeddings; its class is the most frequent label
    among them (a mode lies in one class in data proxylab makes; :func:`proxylab.metrics.mode_coverage` refuses any
    other). A mode is **covered** when the proxy most similar to its centre, over all C·K (ties: the lowest flat index
    c·K + k), belongs to its class. Unknown modes (-1) and samples of classes without proxies (label >= C: unseen
    classes of a zero-shot split) are left out.

    Returns
    -------
    dict
        ``mode_coverage`` (share of covered modes; NaN without modes), ``mode_best_cos`` (mean best own-class
        cosine) and per mode, sorted by id: ``mode_ids``, ``mode_labels``, ``mode_sizes`` (int64),
        ``per_mode_best_cos`` (float64), ``best_proxy`` (k of the most similar own-class sub-proxy), ``nearest_class``
        (class of the most similar proxy overall), ``covered`` (bool). A centre whose unit embeddings cancel out has
        all cosines 0.
    """
    c, k, d = proxies.shape
    known = (modes >= 0) & (labels >= 0) & (labels < c)
    ids, member_of, sizes = np.unique(modes[known], return_inverse=True, return_counts=True)  # (M,), (n,), (M,)
    m = len(ids)
    votes = np.bincount(member_of * c + labels[known], minlength=m * c).reshape(m, c)
    mode_labels = votes.argmax(axis=1)  # (M,)
    from scipy.sparse import csr_matrix  # (scikit-learn's dependency) a sparse sum adds in row order, like np.add.at

    members = csr_matrix((np.ones(len(member_of)), (member_of, np.arange(len(member_of)))), shape=(m, len(member_of)))
    centres = members @ unit_rows(embeddings[known]) if m else np.zeros((0, d))  # (M, d) sums: the mean direction
    cos = unit_rows(centres) @ unit_rows(proxies.reshape(c * k, d)).T  # (M, C·K)
    own = cos.reshape(m, c, k)[np.arange(m), mode_labels]  # (M, K)
    nearest_class = cos.argmax(axis=1) // k  # argmax: the first maximum
    covered = nearest_class == mode_labels
    best = own.max(axis=1) if m else np.zeros(0)
    return {
        "mode_coverage": float(covered.mean()) if m else float("nan"),
        "mode_best_cos": float(best.mean()) if m else float("nan"),
        "mode_ids": ids.astype(np.int64), "mode_labels": mode_labels.astype(np.int64),
        "mode_sizes": sizes.astype(np.int64), "per_mode_best_cos": best.astype(np.float64),
        "best_proxy": own.argmax(axis=1).astype(np.int64) if m else np.zeros(0, np.int64),
        "nearest_class": nearest_class.astype(np.int64), "covered": covered,
    }
