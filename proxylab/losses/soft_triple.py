"""SoftTriple loss (Qian, Shang, Sun, Hu, Li, Jin, "SoftTriple Loss: Deep Metric Learning Without
Triplet Sampling", ICCV 2019) — the classic multi-centre loss.

``S(x, c) = Σ_k q_k s(x,c,k)``, ``q = softmax_k(s(x,c,·)/γ)`` (the ``softmax`` aggregator), and::

    ℓ = −log [e^{λ(S(x,y)−δ)} / (e^{λ(S(x,y)−δ)} + Σ_{c≠y} e^{λS(x,c)})]

plus, when τ > 0 and K > 1, the centre-merging regulariser
``τ · R / (C·K·(K−1))`` with ``R = Σ_c Σ_{t<s} sqrt(2 − 2ŵ_{c,t}ᵀŵ_{c,s} + 1e-5)`` as in the official
code: minimising it pulls a class's centres together so that redundant ones merge, which lets K be
set generously.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ..params import Interval
from .aggregate import aggregate
from .base import MetricLoss, own_class
from .registry import register_loss

POSITIVE_FLOAT = [Interval(float, 0, None, closed="neither")]


def centre_regulariser(proxies: Tensor) -> Tensor:
    """SoftTriple's ``R / (C·K·(K−1))`` for proxies (C, K, d) with K > 1 (normalised here).

    ``R = Σ_c Σ_{t<s} sqrt(2 + 1e-5 − 2ŵ_{c,t}ᵀŵ_{c,s})``, the distances between a class's centres
    (the 1e-5 keeps the square root differentiable when two centres coincide).
    """
    num_classes, per_class, _ = proxies.shape
    unit = torch.nn.functional.normalize(proxies, dim=-1)  # (C, K, d)
    gram = unit @ unit.transpose(1, 2)  # (C, K, K)
    upper = torch.ones(per_class, per_class, dtype=torch.bool, device=proxies.device).triu(1)  # (K, K): t < s
    distances = (2.0 + 1e-5 - 2.0 * gram[:, upper]).sqrt()  # (C, K(K−1)/2)
    return distances.sum() / (num_classes * per_class * (per_class - 1))


@register_loss("soft_triple")
class SoftTripleLoss(MetricLoss):
    """SoftTriple loss (Qian et al., ICCV 2019).

    Parameters
    ----------
    num_classes : int
        C.
    embedding_dim : int
        d.
    proxies_per_class : int, default=10
        K centres per class.
    scale : float, default=20.0
        λ > 0, the logit scale.
    gamma : float, default=0.1
        γ > 0, temperature of the soft assignment to a class's centres.
    tau : float, default=0.2
        τ ≥ 0, weight of the centre regulariser (part ``reg``; present only when τ > 0 and K > 1).
    margin : float, default=0.01
        δ in [0, 1], subtracted from the own class's similarity.
    **kwargs
        ``so_weight``, ``so_scope``, ``proxy_init`` of :class:`MetricLoss`.

    Notes
    -----
    Centres are initialised ``kaiming_uniform(a=√5)`` (over the (C·K, d) rows; the official code's
    (d, C·K) layout gives another initial norm, which after normalisation only changes the effective
    step size) and trained with learning rate ×100, as in the paper. Parts: ``pos = mean_x(−λ(S(x,y)−δ))`` (pull), ``neg = mean_x LSE_c λ(S(x,c) − δ·[c=y])``
    (the softmax normaliser), ``reg`` the weighted centre regulariser. With τ = 0 the loss equals
    pytorch-metric-learning's ``SoftTripleLoss`` (which omits R) in values and gradients.

    References
    ----------
    Q. Qian, L. Shang, B. Sun, J. Hu, H. Li, R. Jin. SoftTriple Loss: Deep Metric Learning Without
    Triplet Sampling. ICCV 2019.
    """

    default_proxy_init: ClassVar[str] = "kaiming_uniform"
    default_proxy_lr_multiplier: ClassVar[float] = 100.0
    parameter_constraints: ClassVar[dict[str, list]] = {
        "scale": POSITIVE_FLOAT,
        "gamma": POSITIVE_FLOAT,
        "tau": [Interval(float, 0, None)],
        "margin": [Interval(float, 0, 1)],
    }

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 10, *,
                 scale: float = 20.0, gamma: float = 0.1, tau: float = 0.2, margin: float = 0.01, **kwargs):
        self.validate(dict(scale=scale, gamma=gamma, tau=tau, margin=margin))
        super().__init__(num_classes, embedding_dim, proxies_per_class, **kwargs)
        self.scale = float(scale)
        self.gamma = float(gamma)
        self.tau = float(tau)
        self.margin = float(margin)

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:
        class_sims = aggregate(sims, "softmax", self.gamma)  # (B, C) from sims (B, C, K)
        own = self.class_mask(labels)  # (B, C)
        logits = self.scale * (class_sims - self.margin * own.to(class_sims.dtype))  # (B, C)
        parts = {"pos": -own_class(logits, labels).mean(), "neg": logits.logsumexp(dim=1).mean()}
        if self.tau > 0 and self.proxies_per_class > 1:
            parts["reg"] = self.tau * centre_regulariser(self.proxies)
        return parts

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, scale={self.scale}, gamma={self.gamma}, tau={self.tau}, "
                f"margin={self.margin}")
