"""The error type of :mod:`proxylab.importing` (stdlib only, so the CLI parser stays cheap)."""
from __future__ import annotations


class ImportFileError(ValueError):
    """A file given to ``proxylab import`` is missing, malformed, unsafe or inconsistent (one-line message)."""
