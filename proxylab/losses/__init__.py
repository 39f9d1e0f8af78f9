"""Proxy-based metric-learning losses, created by name: ``make_loss(name, num_classes, embedding_dim, **params)``."""
from .base import LossOutput, MetricLoss
from .orthogonality import soft_orthogonality, welch_floor
from .registry import LOSSES, list_losses, make_loss, register_loss

# Importing the family modules registers them.
from . import proxy_nca, proxy_anchor, soft_triple, mpa, triplet  # noqa: E402,F401

__all__ = ["LossOutput", "MetricLoss", "LOSSES", "make_loss", "list_losses", "register_loss",
           "soft_orthogonality", "welch_floor"]
