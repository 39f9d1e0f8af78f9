"""Percentile-bootstrap intervals over seeds for the report's verdicts (numpy only).

The unit resampled is the seed: a seed fixes a run's data, batches and initialisation, so per-seed values are the
independent observations. With few seeds (3-5) a percentile interval is narrower than its nominal level (the seeds
at hand stand in for all seeds), which the report says where it uses one.
"""
from __future__ import annotations

import warnings

import numpy as np


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """Central ``level`` interval of the finite ``replicates`` (R,); NaN when none is finite."""
    finite = replicates[np.isfinite(replicates)]
    if not finite.size:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _check(level: float, resamples: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")


def mean_interval(values, level: float, seed: int, resamples: int) -> tuple[float, float]:
    """Bootstrap interval of the mean of per-seed ``values`` (n,) (e.g. paired differences of two variants run
    with the same seeds); NaN values are left out; NaN bounds when fewer than two values remain."""
    _check(level, resamples)
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    draws = np.random.default_rng(int(seed)).integers(0, v.size, size=(int(resamples), v.size))  # (R, n)
    return _percentile_interval(v[draws].mean(axis=1), level)


def rank_corr(kind: str, a, b) -> float:
    """Kendall's τ-b (``kind="kendall"``) or Spearman's ρ of two score lists; NaN for fewer than three items or a
    constant list (nothing is ranked)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    fn = stats.kendalltau if kind == "kendall" else stats.spearmanr
    return float(fn(a, b)[0])


def seed_pair_taus(scores) -> np.ndarray:
    """Kendall τ between the methods' scores under every pair of seeds: (metrics, seeds, methods) →
    (metrics, seeds, seeds), NaN on the diagonal and where :func:`rank_corr` is NaN."""
    s = np.asarray(scores, dtype=np.float64)
    m, n, _ = s.shape
    tau = np.full((m, n, n), np.nan)
    for a in range(m):
        for i in range(n):
            for j in range(i + 1, n):
                tau[a, i, j] = tau[a, j, i] = rank_corr("kendall", s[a, i], s[a, j])
    return tau


def weighted_pair_means(tau: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean τ over the pairs of distinct seeds of each resample: τ (M, S, S) and per-resample seed multiplicities
    ``counts`` (R, S) → (R, M). A pair (i, j), i ≠ j, counts c_i·c_j times; pairs of a seed with itself are not
    pairs of seeds; NaN τ are left out; NaN where no pair remains. All-ones counts give the plain mean."""
    valid = np.isfinite(tau)  # the diagonal is NaN
    filled = np.where(valid, tau, 0.0)
    weight = np.einsum("ri,rj,mij->rm", counts, counts, valid.astype(np.float64))
    total = np.einsum("ri,rj,mij->rm", counts, counts, filled)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def tau_gain_interval(better, worse, level: float, seed: int, resamples: int) -> tuple[float, float]:
    """Bootstrap interval, over seeds, of mean τ(``better`` metrics) − mean τ(``worse`` metrics).

    ``better`` and ``worse``: one (metrics, seeds, methods) score array per group of methods (groups may have
    different numbers of methods, not of seeds). The statistic is the report's: per metric, the mean over groups of
    the mean τ over seed pairs; then the mean over metrics; NaN means are left out at every level. The same seed
    draw serves every group (a seed is the same data and batches in all of them). NaN bounds with fewer than three
    seeds (one or no seed pair: nothing to resample).
    """
    _check(level, resamples)
    seeds = {np.shape(g)[1] for g in (*better, *worse)}
    if len(seeds) != 1:
        raise ValueError(f"every group must have the same number of seeds, got {sorted(seeds)}")
    n = seeds.pop()
    if n < 3:
        return float("nan"), float("nan")
    draws = np.random.default_rng(int(seed)).integers(0, n, size=(int(resamples), n))
    counts = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(np.float64)  # (R, S)

    def mean_tau(groups) -> np.ndarray:  # (R,)
        per_group = np.stack([weighted_pair_means(seed_pair_taus(g), counts) for g in groups])  # (G, R, M)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": all-NaN means are NaN, as meant
            return np.nanmean(np.nanmean(per_group, axis=0), axis=-1)

    return _percentile_interval(mean_tau(better) - mean_tau(worse), level)
