"""Statistics the trainer logs each step: gradient concentration and proxy geometry (pure torch functions)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..geometry import welch_floor


def gini(values: Tensor) -> float:
    """Gini coefficient of non-negative values (0 = all equal, → 1 = all mass on one item)."""
    v = values.detach().double().flatten().sort().values  # (n,) ascending
    if v.numel() == 0 or v[-1] <= 0:
        return 0.0
    v = v / v[-1]  # scale-free: keeps sums finite near the float maximum and exact for subnormal inputs
    n, total = v.numel(), v.sum()
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


SAMPLE_GRAD_KEYS = ("sample_grad/mean", "sample_grad/max", "sample_grad/top10_share", "sample_grad/gini")
PROXY_GEOMETRY_KEYS = ("proxy/mean_cos", "proxy/max_cos", "proxy/mean_sq_cos", "proxy/r_so")


@torch.no_grad()
def sample_grad_summaries(sample_grad_norms: Tensor) -> dict[str, Tensor]:
    """Per-sample ‖∂L/∂f(x)‖ of T batches (T, B) → mean, max and two concentration measures, each (T,) float64 on
    the host.

    One sort serves all four (the trainer runs this on every logged step): Gini from the ascending
    order, the top-10 % share from its tail; equal to :func:`gini` and :func:`top_share` (0 for an
    all-zero batch). The sort runs in numpy: torch's CPU sort of a (64, 128) batch takes ~15x longer.
    """
    v = np.sort(sample_grad_norms.detach().double().cpu().numpy(), axis=-1)  # (T, B) ascending
    n = v.shape[-1]
    total = v.sum(axis=-1)  # (T,)
    safe = np.maximum(total, np.finfo(v.dtype).tiny)
    ranks = np.arange(1, n + 1, dtype=v.dtype)
    top = max(1, int(round(0.1 * n)))
    nonzero = total > 0
    share = np.where(nonzero, v[:, n - top:].sum(axis=-1) / safe, 0.0)
    gini_value = np.where(nonzero, 2 * (v * ranks).sum(axis=-1) / (n * safe) - (n + 1) / n, 0.0)
    return {key: torch.from_numpy(np.ascontiguousarray(column))
            for key, column in zip(SAMPLE_GRAD_KEYS, (v.mean(axis=-1), v[:, -1], share, gini_value))}


def sample_grad_summary(sample_grad_norms: Tensor) -> dict[str, float]:
    """:func:`sample_grad_summaries` of one batch (B,), as floats."""
    return {k: float(v[0]) for k, v in sample_grad_summaries(sample_grad_norms.flatten()[None]).items()}


GEOMETRY_BYTES = 256 * 2**20  # memory for the Gram matrices of proxy_geometries


@torch.no_grad()
def proxy_geometries(proxies: Tensor) -> dict[str, Tensor]:
    """Cosine statistics of T sets of normalised proxies (T, C, K, d), each (T,): mean and max off-diagonal
    cosine, mean squared cosine and R_SO (their sum). 0 for a single proxy (no pairs).

    The off-diagonal sums are the Gram matrix's sums less its diagonal (no masked copy of it).
    """
    t, c, k, d = proxies.shape
    if c * k == 1:
        zero = proxies.new_zeros(t, dtype=torch.float64)
        return {key: zero for key in PROXY_GEOMETRY_KEYS}
    n = c * k
    pairs = n * (n - 1)
    p = F.normalize(proxies.reshape(t, n, d).double(), dim=-1)  # (T, n, d)
    # steps at a time so that their (n, n) Grams stay within GEOMETRY_BYTES (C·K = 4,000: 2 steps of 128 MB)
    per_chunk = max(1, GEOMETRY_BYTES // (2 * 8 * n * n))
    parts = []
    for start in range(0, t, per_chunk):
        gram = p[start:start + per_chunk] @ p[start:start + per_chunk].transpose(1, 2)  # (t', n, n)
        diag = gram.diagonal(dim1=1, dim2=2)  # (t', n): 1, or 0 for a zero proxy
        total = gram.sum(dim=(1, 2)) - diag.sum(dim=1)
        squares = gram.square().sum(dim=(1, 2)) - diag.square().sum(dim=1)
        diag.fill_(-math.inf)
        parts.append((total / pairs, gram.amax(dim=(1, 2)), squares / pairs, squares))
    return {key: torch.cat(column) for key, column in zip(PROXY_GEOMETRY_KEYS, zip(*parts))}


def proxy_geometry(proxies: Tensor) -> dict[str, float]:
    """:func:`proxy_geometries` of one set of proxies (C, K, d), as floats, plus the Welch floor for n = C·K in R^d."""
    c, k, d = proxies.shape
    stats = {key: float(v[0]) for key, v in proxy_geometries(proxies[None]).items()}
    return {**stats, "proxy/welch_floor": welch_floor(c * k, d)}


@torch.no_grad()
def pull_push_gradients(sims_grad: Tensor, embeddings: Tensor, labels: Tensor, proxies: Tensor) -> tuple[Tensor, Tensor]:
    """Each proxy's gradient split by the pairs it flows through, shapes (..., C, K, d) and (..., C, K, d).

    Inputs: ``sims_grad`` (..., B, C, K) = ∂L/∂s, ``embeddings`` (..., B, d), ``labels`` (..., B),
    ``proxies`` (..., C, K, d); a leading dimension batches several steps.

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
    c = proxies.shape[-3]
    x_hat = F.normalize(embeddings, dim=-1)  # (..., B, d)
    own = F.one_hot(labels, c).to(sims_grad.dtype).unsqueeze(-1)  # (..., B, C, 1)
    g_all = torch.einsum("...bck,...bd->...ckd", sims_grad, x_hat)  # (..., C, K, d), on the unit proxies p̂
    g_pull = torch.einsum("...bck,...bd->...ckd", sims_grad * own, x_hat)  # (..., C, K, d)
    norm = proxies.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (..., C, K, 1), as F.normalize
    p_hat = proxies / norm

    def through_normalisation(g: Tensor) -> Tensor:  # ∂p̂/∂p = (I − p̂p̂ᵀ)/‖p‖
        return (g - p_hat * (p_hat * g).sum(-1, keepdim=True)) / norm

    return through_normalisation(g_pull), through_normalisation(g_all - g_pull)


