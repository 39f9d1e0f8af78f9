"""Projections computed in a background process, off every page's critical path.

``proxylab demo`` starts one after printing its summary, so that the teaching runs' UMAP (≈ 15 s of numba
compilation, then several seconds per run on 2 cores) is in each run's projection cache before anyone opens the
Embedding page. The job writes its progress to ``<store>/.projection-jobs/<run>.<method><dims>.json`` (a hidden
folder: not a run), which the dashboard reads to say "computing … %" and to switch to the result when it is ready.

Run as ``python -m proxylab.projection_jobs STORE METHOD DIMS RUN [RUN ...]``. Standard library only at import.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

JOBS_DIR = ".projection-jobs"
ACTIVE = ("queued", "running")


def status_path(store: Path, run: str, method: str, dims: int) -> Path:
    return Path(store) / JOBS_DIR / f"{run}.{method}{dims}.json"


def _write(path: Path, **status) -> None:
    """Atomic: a reader never sees half a status file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**status, "updated": time.time()}))
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def read_status(store: Path, run: str, method: str, dims: int) -> dict | None:
    """The job's last status ({state, fraction, message, pid, …}) or None if no job was started for it.

    state: queued | running | done | failed, or ``stopped`` when an active job's process no longer exists.
    """
    try:
        status = json.loads(status_path(store, run, method, dims).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    if status.get("state") in ACTIVE and not _alive(int(status.get("pid") or 0)):
        status["state"] = "stopped"
    return status


def start(store: Path, runs: list[str], method: str = "umap", dims: int = 2) -> subprocess.Popen:
    """Start projecting `runs` (in this order) in a detached process that outlives the caller."""
    store = Path(store)
    (store / JOBS_DIR).mkdir(parents=True, exist_ok=True)
    log = open(store / JOBS_DIR / "jobs.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "proxylab.projection_jobs", str(store), method, str(dims),
                                *runs], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    for run in runs:  # queued until the process reaches it; the pid lets a reader see that it died
        _write(status_path(store, run, method, dims), state="queued", fraction=0.0, message="waiting", pid=process.pid)
    return process


def run_jobs(store: Path, method: str, dims: int, runs: list[str]) -> int:
    """Project each run into its cache, writing progress; returns the number of runs that failed."""
    from .projection import project_run
    from .store import open_run

    failed = 0
    for run in runs:
        path = status_path(store, run, method, dims)
        last = 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal last
            if time.monotonic() - last > 0.5 or fraction >= 1.0:  # a status file a second at most
                last = time.monotonic()
                _write(path, state="running", fraction=float(fraction), message=message, pid=os.getpid())

        report(0.0, "starting")
        try:
            opened = open_run(store, run)
            project_run(opened, opened.snapshot_steps(), method, dims, None, report)
        except Exception as exc:  # one broken run must not stop the others; the reader shows why
            failed += 1
            _write(path, state="failed", fraction=0.0, message=f"{type(exc).__name__}: {exc}", pid=os.getpid())
        else:
            _write(path, state="done", fraction=1.0, message="ready", pid=os.getpid())
    return failed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or not args[2].isdigit():
        print("usage: python -m proxylab.projection_jobs STORE METHOD DIMS RUN [RUN ...]", file=sys.stderr)
        return 2
    store, method, dims, runs = Path(args[0]), args[1], int(args[2]), args[3:]
    return 1 if run_jobs(store, method, dims, runs) else 0


if __name__ == "__main__":
    sys.exit(main())
