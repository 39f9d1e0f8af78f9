"""ProxyNCA (Movshovitz-Attias et al., ICCV 2017) and ProxyNCA++ (Teh, DeVries, Taylor, ECCV 2020).

With d(x, p) = ‖x̂ − p̂‖² = 2 − 2 s(x, p) on unit vectors and logits ``z(x, c, k) = −σ·d(x, p_{c,k})``:

- softmax form (default; pytorch-metric-learning's ``ProxyNCALoss``)::

      ℓ = −log Σ_k softmax_{(c,k)}(z)_{(y,k)} = −LSE_k z(x,y,k) + LSE_{c,k} z(x,c,k)

- the paper's form (``exclude_positive=True``; the positive is left out of the denominator, so
  the loss never saturates on the positive and can be negative)::

      ℓ = −LSE_k z(x,y,k) + LSE_{c≠y,k} z(x,c,k)

With K > 1 sub-proxies a class's probability is the *sum* of its sub-proxies' softmax probabilities,
i.e. the class logit is ``LSE_k z(x,c,k)`` (a soft minimum of the distances to the class's
proxies). For K = 1 both forms reduce to the papers'. Parts: ``pos = mean_x(−LSE_k z(x,y,k))``
(the pull towards the own class) and ``neg`` = the mean of the second LSE (the normaliser; 0 where
there is no other class).
"""
from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from ..params import BOOL, Interval
from .base import MetricLoss, own_class
from .logsumexp import masked_logsumexp
from .registry import register_loss

POSITIVE_FLOAT = [Interval(float, 0, None, closed="neither")]


def proxy_nca_terms(sims: Tensor, labels: Tensor, scale: float, exclude_positive: bool) -> tuple[Tensor, Tensor]:
    """Pull and normaliser terms of ProxyNCA from cosines.

    Parameters
    ----------
    sims : Tensor, shape (B, C, K)
        Cosine of every sample to every proxy.
    labels : Tensor of int, shape (B,)
        Class of each sample, in ``[0, C)``.
    scale : float
        σ, multiplies the squared distance 2 − 2s.
    exclude_positive : bool
        Leave the own class out of the normaliser (the paper's form).

    Returns
    -------
    pos, neg : Tensor, scalar
        Batch means of ``−LSE_k z(x,y,k)`` and of the normaliser LSE; ``pos + neg`` is the loss.
    """
    b, c, k = sims.shape
    logits = sims * (2.0 * scale) - 2.0 * scale  # (B, C, K): −σ‖x̂ − p̂‖² = −σ(2 − 2s), in two elementwise ops
    # A class's mass sums over its K sub-proxies: class logit = LSE_k. The normaliser LSE_c LSE_k is one
    # LSE over all C·K logits, which is faster than a reduction over the short K axis first.
    own_logits = own_class(logits, labels)  # (B, K)
    pos = -(own_logits.squeeze(-1) if k == 1 else own_logits.logsumexp(dim=-1))  # (B,)
    flat = logits.reshape(b, c * k)  # (B, C*K)
    if exclude_positive:
        own = F.one_hot(labels.long(), c).bool()  # (B, C)
        others = ~own.unsqueeze(-1).expand(b, c, k).reshape(b, c * k)  # (B, C*K)
        neg = masked_logsumexp(flat, others, dim=1)  # (B,), 0 without another class
    else:
        neg = flat.logsumexp(dim=1)  # (B,)
    return pos.mean(), neg.mean()


