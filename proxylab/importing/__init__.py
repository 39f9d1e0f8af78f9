"""Import what was trained elsewhere as a read-only run of the store (``proxylab import``).

Three sources, combinable (docs/architecture.md, "Run store"; README "Inspect embeddings from elsewhere"):

* embeddings files — ``.npz``, ``.parquet``, ``.csv`` or a TensorBoard projector pair ``tensors.tsv`` +
  ``metadata.tsv`` (or a folder written by ``proxylab export``) — with labels and optional modes,
  split, step and image paths: :func:`read_embeddings`;
* proxies — ``.npy``/``.npz``/``.csv`` arrays shaped (C, d), (C·K, d) or (C, K, d), or a PyTorch state
  dict of a loss module (pytorch-metric-learning ``ProxyAnchorLoss``/``ProxyNCALoss`` ``proxies`` (C, d),
  ``SoftTripleLoss`` ``fc`` (d, C·K), proxylab's ``proxies`` (C, K, d)): :func:`read_proxies`;
* a model checkpoint (torchvision architecture or proxylab model config + state dict) applied to a local
  dataset: :func:`embed_checkpoint`.

:func:`import_run` writes the run (meta ``source: "import"``, ``read_only: true``, ``imported_from`` with
paths and sha256) with one snapshot per step and evaluation metrics computed by
:func:`proxylab.metrics.evaluate`. Nothing is ever unpickled: ``np.load(allow_pickle=False)``,
``torch.load(weights_only=True)``; every problem raises :class:`ImportFileError` (a ``ValueError``) with a
one-line message naming the file, what was expected and what was found.

Importing this package is cheap: torch is loaded only by the functions that need it.
"""
from __future__ import annotations

from .errors import ImportFileError

__all__ = ["ImportFileError", "ImportedEmbeddings", "ImportedSnapshot", "ImportedProxies", "read_embeddings",
           "read_proxies", "embed_checkpoint", "import_run"]

_LAZY = {
    "ImportedEmbeddings": "embeddings", "ImportedSnapshot": "embeddings", "read_embeddings": "embeddings",
    "ImportedProxies": "proxies", "read_proxies": "proxies",
    "embed_checkpoint": "checkpoint",
    "import_run": "writer",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
