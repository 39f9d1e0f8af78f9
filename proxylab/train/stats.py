"""Statistics the trainer logs each step: gradient concentration and proxy geometry (pure torch functions)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..losses.orthogonality import pair_mask, welch_floor


def gini(values: Tensor) -> float:
    """Gini coefficient of non-negative values (0 = all equal, → 1 = all mass on one item)."""
    v = values.detach().double().flatten().sort().values  # (n,) ascending
    n, total = v.numel(), v.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    return float((2 * (ranks * v).sum() / (n * total)) - (n + 1) / n)


def top_share(values: Tensor, fraction: float = 0.1) -> float:
    """Share of the total held by the largest ``fraction`` of the items (at least one item)."""
    v = values.detach().double().flatten()
    total = v.sum()
    if v.numel() == 0 or total <= 0:
        return 0.0
    top = max(1, int(round(fraction * v.numel())))
    return float(v.topk(top).values.sum() / total)


def sample_grad_summary(sample_grad_norms: Tensor) -> dict[str, float]:
    """Summary of per-sample ‖∂L/∂f(x)‖ over a batch: mean, max and two concentration measures.

    One sort serves all four numbers (this runs every step): Gini from the ascending order, the top-10 % share
    from its tail; equal to :func:`gini` and :func:`top_share`.
    """
    v = sample_grad_norms.detach().double().flatten().sort().values  # (B,) ascending
    n, total = v.numel(), v.sum()
    ranks = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    top = max(1, int(round(0.1 * n)))
    safe = total.clamp_min(torch.finfo(v.dtype).tiny)
    stats = torch.stack([v.mean(), v[-1], v[n - top:].sum() / safe, 2 * (ranks * v).sum() / (n * safe) - (n + 1) / n])
    mean, vmax, share, gini_value = stats.tolist()
    if total <= 0:
        share, gini_value = 0.0, 0.0
    return {"sample_grad/mean": mean, "sample_grad/max": vmax, "sample_grad/top10_share": share,
            "sample_grad/gini": gini_value}


@torch.no_grad()
def proxy_geometry(proxies: Tensor, mask: Tensor | None = None) -> dict[str, float]:
    """Cosine statistics of the normalised proxies (C, K, d) and the Welch floor for n = C·K in R^d.

    ``mask``: the (n, n) off-diagonal pair mask, passed in by callers that reuse it every step.
    """
    c, k, d = proxies.shape
    if c * k == 1:  # a single proxy: no pairs
        return {"proxy/mean_cos": 0.0, "proxy/max_cos": 0.0, "proxy/mean_sq_cos": 0.0, "proxy/r_so": 0.0,
                "proxy/welch_floor": 0.0}
    p = F.normalize(proxies.reshape(c * k, d).double(), dim=-1)  # (n, d)
    off = (p @ p.T)[pair_mask(c, k, "all", device=p.device) if mask is None else mask]  # (n(n-1),)
    sq = off.square()
    mean_cos, max_cos, mean_sq, r_so = torch.stack([off.mean(), off.max(), sq.mean(), sq.sum()]).tolist()
    return {"proxy/mean_cos": mean_cos, "proxy/max_cos": max_cos, "proxy/mean_sq_cos": mean_sq, "proxy/r_so": r_so,
            "proxy/welch_floor": welch_floor(c * k, d)}


@torch.no_grad()
def pull_push_gradients(sims_grad: Tensor, embeddings: Tensor, labels: Tensor, proxies: Tensor) -> tuple[Tensor, Tensor]:
    """Each proxy's gradient split by the pairs it flows through, shapes (C, K, d) and (C, K, d).

    *Pull* is the part that flows through the similarities to same-class samples (positive pairs),
    *push* the part through other-class samples (negative pairs). Exact, from the gradient on the
    (B, C, K) similarities ``s = x̂·p̂`` that the loss returned: ``∂L/∂p̂_ck = Σ_i ∂L/∂s_ick x̂_i``,
    mapped through ``p̂ = p/‖p‖``. ``pull + push`` is the proxy gradient minus the gradient of
    regularisers on the proxies themselves (SO, SoftTriple's τ). Where a loss's ``pos`` part reads only
    positive pairs and ``neg`` only negative ones (Proxy Anchor, the MPA family, ProxyNCA without the
    positive in its normaliser) pull and push equal the gradients of ``pos`` and ``neg``; in a softmax
    form the positive's share of the normaliser counts as pull, since it moves the proxy along its own
    class's samples.
    """
    c, k, d = proxies.shape
    x_hat = F.normalize(embeddings, dim=-1)  # (B, d)
    own = F.one_hot(labels, c).to(sims_grad.dtype).unsqueeze(-1)  # (B, C, 1)
    g_all = torch.einsum("bck,bd->ckd", sims_grad, x_hat)  # (C, K, d), on the unit proxies p̂
    g_pull = torch.einsum("bck,bd->ckd", sims_grad * own, x_hat)  # (C, K, d)
    norm = proxies.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (C, K, 1), as F.normalize
    p_hat = proxies / norm
    def through_normalisation(g: Tensor) -> Tensor:  # ∂p̂/∂p = (I − p̂p̂ᵀ)/‖p‖
        return (g - p_hat * (p_hat * g).sum(-1, keepdim=True)) / norm
    return through_normalisation(g_pull), through_normalisation(g_all - g_pull)


@torch.no_grad()
def sub_proxy_usage(similarities: Tensor, labels: Tensor, gamma: float = 0.1) -> Tensor:
    """Mean soft assignment of each class's samples to its K sub-proxies, shape (C, K).

    q_k(x) = softmax_k(s(x, y, k) / γ) as in SoftTriple; rows of classes absent from the batch are NaN.
    """
    b, c, k = similarities.shape
    own = similarities[torch.arange(b, device=labels.device), labels]  # (B, K)
    q = torch.softmax(own / gamma, dim=-1)  # (B, K)
    usage = torch.zeros(c, k, dtype=q.dtype, device=q.device).index_add_(0, labels, q)  # (C, K)
    counts = torch.bincount(labels, minlength=c).to(q.dtype)[:, None]  # (C, 1)
    return usage / counts  # NaN where a class is absent


@torch.no_grad()
def dead_proxies(similarities: Tensor, labels: Tensor) -> Tensor:
    """Boolean (C, K): sub-proxies that are the nearest own-class proxy of none of their class's samples.

    Only classes present in ``labels`` can have dead proxies (an absent class's proxies are not judged).
    """
    b, c, k = similarities.shape
    own = similarities[torch.arange(b, device=labels.device), labels]  # (B, K)
    nearest = own.argmax(dim=-1)  # (B,)
    hits = torch.zeros(c, k, dtype=torch.long, device=labels.device)
    hits.index_put_((labels, nearest), torch.ones_like(labels), accumulate=True)
    present = torch.bincount(labels, minlength=c) > 0  # (C,)
    return (hits == 0) & present[:, None]
