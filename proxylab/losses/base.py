"""The one thin base every loss is built on: it owns the (C, K, d) proxies and the optional
soft-orthogonality term, checks the batch, and returns the loss with its named parts.

A subclass declares ``parameter_constraints`` for its own parameters and implements
:meth:`MetricLoss.compute`, which returns a dict of scalar terms that *sum to the loss*
(``"pos"``/``"neg"`` where the loss splits into a pull and a push part, ``"reg"`` for a
loss-specific regulariser). The base adds ``"so"`` (already multiplied by ``so_weight``).

Every proxy loss is a function of one tensor, the (B, C, K) cosine similarities between the
normalised batch and the normalised proxies (plus regularisers on the proxies themselves). The
base computes it once, hands it to ``compute`` and returns it with the loss, so that the trainer
can split each proxy's gradient by the pairs it flows through — positives (pull) and negatives
(push) — from the gradient on that tensor, without a second backward pass.
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..params import Interval, Options, validate_params
from .orthogonality import soft_orthogonality

PROXY_INITS = ("normal", "normal_scaled", "kaiming_normal", "kaiming_uniform")


def own_class(values: Tensor, labels: Tensor) -> Tensor:
    """Each sample's entry for its own class: ``values[i, labels[i]]``, (B, C, ...) → (B, ...).

    A gather, not indexing by a one-hot mask: the mask needs a ``nonzero()`` pass, ~10 % of ProxyNCA at
    B = 256, C = 1000.
    """
    b = values.shape[0]
    index = labels.long().view(b, 1, *([1] * (values.ndim - 2))).expand(b, 1, *values.shape[2:])
    return values.gather(1, index).squeeze(1)


class LossOutput(NamedTuple):
    """``loss``: scalar to back-propagate; ``parts``: named scalar terms with ``sum(parts) == loss``;
    ``sims``: the (B, C, K) similarities a proxy loss was computed from (a node of the autograd graph),
    None for a loss without proxies."""

    loss: Tensor
    parts: dict[str, Tensor]
    sims: Tensor | None = None


class MetricLoss(nn.Module):
    """Base of every registered loss.

    Parameters
    ----------
    num_classes : int
        C, number of training classes (labels are ``0..C-1``).
    embedding_dim : int
        d, the embedding dimension.
    proxies_per_class : int, default=1
        K; proxies are stored as ``self.proxies`` shaped (C, K, d). Losses without proxies
        (``uses_proxies = False``) have ``self.proxies = None``.
    so_weight : float, default=0.0
        Weight of the soft-orthogonality regulariser ``R_SO`` on the normalised proxies (see
        :func:`proxylab.losses.orthogonality.soft_orthogonality`); 0 disables it.
    so_scope : {"all", "between_classes"}, default="all"
        Which proxy pairs R_SO penalises; ``between_classes`` ignores same-class sub-proxy pairs.
    proxy_init : {"normal", "normal_scaled", "kaiming_normal", "kaiming_uniform"} or None
        Proxy initialisation; None takes the loss's own default (``default_proxy_init``).
    """

    uses_proxies: ClassVar[bool] = True
    default_proxy_init: ClassVar[str] = "normal"
    #: learning-rate multiplier the trainer gives the proxies' parameter group by default.
    default_proxy_lr_multiplier: ClassVar[float] = 100.0
    #: constraints of the subclass's own parameters (merged with ``base_constraints``).
    parameter_constraints: ClassVar[dict[str, list]] = {}
    base_constraints: ClassVar[dict[str, list]] = {
        "num_classes": [Interval(int, 1, None)],
        "embedding_dim": [Interval(int, 1, None)],
        "proxies_per_class": [Interval(int, 1, None)],
        "so_weight": [Interval(float, 0, None)],
        "so_scope": [Options(["all", "between_classes"])],
        "proxy_init": [Options(PROXY_INITS), None],
    }

    @classmethod
    def all_constraints(cls) -> dict[str, list]:
        return {**cls.base_constraints, **cls.parameter_constraints}

    @classmethod
    def validate(cls, params: dict[str, Any]) -> None:
        """Raise ``ValueError`` for an unknown parameter or a value outside its constraints."""
        validate_params(cls.__name__, cls.all_constraints(), params)

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        proxies_per_class: int = 1,
        so_weight: float = 0.0,
        so_scope: str = "all",
        proxy_init: str | None = None,
    ):
        super().__init__()
        self.validate(
            dict(num_classes=num_classes, embedding_dim=embedding_dim, proxies_per_class=proxies_per_class,
                 so_weight=so_weight, so_scope=so_scope, proxy_init=proxy_init)
        )
        if not self.uses_proxies and so_weight > 0:
            raise ValueError(f"so_weight must be 0 for {type(self).__name__}, which has no proxies, got {so_weight!r}")
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.proxies_per_class = proxies_per_class
        self.so_weight = float(so_weight)
        self.so_scope = so_scope
        self.proxy_init = proxy_init or self.default_proxy_init
        if self.uses_proxies:
            self.proxies = nn.Parameter(torch.empty(num_classes, proxies_per_class, embedding_dim))
            self.reset_proxies()
        else:
            self.proxies = None

    # -- proxies -------------------------------------------------------------------------------
    @torch.no_grad()
    def reset_proxies(self) -> None:
        """(Re-)initialise the proxies with ``self.proxy_init``."""
        w = self.proxies
        flat = w.view(-1, self.embedding_dim)  # (C*K, d): one row per proxy, fan_out = C*K
        if self.proxy_init == "normal":
            nn.init.normal_(w)
        elif self.proxy_init == "normal_scaled":
            nn.init.normal_(w).div_(8.0)
        elif self.proxy_init == "kaiming_normal":
            nn.init.kaiming_normal_(flat, mode="fan_out")
        else:
            nn.init.kaiming_uniform_(flat, a=5**0.5)

    def normalized_proxies(self) -> Tensor:
        """Unit-norm proxies, shape (C, K, d)."""
        return F.normalize(self.proxies, dim=-1)

    def similarities(self, embeddings: Tensor) -> Tensor:
        """Cosine s(x, c, k) between every embedding and every proxy, shape (B, C, K)."""
        x = F.normalize(embeddings, dim=-1)  # (B, d)
        w = self.normalized_proxies().reshape(-1, self.embedding_dim)  # (C*K, d)
        return (x @ w.T).view(x.shape[0], self.num_classes, self.proxies_per_class)

    def class_mask(self, labels: Tensor) -> Tensor:
        """One-hot class membership, shape (B, C): True where sample i is of class c."""
        return F.one_hot(labels.long(), self.num_classes).bool()

    # -- forward -------------------------------------------------------------------------------
    def check_batch(self, embeddings: Tensor, labels: Tensor) -> None:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (B, {self.embedding_dim}), got {tuple(embeddings.shape)}")
        if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
            raise ValueError(f"labels must have shape ({embeddings.shape[0]},), got {tuple(labels.shape)}")
        if embeddings.shape[0] == 0:
            raise ValueError("the batch must hold at least one sample, got 0")
        if not embeddings.dtype.is_floating_point:
            raise ValueError(f"embeddings must be floating point, got dtype {embeddings.dtype}")
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        if self.uses_proxies and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes - 1}], got range "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )

    def compute(self, inputs: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Return the loss's named scalar terms (they must sum to the loss). Subclasses implement.

        ``inputs`` is the (B, C, K) output of :meth:`similarities` for a loss with proxies, the (B, d)
        embeddings for a loss without; ``labels`` is (B,).
        """
        raise NotImplementedError

    def forward(self, embeddings: Tensor, labels: Tensor) -> LossOutput:
        """Loss of a batch: ``embeddings`` (B, d) float, ``labels`` (B,) int in ``[0, C)``."""
        self.check_batch(embeddings, labels)
        sims = self.similarities(embeddings) if self.uses_proxies else None  # (B, C, K)
        parts = self.compute(embeddings if sims is None else sims, labels)
        if self.so_weight > 0:
            parts["so"] = self.so_weight * soft_orthogonality(self.proxies, self.so_scope).total
        loss = torch.stack(list(parts.values())).sum()
        return LossOutput(loss, parts, sims)

    def extra_repr(self) -> str:
        k = f", K={self.proxies_per_class}" if self.uses_proxies else ""
        so = f", so_weight={self.so_weight}, so_scope={self.so_scope!r}" if self.so_weight else ""
        return f"C={self.num_classes}, d={self.embedding_dim}{k}{so}"