@torch.no_grad()
def sub_proxy_usage(similarities: Tensor, labels: Tensor, gamma: float = 0.1) -> Tensor:
    """Mean soft assignment of each class's samples to its K sub-proxies: (..., B, C, K) → (..., C, K).

    q_k(x) = softmax_k(s(x, y, k) / γ) as in SoftTriple; rows of classes absent from the batch are NaN.
    A leading dimension (``labels`` (..., B)) batches several steps.
    """
    *lead, b, c, k = similarities.shape
    sims = similarities.reshape(-1, b, c, k)  # (T, B, C, K)
    y = labels.reshape(-1, b)  # (T, B)
    t = sims.shape[0]
    own = sims.reshape(t * b, c, k)[torch.arange(t * b, device=y.device), y.flatten()].reshape(t, b, k)  # (T, B, K)
    e = (own.double() / gamma).exp()  # cosines: e^(±1/γ) is far from float64's range, no max to subtract
    q = (e / e.sum(dim=-1, keepdim=True)).to(own.dtype)  # (T, B, K); torch.softmax over a short last dim is slow
    slot = _step_class_slots(y, c)  # (T*B,)
    usage = torch.zeros(t * c, k, dtype=q.dtype, device=q.device).index_add_(0, slot, q.reshape(t * b, k))
    counts = torch.bincount(slot, minlength=t * c).to(q.dtype)[:, None]  # (T*C, 1)
    return (usage / counts).reshape(*lead, c, k)  # NaN where a class is absent


def _step_class_slots(labels: Tensor, num_classes: int) -> Tensor:
    """Labels of T steps (T, B) → one flat index per sample into T·C (step, class) slots, (T*B,)."""
    return (labels + num_classes * torch.arange(labels.shape[0], device=labels.device)[:, None]).flatten()


@torch.no_grad()
def class_sums(values: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Per-class sums of per-sample ``values`` (..., B) with ``labels`` (..., B) → (..., C)."""
    *lead, b = values.shape
    v, y = values.reshape(-1, b), labels.reshape(-1, b)
    t = v.shape[0]
    slot = _step_class_slots(y, num_classes)
    return torch.zeros(t * num_classes, dtype=v.dtype, device=v.device).index_add_(0, slot, v.flatten()) \
        .reshape(*lead, num_classes)
