"""Proxy Anchor loss (Kim, Kim, Cho, Kwak, "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020).

Each proxy is an anchor that pulls the batch's samples of its class and pushes all others::

    ℓ = 1/|P⁺| Σ_{p∈P⁺} softplus(LSE_{x∈X_p⁺} −α(s(x,p) − δ))
      + 1/|P|  Σ_{p∈P}  softplus(LSE_{x∈X_p⁻}  α(s(x,p) + δ))

P⁺ = proxies whose class occurs in the batch, X_p⁺ / X_p⁻ = batch samples of / not of p's class.
The gradient w.r.t. a similarity is ``−(α/|P⁺|)·h⁺/(1+H⁺_p)`` for a positive and
``+(α/|P|)·h⁻/(1+H⁻_p)`` for a negative (``h⁺ = e^{−α(s−δ)}``, ``H⁺_p = Σ_{x∈X_p⁺} h⁺``): a proxy's
gradient mass is bounded and shared by its class's samples — the *class-wise* gradient.

:func:`proxy_anchor_terms` is the functional core, reused by the MPA family (:mod:`.mpa`).
"""
from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ..params import Interval
from .base import MetricLoss
from .logsumexp import log1p_sum_exp
from .registry import register_loss

ALPHA = [Interval(float, 0, None, closed="neither")]
MARGIN = [Interval(float, 0, 1)]


def proxy_anchor_terms(
    sims: Tensor, positive: Tensor, alpha: float, margin: float, pos_log_weight: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Positive and negative terms of the Proxy Anchor loss over A anchors.

    Parameters
    ----------
    sims : Tensor, shape (B, A)
        Similarity of every sample to every anchor (a proxy, or a class for class-wise MPA).
    positive : Tensor of bool, shape (B, A)
        True where the sample belongs to the anchor's class. Anchors with a True entry form P⁺.
    alpha : float
        Scale α.
    margin : float
        Margin δ.
    pos_log_weight : Tensor, shape (B, A), optional
        Added to the positive logits inside the LSE (``log q``: a positive counts with weight q);
        ``-inf`` drops a pair. Used by the proxy-wise MPA loss.

    Returns
    -------
    pos, neg : Tensor, scalar
        ``1/|P⁺| Σ_{P⁺} softplus(LSE −α(s−δ))`` and ``1/|P| Σ_P softplus(LSE α(s+δ))``.
    """
    pos_logits = -alpha * (sims - margin)  # (B, A)
    if pos_log_weight is not None:
        pos_logits = pos_logits + pos_log_weight
    pos_per_anchor = log1p_sum_exp(pos_logits, positive, dim=0)  # (A,), 0 for anchors without positives
    neg_per_anchor = log1p_sum_exp(alpha * (sims + margin), ~positive, dim=0)  # (A,)
    num_present = positive.any(dim=0).sum()  # |P⁺| ≥ 1 for a non-empty batch
    return pos_per_anchor.sum() / num_present, neg_per_anchor.mean()


@register_loss("proxy_anchor")
class ProxyAnchorLoss(MetricLoss):
    """Proxy Anchor loss (Kim et al., CVPR 2020).

    Parameters
    ----------
    num_classes : int
        C.
    embedding_dim : int
        d.
    proxies_per_class : int, default=1
        K. With K > 1 every sub-proxy is a proxy of its class in its own right: P holds all C·K
        sub-proxies, P⁺ the sub-proxies of the classes in the batch.
    alpha : float, default=32.0
        Scale α > 0.
    margin : float, default=0.1
        Margin δ in [0, 1].
    **kwargs
        ``so_weight``, ``so_scope``, ``proxy_init`` of :class:`MetricLoss`.

    Notes
    -----
    Official recipe (followed by the defaults): proxies ``kaiming_normal`` (fan_out), proxy learning
    rate ×100 (``default_proxy_lr_multiplier``), AdamW with weight decay 1e-4, a warm-up training only
    the head and proxies, gradient clipping at 10. Parts: ``pos`` and ``neg`` are the two sums above.
    Numerically equal (values and gradients) to pytorch-metric-learning's ``ProxyAnchorLoss``.

    References
    ----------
    S. Kim, D. Kim, M. Cho, S. Kwak. Proxy Anchor Loss for Deep Metric Learning. CVPR 2020.
    """

    default_proxy_init: ClassVar[str] = "kaiming_normal"
    default_proxy_lr_multiplier: ClassVar[float] = 100.0
    parameter_constraints: ClassVar[dict[str, list]] = {"alpha": ALPHA, "margin": MARGIN}

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 1, *,
                 alpha: float = 32.0, margin: float = 0.1, **kwargs):
        self.validate(dict(alpha=alpha, margin=margin))
        super().__init__(num_classes, embedding_dim, proxies_per_class, **kwargs)
        self.alpha = float(alpha)
        self.margin = float(margin)

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:  # sims (B, C, K)
        positive = self.class_mask(labels).unsqueeze(-1).expand_as(sims)  # (B, C, K)
        pos, neg = proxy_anchor_terms(sims.flatten(1), positive.flatten(1), self.alpha, self.margin)
        return {"pos": pos, "neg": neg}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, margin={self.margin}"