@register_loss("proxy_nca")
class ProxyNCALoss(MetricLoss):
    """ProxyNCA (Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies", ICCV 2017).

    Parameters
    ----------
    num_classes : int
        C.
    embedding_dim : int
        d.
    proxies_per_class : int, default=1
        K; a class's probability is the sum over its K sub-proxies (class logit = LSE_k).
    scale : float, default=1.0
        σ > 0 multiplying the squared distance ‖x̂ − p̂‖² (pytorch-metric-learning's
        ``softmax_scale``, default 1, which matches the paper's unit-norm squared distances).
        Larger values sharpen the softmax: Proxy Anchor's ProxyNCA baseline uses 32 and
        ProxyNCA++ (``proxy_nca_pp``) 9.
    exclude_positive : bool, default=False
        False: softmax form (as in pytorch-metric-learning). True: the paper's form, positive left
        out of the denominator.
    **kwargs
        ``so_weight``, ``so_scope``, ``proxy_init`` of :class:`MetricLoss`.

    Notes
    -----
    Proxies are initialised ``normal(0, 1)`` as in pytorch-metric-learning and trained with the
    model's learning rate (``default_proxy_lr_multiplier = 1``). The softmax form with K = 1 equals
    pytorch-metric-learning's ``ProxyNCALoss(softmax_scale=scale)`` in values and gradients (it
    drops samples whose probability underflows to 0; here they keep their finite loss).

    References
    ----------
    Y. Movshovitz-Attias, A. Toshev, T. Leung, S. Ioffe, S. Singh. No Fuss Distance Metric Learning
    using Proxies. ICCV 2017.
    """

    default_proxy_init: ClassVar[str] = "normal"
    default_proxy_lr_multiplier: ClassVar[float] = 1.0
    parameter_constraints: ClassVar[dict[str, list]] = {"scale": POSITIVE_FLOAT, "exclude_positive": [BOOL]}

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 1, *,
                 scale: float = 1.0, exclude_positive: bool = False, **kwargs):
        self.validate(dict(scale=scale, exclude_positive=exclude_positive))
        super().__init__(num_classes, embedding_dim, proxies_per_class, **kwargs)
        self.scale = float(scale)
        self.exclude_positive = exclude_positive

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:
        pos, neg = proxy_nca_terms(sims, labels, self.scale, self.exclude_positive)  # sims (B, C, K)
        return {"pos": pos, "neg": neg}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}, exclude_positive={self.exclude_positive}"


@register_loss("proxy_nca_pp")
class ProxyNCAPlusPlusLoss(MetricLoss):
    """ProxyNCA++ loss (Teh, DeVries, Taylor, "ProxyNCA++: Revisiting and Revitalizing Proxy Neighborhood
    Component Analysis", ECCV 2020).

    The softmax form of ProxyNCA with x̂ and p̂ both scaled by √(1/T), i.e. ``σ = 1/T`` on the squared
    distance: ``ℓ = −log softmax_c(−‖x̂ − p̂_c‖²/T)_y``. Only the loss is here; the paper's other
    ingredients (global max pooling, fast-moving proxies, layer norm, class-balanced sampling) belong
    to the model, sampler and optimiser.

    Parameters
    ----------
    num_classes : int
        C.
    embedding_dim : int
        d.
    proxies_per_class : int, default=1
        K; as in :class:`ProxyNCALoss`, a class's probability sums over its sub-proxies.
    temperature : float, default=1/9
        T > 0 (the paper's low temperature, scale 3 on both vectors).
    **kwargs
        ``so_weight``, ``so_scope``, ``proxy_init`` of :class:`MetricLoss`.

    Notes
    -----
    Proxies are initialised ``randn / 8`` (``normal_scaled``) as in the official code. "Fast-moving
    proxies": the paper trains proxies with a much larger learning rate than the backbone; the
    exact ratio is dataset-specific, proxylab's default multiplier is ×100 (Proxy Anchor's recipe).
    Parts as in :class:`ProxyNCALoss`.

    References
    ----------
    E. W. Teh, T. DeVries, G. W. Taylor. ProxyNCA++: Revisiting and Revitalizing Proxy Neighborhood
    Component Analysis. ECCV 2020.
    """

    default_proxy_init: ClassVar[str] = "normal_scaled"
    default_proxy_lr_multiplier: ClassVar[float] = 100.0
    parameter_constraints: ClassVar[dict[str, list]] = {"temperature": POSITIVE_FLOAT}

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 1, *,
                 temperature: float = 1.0 / 9.0, **kwargs):
        self.validate(dict(temperature=temperature))
        super().__init__(num_classes, embedding_dim, proxies_per_class, **kwargs)
        self.temperature = float(temperature)

    def compute(self, sims: Tensor, labels: Tensor) -> dict[str, Tensor]:
        pos, neg = proxy_nca_terms(sims, labels, 1.0 / self.temperature, exclude_positive=False)  # sims (B, C, K)
        return {"pos": pos, "neg": neg}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}"
