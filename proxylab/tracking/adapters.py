"""Find the proxies inside a user's loss and read them (and their gradient) in proxylab's (C, K, d) layout.

================================================  =========================  ========================================
loss                                              parameter                  layout read
================================================  =========================  ========================================
pytorch-metric-learning ``ProxyAnchorLoss``,      ``proxies`` (C, d)         (C, 1, d)
``ProxyNCALoss``
pytorch-metric-learning ``SoftTripleLoss``        ``fc`` (d, C·K)            centre k of class c is column c·K + k
                                                                             (``get_logits`` views the (B, C·K)
                                                                             similarities as (B, C, K)) → (C, K, d)
proxylab losses (:func:`proxylab.losses.make_loss`)  ``proxies`` (C, K, d)   as is
any module with a parameter named ``proxies``     (C, d), (C·K, d), (C, K, d)  K from ``proxies_per_class``, the
(or ending in ``.proxies``)                                                  module's ``proxies_per_class`` /
                                                                             ``centers_per_class``, else 1
a tensor / parameter                              as above
================================================  =========================  ========================================

The same layouts as ``proxylab import --proxies`` reads from files (:mod:`proxylab.importing.proxies`).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class ProxySource:
    """Where a loss keeps its proxies and how to read them as (C, K, d).

    Attributes
    ----------
    parameter : Tensor
        The tensor the loss trains (read live at every call: it is the same object as the loss's).
    layout : {"ckd", "flat", "fc"}
        (C, K, d); (C·K, d) with rows c·K .. c·K + K - 1 of class c; or SoftTriple's (d, C·K).
    num_classes, per_class : int
        C and K.
    name : str
        Where it was found, e.g. ``"SoftTripleLoss.fc"`` (recorded in the run's config).
    """

    parameter: Tensor
    layout: str
    num_classes: int
    per_class: int
    name: str

    def stacked_ckd(self, stacked: Tensor) -> Tensor:
        """T copies of the parameter (or of its gradient), (T, *parameter.shape) → (T, C, K, d)."""
        c, k = self.num_classes, self.per_class
        if self.layout == "fc":
            # column c·K + k → (c, k); contiguous, or every norm over d strides through memory (~6x slower)
            return stacked.transpose(-1, -2).contiguous().reshape(len(stacked), c, k, -1)
        return stacked.reshape(len(stacked), c, k, -1)

    def proxies(self) -> Tensor:
        """The proxies now, detached, (C, K, d): a view of the parameter, which the next update changes."""
        return self.stacked_ckd(self.parameter.detach()[None])[0]


def _per_class(owner: object, given: int | None) -> int | None:
    if given is not None:
        return given
    for attr in ("proxies_per_class", "centers_per_class"):
        value = getattr(owner, attr, None)
        if isinstance(value, int) and value >= 1:
            return value
    return None


def _source(tensor: Tensor, layout_hint: str, owner: object, name: str, per_class: int | None) -> ProxySource:
    k = _per_class(owner, per_class)
    if layout_hint == "fc":  # SoftTriple: (d, C·K)
        if tensor.ndim != 2:
            raise ValueError(f"{name} must be SoftTriple's (d, C*K) matrix, got shape {tuple(tensor.shape)}")
        columns = tensor.shape[1]
        c = getattr(owner, "num_classes", None)
        k = k or (columns // c if isinstance(c, int) and c > 0 else None)
        if not k or columns % k:
            raise ValueError(f"{name} has {columns} columns; pass proxies_per_class=K (columns = C*K)")
        return ProxySource(tensor, "fc", columns // k, k, name)
    if tensor.ndim == 3:
        return ProxySource(tensor, "ckd", tensor.shape[0], tensor.shape[1], name)
    if tensor.ndim == 2:
        k = k or 1
        if tensor.shape[0] % k:
            raise ValueError(f"{name} has {tensor.shape[0]} rows, not a multiple of proxies_per_class={k}")
        return ProxySource(tensor, "flat", tensor.shape[0] // k, k, name)
    raise ValueError(f"{name} must have shape (C, d), (C*K, d) or (C, K, d), got {tuple(tensor.shape)}")


def find_proxies(obj: object, proxies_per_class: int | None = None) -> ProxySource | None:
    """The proxies of `obj` (a loss module or a tensor) as a :class:`ProxySource`, or None if it has none.

    Parameters
    ----------
    obj : nn.Module, Tensor or None
        The loss (pytorch-metric-learning's ProxyAnchorLoss / ProxyNCALoss / SoftTripleLoss, a proxylab loss, any
        module with a ``proxies`` parameter) or the proxy tensor itself.
    proxies_per_class : int, optional
        K, for flat (C·K, d) proxies (default: the module's ``proxies_per_class`` / ``centers_per_class``, else 1).

    Raises
    ------
    ValueError
        The proxies have a shape none of the layouts fits, or several parameters could be the proxies.
    """
    if obj is None:
        return None
    if proxies_per_class is not None and (isinstance(proxies_per_class, bool) or not isinstance(proxies_per_class, int)
                                          or proxies_per_class < 1):
        raise ValueError(f"proxies_per_class must be an int >= 1, got {proxies_per_class!r}")
    if isinstance(obj, Tensor):
        return _source(obj, "", None, "proxies", proxies_per_class)
    if not isinstance(obj, nn.Module):
        raise TypeError(f"proxies must be a loss module or a tensor, got {type(obj).__name__}")
    kind = type(obj).__name__
    if isinstance(getattr(obj, "proxies", None), Tensor):  # proxylab's and pytorch-metric-learning's own attribute
        return _source(obj.proxies, "", obj, f"{kind}.proxies", proxies_per_class)
    if kind == "SoftTripleLoss" and isinstance(getattr(obj, "fc", None), Tensor):
        return _source(obj.fc, "fc", obj, f"{kind}.fc", proxies_per_class)
    named = [(n, p) for n, p in obj.named_parameters() if n == "proxies" or n.endswith(".proxies")]
    if len(named) > 1:
        raise ValueError(f"{kind} holds several proxy parameters ({', '.join(n for n, _ in named)}); pass the "
                         "tensor itself as proxies=")
    if named:
        name, tensor = named[0]
        owner = obj.get_submodule(name.rpartition(".")[0]) if "." in name else obj
        return _source(tensor, "", owner, f"{kind}.{name}", proxies_per_class)
    return None


__all__ = ["ProxySource", "find_proxies"]
