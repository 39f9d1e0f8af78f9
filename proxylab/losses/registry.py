"""Loss registry: ``make_loss(name, num_classes, embedding_dim, **params)``."""
from __future__ import annotations

from ..params import Registry
from .base import MetricLoss

LOSSES = Registry("loss")
register_loss = LOSSES.register


def make_loss(name: str, num_classes: int, embedding_dim: int, **params) -> MetricLoss:
    """Create a registered loss by name; unknown names or parameters raise a ValueError listing valid ones.

    Examples
    --------
    >>> loss = make_loss("mpa", num_classes=10, embedding_dim=64, proxies_per_class=4)
    >>> loss.proxies.shape
    torch.Size([10, 4, 64])
    """
    cls = LOSSES.get(name)
    cls.validate(dict(num_classes=num_classes, embedding_dim=embedding_dim, **params))
    return cls(num_classes=num_classes, embedding_dim=embedding_dim, **params)


def list_losses() -> list[str]:
    return LOSSES.names()
