"""The dashboard server for the real-browser tests (a helper module, not a conftest: tests/conftest.py is
imported by name from here)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def serving(store: Path, log_dir: Path) -> Iterator[str]:
    """The dashboard on `store` (a free local port) for the duration of the block; yields its URL."""
    from proxylab.serve import start_dashboard

    log = open(log_dir / "streamlit.log", "wb")
    try:
        proc, url = start_dashboard(store, log, timeout_s=60)
    except RuntimeError as e:
        log.close()
        pytest.fail(str(e))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
