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
        proc, url = start_dashboard(store, log, timeout_s=60, test_api=True)  # the player's state is read
    except RuntimeError as e:
        log.close()
        pytest.fail(str(e))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


BIG = "big-5k"


def write_browser_store(folder: Path) -> Path:
    """The dashboard test store plus a 5,000-point run (`BIG`) whose PCA projection is cached on disk."""
    from conftest import write_dashboard_store
    from proxylab.projection import project_run
    from proxylab.store import open_run, write_fake_run

    store = write_dashboard_store(folder)
    write_fake_run(store, BIG, n=5000, steps=80, k=3, classes=8, modes_per_class=3, d=16, seed=5)
    run = open_run(store, BIG)
    project_run(run, run.snapshot_steps(), "pca", 2)  # "a cached run": its projection is on disk
    return store
