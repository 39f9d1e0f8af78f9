"""Multi-Proxy Anchor (MPA) family — a RECONSTRUCTION, not the paper's verified equations.

Saeki, Kawahara, Aman ("Multi Proxy Anchor Family Loss for Several Types of Gradients",
arXiv 2110.03997) propose three losses built on Proxy Anchor that give every class K sub-proxies
(real classes have several local centres) and differ in whether gradients are generated class-wise
or data-wise. The paper's exact equations could not be retrieved, so proxylab ships this documented
reconstruction, with switches so it can be pinned down later:

- class similarity ``S(x, c) = aggregate_k s(x, c, k)`` (:mod:`.aggregate`; softmax by default);
- ``mpa`` (class-wise): Proxy Anchor with ``s(x, p)`` replaced by ``S(x, c)``; equals
  ``proxy_anchor`` exactly when K = 1;
- ``mpa_dw`` (data-wise): the anchor is the sample,
  ``ℓ = 1/B Σ_x [softplus(−α(S(x,y_x)−δ)) + softplus(LSE_{c≠y_x} α(S(x,c)+δ))]``;
  each sample's gradient mass is bounded by α/B whatever the batch's class counts;
- ``mpa_pw`` (proxy-wise, class-wise): every sub-proxy (c, k) is its own Proxy Anchor anchor; a
  positive x of class c enters anchor (c, k)'s positive LSE with weight ``q_k(x)`` (its soft
  assignment, i.e. ``+log q_k`` inside the LSE); negatives push every sub-proxy unweighted.

Defaults α = 32, δ = 0.1, K = 4, proxy learning rate ×100, proxies ``kaiming_normal`` (fan_out) as
in Proxy Anchor.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ..params import Interval, Options
from .aggregate import AGGREGATORS, aggregate, log_assignment
from .logsumexp import log1p_sum_exp
from .base import own_class
from .proxy_anchor import ProxyAnchorLoss, proxy_anchor_terms
from .registry import register_loss

_PARAMETERS_DOC = """
    Parameters
    ----------
    num_classes : int
        C.
    embedding_dim : int
        d.
    proxies_per_class : int, default=4
        K sub-proxies per class.
    alpha : float, default=32.0
        Scale α > 0.
    margin : float, default=0.1
        Margin δ in [0, 1].
    aggregator : {"softmax", "max", "lse", "mean"}, default="softmax"
        How a class's sub-proxy similarities combine into S(x, c) (and the soft assignment q);
        see :mod:`proxylab.losses.aggregate`.
    gamma : float, default=0.1
        Temperature γ > 0 of the ``softmax`` and ``lse`` aggregators (SoftTriple's value).
    **kwargs
        ``so_weight``, ``so_scope``, ``proxy_init`` of :class:`MetricLoss`.

    References
    ----------
    S. Saeki, M. Kawahara, H. Aman. Multi Proxy Anchor Family Loss for Several Types of Gradients.
    arXiv 2110.03997 (equations reconstructed, see the module docstring).
"""


class MultiProxyAnchorBase(ProxyAnchorLoss):
    __doc__ = """Shared parameters and class similarity of the MPA family (not registered itself).
""" + _PARAMETERS_DOC

    parameter_constraints: ClassVar[dict[str, list]] = {
        **ProxyAnchorLoss.parameter_constraints,
        "aggregator": [Options(AGGREGATORS)],
        "gamma": [Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 4, *,
                 alpha: float = 32.0, margin: float = 0.1, aggregator: str = "softmax",
                 gamma: float = 0.1, **kwargs):
        self.validate(dict(aggregator=aggregator, gamma=gamma))
        super().__init__(num_classes, embedding_dim, proxies_per_class, alpha=alpha, margin=margin, **kwargs)
        self.aggregator = aggregator
        self.gamma = float(gamma)

    def class_similarities(self, embeddings: Tensor) -> Tensor:
        """Aggregated class similarity S(x, c), shape (B, C)."""
        return aggregate(self.similarities(embeddings), self.aggregator, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, aggregator={self.aggregator!r}, gamma={self.gamma}"


@register_loss("mpa")
class MultiProxyAnchorLoss(MultiProxyAnchorBase):
    __doc__ = """Class-wise Multi-Proxy Anchor loss (RECONSTRUCTION, see :mod:`proxylab.losses.mpa`).

    Proxy Anchor over the C classes as anchors, with the class similarity ``S(x, c)``::

        ℓ = 1/|C⁺| Σ_{c∈C⁺} softplus(LSE_{x∈X_c⁺} −α(S(x,c)−δ)) + 1/C Σ_c softplus(LSE_{x∈X_c⁻} α(S(x,c)+δ))

    C⁺ = classes in the batch. With K = 1 this is ``proxy_anchor`` exactly, for every aggregator.
    Parts: ``pos`` and ``neg`` are the two sums.
    """ + _PARAMETERS_DOC

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:
        class_sims = aggregate(sims, self.aggregator, self.gamma)  # (B, C)
        pos, neg = proxy_anchor_terms(class_sims, self.class_mask(labels), self.alpha, self.margin)
        return {"pos": pos, "neg": neg}


@register_loss("mpa_dw")
class DataWiseMultiProxyAnchorLoss(MultiProxyAnchorBase):
    __doc__ = """Data-wise Multi-Proxy Anchor loss (RECONSTRUCTION, see :mod:`proxylab.losses.mpa`).

    Every sample is its own anchor::

        ℓ = 1/B Σ_x [softplus(−α(S(x,y_x)−δ)) + softplus(LSE_{c≠y_x} α(S(x,c)+δ))]

    A sample's gradient mass is bounded by α/B however many same-class samples the batch holds.
    Parts: ``pos`` (first sum) and ``neg`` (second sum; 0 when C = 1).
    """ + _PARAMETERS_DOC

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:
        class_sims = aggregate(sims, self.aggregator, self.gamma)  # (B, C)
        own = self.class_mask(labels)  # (B, C)
        own_sims = own_class(class_sims, labels)  # (B,)
        pos_logits = (-self.alpha * (own_sims - self.margin)).unsqueeze(1)  # (B, 1)
        # log1p_sum_exp, not F.softplus: softplus turns linear above 20 and drops e^-20-sized terms
        pos = log1p_sum_exp(pos_logits, torch.ones_like(pos_logits, dtype=torch.bool), dim=1).mean()
        neg = log1p_sum_exp(self.alpha * (class_sims + self.margin), ~own, dim=1).mean()
        return {"pos": pos, "neg": neg}


@register_loss("mpa_pw")
class ProxyWiseMultiProxyAnchorLoss(MultiProxyAnchorBase):
    __doc__ = """Proxy-wise Multi-Proxy Anchor loss (RECONSTRUCTION, see :mod:`proxylab.losses.mpa`).

    Every sub-proxy p = (c, k) is a Proxy Anchor anchor; positives are weighted by their soft
    assignment ``q_k(x) = exp(log_assignment(s(x, c, ·))_k)``::

        ℓ = 1/|P⁺| Σ_{p∈P⁺} softplus(LSE_{x∈X_c⁺} [−α(s(x,p)−δ) + log q_k(x)])
          + 1/|P|  Σ_{p∈P}  softplus(LSE_{x∈X_c⁻} α(s(x,p)+δ))

    P⁺ = the C⁺·K sub-proxies of the classes in the batch (with ``aggregator="max"`` a sub-proxy
    nobody is assigned to contributes 0 to the positive sum but still counts in |P⁺|).
    Parts: ``pos`` and ``neg`` are the two sums.
    """ + _PARAMETERS_DOC

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:  # sims (B, C, K)
        log_q = log_assignment(sims, self.aggregator, self.gamma)  # (B, C, K)
        positive = self.class_mask(labels).unsqueeze(-1).expand_as(sims)  # (B, C, K)
        pos, neg = proxy_anchor_terms(sims.flatten(1), positive.flatten(1), self.alpha, self.margin,
                                      pos_log_weight=log_q.flatten(1))
        return {"pos": pos, "neg": neg}
