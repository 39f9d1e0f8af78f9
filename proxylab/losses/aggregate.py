"""Class similarity from a class's K sub-proxy similarities, shared by SoftTriple and the MPA family.

``S(x, c) = aggregate_k s(x, c, k)`` with one of

- ``"softmax"`` (SoftTriple, Qian et al. 2019): ``Σ_k q_k s_k``, ``q = softmax_k(s / γ)``;
- ``"max"``: ``max_k s_k`` (hard assignment to the nearest sub-proxy);
- ``"lse"``: ``γ · LSE_k(s_k / γ)`` (a smooth max, ≥ max);
- ``"mean"``: ``(1/K) Σ_k s_k``.

The soft assignment ``q_k(x, c)`` of a sample to a class's sub-proxies is what the aggregator
weighs the sub-proxies with: ``softmax(s/γ)`` for ``softmax`` and ``lse`` (for ``lse`` it is exactly
``∂S/∂s_k``), one-hot on the nearest sub-proxy for ``max``, uniform for ``mean``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

AGGREGATORS = ("softmax", "max", "lse", "mean")


class _SoftmaxWeightedSum(torch.autograd.Function):
    """``S = Σ_k q_k s_k`` with ``q = softmax(s/γ)`` as one autograd node.

    Its gradient has a closed form, ``∂S/∂s_k = q_k (1 + (s_k − S)/γ)``, so the backward pass is three
    elementwise operations on (…, K) instead of autograd's chain through div, softmax, mul and sum (SoftTriple
    with K > 1 spends most of its non-matmul time here). Checked against that chain and with gradcheck in
    float64 (tests/test_losses.py).
    """

    @staticmethod
    def forward(ctx, sims: Tensor, gamma: float) -> Tensor:
        weights = torch.softmax(sims / gamma, dim=-1)  # (..., K)
        pooled = (weights * sims).sum(dim=-1)  # (...)
        ctx.save_for_backward(sims, weights, pooled)
        ctx.gamma = gamma
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled: Tensor):
        sims, weights, pooled = ctx.saved_tensors
        slope = (sims - pooled.unsqueeze(-1)).div_(ctx.gamma).add_(1.0).mul_(weights)  # ∂S/∂s, (..., K)
        return slope.mul_(grad_pooled.unsqueeze(-1)), None


def aggregate(sims: Tensor, aggregator: str = "softmax", gamma: float = 0.1) -> Tensor:
    """Aggregate sub-proxy similarities (..., K) into class similarities (...).

    Parameters
    ----------
    sims : Tensor, shape (..., K)
        Cosine similarity to each of a class's K sub-proxies.
    aggregator : {"softmax", "max", "lse", "mean"}, default="softmax"
    gamma : float, default=0.1
        Temperature of ``softmax`` and ``lse`` (ignored by ``max`` and ``mean``).

    Returns
    -------
    Tensor, shape (...)
    """
    if sims.shape[-1] == 1:
        # Every aggregator is the identity on one sub-proxy; skipping it keeps K = 1 bit-identical
        # to the single-proxy loss (γ·LSE(s/γ) would round).
        return sims.squeeze(-1)
    if aggregator == "softmax":
        return _SoftmaxWeightedSum.apply(sims, gamma)
    if aggregator == "max":
        return sims.max(dim=-1).values
    if aggregator == "lse":
        return gamma * torch.logsumexp(sims / gamma, dim=-1)
    if aggregator == "mean":
        return sims.mean(dim=-1)
    raise ValueError(f"aggregator must be one of {', '.join(map(repr, AGGREGATORS))}, got {aggregator!r}")


def log_assignment(sims: Tensor, aggregator: str = "softmax", gamma: float = 0.1) -> Tensor:
    """Log soft assignment ``log q_k`` of samples to sub-proxies, shape (..., K) like ``sims``.

    ``-inf`` marks sub-proxies a sample is not assigned to (``max``); those entries carry no
    gradient. ``exp`` of the result sums to 1 over the last dimension.
    """
    if aggregator in ("softmax", "lse"):
        return torch.log_softmax(sims / gamma, dim=-1)
    if aggregator == "max":
        nearest = sims.argmax(dim=-1, keepdim=True)  # (..., 1)
        log_q = torch.full_like(sims, float("-inf")).detach()
        return log_q.scatter(-1, nearest, 0.0)
    if aggregator == "mean":
        return torch.full_like(sims, -math.log(sims.shape[-1])).detach()
    raise ValueError(f"aggregator must be one of {', '.join(map(repr, AGGREGATORS))}, got {aggregator!r}")
