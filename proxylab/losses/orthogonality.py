"""Soft orthogonality (SO) of proxies — a RECONSTRUCTION.

Saberi-Movahed et al. (arXiv 2306.13055) add a soft-orthogonality regulariser to Proxy Anchor; the
paper's exact form and weight could not be retrieved. proxylab uses the standard SO form on
L2-normalised proxies, composable with any proxy loss:

    R_SO = ‖P̂ P̂ᵀ − I‖²_F  over the n = C·K proxy rows,

i.e. the sum of squared cosines over ordered pairs i ≠ j in scope (the diagonal is exactly 0 for
unit rows). ``scope="between_classes"`` drops the pairs of sub-proxies of the same class, so SO does
not fight multi-proxy coverage. ∂R/∂p̂_i = 4 Σ_{j≠i} (p̂_iᵀp̂_j) p̂_j (scope "all").

Welch bound: n unit vectors in R^d satisfy Σ_{i≠j} cos² ≥ n²/d − n, i.e. the mean off-diagonal
cos² is at least (n/d − 1)/(n − 1) when n > d (0 otherwise): perfect orthogonality is impossible
once there are more proxies than dimensions.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..geometry import welch_floor  # noqa: F401  (the floor of this regulariser, exported with it)


class SOValue(NamedTuple):
    total: Tensor  # R_SO, the sum of squared off-diagonal cosines over pairs in scope
    mean_sq_cos: Tensor  # R_SO / number of ordered pairs in scope


def _off_diagonal_square_sum(p: Tensor) -> Tensor:
    """Σ_{i≠j} (p̂_iᵀp̂_j)² for unit rows p̂ (n, d), by the cheaper of two exact identities.

    n ≤ d: the (n, n) Gram with its diagonal zeroed (exact zeros for orthonormal rows). n > d: the Gram is
    never formed — ‖P̂P̂ᵀ‖²_F = ‖P̂ᵀP̂‖²_F, so the sum is ‖P̂ᵀP̂‖²_F − Σ_i ‖p̂_i‖⁴ from a (d, d) product:
    O(n·d²) time and d² memory instead of O(n²·d) and n² (C·K = 4,000 proxies in d = 64: 64× less work).
    The subtraction cannot lose much here: when n > d the sum is at least n²/d − n (Welch).
    """
    n, d = p.shape
    if n <= d:
        gram = p @ p.T  # (n, n)
        return gram.masked_fill(torch.eye(n, dtype=torch.bool, device=p.device), 0.0).pow(2).sum()
    return (p.T @ p).pow(2).sum() - p.pow(2).sum(dim=1).pow(2).sum()  # (d, d) product


def soft_orthogonality(proxies: Tensor, scope: str = "all") -> SOValue:
    """R_SO of proxies shaped (C, K, d) (normalised here). Returns the sum and the mean over pairs.

    ``between_classes`` is the sum over all pairs minus each class's own (K, K) block, so neither scope forms
    an (n, n) matrix when n = C·K > d.
    """
    if proxies.ndim != 3:
        raise ValueError(f"proxies must have shape (C, K, d), got {tuple(proxies.shape)}")
    if scope not in ("all", "between_classes"):
        raise ValueError(f"scope must be one of 'all', 'between_classes', got {scope!r}")
    c, k, d = proxies.shape
    n = c * k
    # accumulated in float64: the n > d identity subtracts two large sums (float32 lost up to 2e-4 relative in
    # the gradient); the products are (d, d) and (C, K, K), cheap next to the loss itself
    p = F.normalize(proxies.reshape(n, d).double(), dim=-1)  # (n, d)
    total = _off_diagonal_square_sum(p)
    pairs = n * (n - 1)
    if scope == "between_classes" and k > 1:
        blocks = p.view(c, k, d) @ p.view(c, k, d).transpose(1, 2)  # (C, K, K): same-class cosines
        same_class = blocks.masked_fill(torch.eye(k, dtype=torch.bool, device=p.device), 0.0).pow(2).sum()
        total = total - same_class
        pairs -= c * k * (k - 1)
    total = total.to(proxies.dtype)
    return SOValue(total, total / max(pairs, 1))
