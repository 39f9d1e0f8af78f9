"""Triplet loss with in-batch mining on normalised embeddings — the proxy-free baseline.

For a triplet (a, p, n) with ``d = ‖x̂ − ŷ‖`` (Euclidean distance between unit embeddings, in [0, 2])::

    ℓ(a, p, n) = max(0, d(a, p) − d(a, n) + m)

- ``mining="batch_hard"`` (Hermans, Beyer, Leibe 2017): one triplet per anchor, its farthest
  positive and nearest negative (anchors without a positive or a negative are skipped);
- ``mining="semi_hard"`` (Schroff, Kalenichenko, Philbin 2015): every triplet whose negative is
  farther than the positive but inside the margin, ``0 < d(a,n) − d(a,p) < m``.

The loss is the mean over *active* triplets (ℓ > 0), 0 if there is none (pytorch-metric-learning's
``AvgNonZeroReducer``). Parts over the active triplets: ``pos = mean d(a,p)`` and
``neg = mean (m − d(a,n))``; they sum to the loss. Equal in values and gradients to
pytorch-metric-learning's ``TripletMarginLoss(margin)`` with ``BatchHardMiner`` resp.
``TripletMarginMiner(margin, type_of_triplets="semihard")``.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..params import Interval, Options
from .base import MetricLoss
from .registry import register_loss

MINING = ("batch_hard", "semi_hard")


def batch_hard_triplets(distances: Tensor, same: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per anchor, the farthest positive and the nearest negative.

    Parameters
    ----------
    distances : Tensor, shape (B, B)
        Pairwise distances (used for ranking only).
    same : Tensor of bool, shape (B, B)
        True where the two samples share a label.

    Returns
    -------
    anchor, positive, negative : Tensor of int64, shape (T,)
        One triplet per anchor that has both a positive and a negative.
    """
    eye = torch.eye(len(same), dtype=torch.bool, device=same.device)
    positive_mask = same & ~eye  # (B, B)
    farthest_positive = distances.masked_fill(~positive_mask, float("-inf")).argmax(dim=1)  # (B,)
    nearest_negative = distances.masked_fill(same, float("inf")).argmin(dim=1)  # (B,)
    anchor = torch.nonzero(positive_mask.any(dim=1) & (~same).any(dim=1)).squeeze(1)  # (T,)
    return anchor, farthest_positive[anchor], nearest_negative[anchor]


def semi_hard_triplets(distances: Tensor, same: Tensor, margin: float) -> tuple[Tensor, Tensor, Tensor]:
    """All triplets with ``0 < d(a,n) − d(a,p) < margin``; same parameters as :func:`batch_hard_triplets`."""
    eye = torch.eye(len(same), dtype=torch.bool, device=same.device)
    anchor, positive = torch.nonzero(same & ~eye, as_tuple=True)  # (P,): the positive pairs
    gap = distances[anchor] - distances[anchor, positive].unsqueeze(1)  # (P, B): d(a,n) − d(a,p)
    valid = ~same[anchor] & (gap > 0) & (gap < margin)  # (P, B)
    pair, negative = torch.nonzero(valid, as_tuple=True)  # (T,)
    return anchor[pair], positive[pair], negative


@register_loss("triplet")
class TripletLoss(MetricLoss):
    """Triplet margin loss with batch-hard or semi-hard mining, on L2-normalised embeddings.

    Parameters
    ----------
    num_classes : int
        C (kept for a uniform interface; labels may be any integers).
    embedding_dim : int
        d.
    margin : float, default=0.2
        m > 0 on the Euclidean distance between unit embeddings (range [0, 2]); 0.2 is FaceNet's
        and Hermans et al.'s value (pytorch-metric-learning's default 0.05 is tuned for its
        benchmark setup).
    mining : {"batch_hard", "semi_hard"}, default="batch_hard"
        In-batch triplet selection, see :mod:`proxylab.losses.triplet`.
    **kwargs
        ``proxies_per_class``, ``proxy_init`` (ignored: there are no proxies); ``so_weight`` must be 0.

    Notes
    -----
    ``uses_proxies = False``: ``self.proxies`` is None. Parts: over active triplets,
    ``pos = mean d(a,p)`` (pull) and ``neg = mean (m − d(a,n))`` (push); both 0 when no triplet is
    active (e.g. a one-class batch or B = 1).

    References
    ----------
    F. Schroff, D. Kalenichenko, J. Philbin. FaceNet: A Unified Embedding for Face Recognition and
    Clustering. CVPR 2015. A. Hermans, L. Beyer, B. Leibe. In Defense of the Triplet Loss for Person
    Re-Identification. arXiv 1703.07737, 2017.
    """

    uses_proxies: ClassVar[bool] = False
    default_proxy_init: ClassVar[str] = "normal"
    default_proxy_lr_multiplier: ClassVar[float] = 1.0
    parameter_constraints: ClassVar[dict[str, list]] = {
        "margin": [Interval(float, 0, None, closed="neither")],
        "mining": [Options(MINING)],
    }

    def __init__(self, num_classes: int, embedding_dim: int, proxies_per_class: int = 1, *,
                 margin: float = 0.2, mining: str = "batch_hard", **kwargs):
        self.validate(dict(margin=margin, mining=mining))
        super().__init__(num_classes, embedding_dim, proxies_per_class, **kwargs)
        self.margin = float(margin)
        self.mining = mining

    def compute(self, embeddings: Tensor, labels: Tensor) -> dict[str, Tensor]:
        unit = F.normalize(embeddings, dim=-1)  # (B, d)
        # cdist's backward is 0 (not NaN) at zero distance, e.g. on the diagonal or for duplicates.
        distances = torch.cdist(unit, unit)  # (B, B)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)  # (B, B)
        if self.mining == "batch_hard":
            anchor, positive, negative = batch_hard_triplets(distances.detach(), same)
        else:
            anchor, positive, negative = semi_hard_triplets(distances.detach(), same, self.margin)
        pos_dist = distances[anchor, positive]  # (T,)
        neg_dist = distances[anchor, negative]  # (T,)
        active = (pos_dist - neg_dist + self.margin > 0).to(distances.dtype)  # (T,)
        num_active = active.sum().clamp_min(1.0)  # no active triplet: both parts are 0
        return {
            "pos": (active * pos_dist).sum() / num_active,
            "neg": (active * (self.margin - neg_dist)).sum() / num_active,
        }

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin}, mining={self.mining!r}"
