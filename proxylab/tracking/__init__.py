"""Log any PyTorch training loop to the run store, live: :class:`RunLogger` (scalars, gradient norms around
``backward()``, snapshots with proxies), adapters for pytorch-metric-learning's proxy losses
(:func:`find_proxies`) and a Lightning callback (:mod:`proxylab.tracking.lightning`, needs ``lightning``).

The trainer logs through the same core (:mod:`proxylab.tracking.core`). Importing this package imports torch.
"""
from .adapters import ProxySource, find_proxies
from .logger import RunLogger

__all__ = ["RunLogger", "ProxySource", "find_proxies"]
