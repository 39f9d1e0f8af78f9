"""Masked log-sum-exp with finite values and gradients everywhere, including on empty sets.

Every loss here is built from terms of the form ``LSE_{j in S} z_j`` or
``log(1 + Σ_{j in S} e^{z_j}) = softplus(LSE_{j in S} z_j)``. ``torch.logsumexp`` of an empty set is
``-inf`` and its gradient is NaN, so a class absent from the batch or a proxy without negatives would
poison the whole backward pass; these helpers return 0 for an empty set instead, with zero gradient.
The running maximum is detached: LSE does not depend on it, so the gradient stays exact.
"""
from __future__ import annotations

from torch import Tensor


def masked_logsumexp(logits: Tensor, mask: Tensor, dim: int) -> Tensor:
    """``LSE_{j: mask_j} logits_j`` along ``dim``; 0 where the mask selects no finite logit.

    Parameters
    ----------
    logits : Tensor
        Any shape; ``-inf`` entries are allowed (they contribute nothing).
    mask : Tensor of bool
        Same shape as ``logits`` (or broadcastable to it); False entries are left out.
    dim : int
        The dimension reduced.

    Returns
    -------
    Tensor
        ``logits`` with ``dim`` removed.
    """
    masked = logits.masked_fill(~mask, float("-inf"))
    peak = masked.amax(dim=dim, keepdim=True).detach()
    empty = peak == float("-inf")  # nothing finite selected
    peak = peak.masked_fill(empty, 0.0)
    total = (masked - peak).exp().sum(dim=dim, keepdim=True)
    # log(total + 1) = 0 on an empty set and log(total) elsewhere: no log(0), no NaN gradient.
    return (peak + (total + empty.to(total.dtype)).log()).squeeze(dim)


def log1p_sum_exp(logits: Tensor, mask: Tensor, dim: int) -> Tensor:
    """``log(1 + Σ_{j: mask_j} e^{logits_j}) = softplus(LSE_{j: mask_j} logits_j)`` along ``dim``.

    0 where the mask selects nothing (``softplus(-inf) = 0``). Stable for logits of any size
    (e.g. ``α = 1e4``): the implicit extra ``0`` logit is shifted with the others.

    Parameters
    ----------
    logits : Tensor
        Any shape; ``-inf`` entries are allowed.
    mask : Tensor of bool
        Same shape as ``logits`` (or broadcastable to it).
    dim : int
        The dimension reduced.

    Returns
    -------
    Tensor
        ``logits`` with ``dim`` removed, every entry ≥ 0.
    """
    masked = logits.masked_fill(~mask, float("-inf"))
    peak = masked.amax(dim=dim, keepdim=True).detach().clamp_min(0.0)  # the "1" is e^0: shift ≥ 0
    total = (-peak).exp() + (masked - peak).exp().sum(dim=dim, keepdim=True)
    return (peak + total.log()).squeeze(dim)
