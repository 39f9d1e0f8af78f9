"""Conversion and validation of metric inputs (numpy arrays or torch tensors) into torch tensors.

Every check raises a one-line ``ValueError`` naming the parameter, what was expected and what
was given. Floating inputs keep float32/float64 (half precision is promoted to float32, integer
embeddings become float32); torch inputs stay on their device, numpy inputs go to the CPU.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor


def as_embeddings(x: Any, name: str, device: torch.device | None = None) -> Tensor:
    """Return ``x`` as a finite 2-D floating tensor (N, d) with N >= 1 and d >= 1."""
    t = as_tensor(x, name, device)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty (N >= 1, d >= 1), got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or not (t.dtype.is_floating_point or _is_integer_dtype(t.dtype)):
        raise ValueError(f"{name} must hold real numbers, got dtype {t.dtype}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        raise ValueError(f"{name} must be finite, got {int(bad.any(1).sum())} row(s) with NaN or inf")
    return t


def as_labels(y: Any, name: str, n: int, device: torch.device) -> Tensor:
    """Return ``y`` as a 1-D int64 tensor of length ``n`` on ``device``."""
    t = as_tensor(y, name, device)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(t.shape)}")
    if not _is_integer_dtype(t.dtype):
        raise ValueError(f"{name} must be integers, got dtype {t.dtype}")
    return t.to(torch.int64)


def as_ks(ks: Any) -> tuple[int, ...]:
    """Return the sorted distinct cut-offs of ``ks`` (a non-empty iterable of ints >= 1)."""
    values = [ks] if isinstance(ks, numbers.Integral) else ks
    if not isinstance(values, Iterable) or isinstance(values, (str, bytes)):
        raise ValueError(f"ks must be an int >= 1 or a non-empty sequence of them, got {ks!r}")
    values = list(values)
    if not values or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 for k in values):
        raise ValueError(f"ks must be an int >= 1 or a non-empty sequence of them, got {ks!r}")
    return tuple(sorted({int(k) for k in values}))


def feasible_ks(ks: Any, n_points: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Split the cut-offs ``ks`` into those a self-search over ``n_points`` can score and the rest.

    A query has ``n_points - 1`` candidates (itself excluded), so k <= n_points - 1 is feasible.
    :func:`proxylab.metrics.retrieval_metrics` raises on a larger k (an explicit request it cannot
    honour); monitoring code (the trainer's evaluation, imports, baselines) instead reports the
    feasible ones and names the others as missing, so one small split does not stop a run.

    Parameters
    ----------
    ks : int or sequence of int
        Cut-offs, validated as by :func:`as_ks`.
    n_points : int
        Size of the evaluation set.

    Returns
    -------
    feasible, missing : tuple of int
        Sorted distinct cut-offs with k <= n_points - 1, and those above it.
    """
    values = as_ks(ks)
    return (tuple(k for k in values if k <= n_points - 1), tuple(k for k in values if k > n_points - 1))


def missing_ks_note(split: str, n_points: int, missing: tuple[int, ...]) -> str:
    """One-line note that ``split`` (``n_points`` points) cannot score the cut-offs ``missing``."""
    if n_points < 2:
        return f"{split} split: {n_points} point(s), too few for retrieval metrics; the split is not evaluated"
    listed = ", ".join(f"R@{k}" for k in missing)
    return (f"{split} split: {n_points} point(s), so at most {n_points - 1} candidates per query; "
            f"{listed} (and P@k, nDCG@k) not reported")


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high] (high=None: unbounded)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f">= {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be an int {bound}, got {value!r}")
    return int(value)


def as_tensor(x: Any, name: str, device: torch.device | None = None) -> Tensor:
    """Return ``x`` (numpy-convertible or Tensor, real-valued) as a detached tensor on ``device``."""
    if isinstance(x, Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and other non-arrays
            raise ValueError(f"{name} must be an array or tensor, got {type(x).__name__}") from exc
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    return t if device is None else t.to(device)


def _is_integer_dtype(dtype: torch.dtype) -> bool:
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def seeded_subset(n: int, size: int, seed: int) -> np.ndarray:
    """A fixed, sorted random subset of ``range(n)`` of at most ``size`` rows (all of them when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
