"""proxylab: see what proxy-based deep metric learning does inside an embedding space.

Importing ``proxylab`` is cheap (no torch, no umap): the torch-free run-store reader
(``proxylab.store``) is what the dashboard uses. Import the heavy parts explicitly:
``proxylab.losses``, ``proxylab.models``, ``proxylab.data``, ``proxylab.metrics``, ``proxylab.train``.
"""
__version__ = "0.1.0"
