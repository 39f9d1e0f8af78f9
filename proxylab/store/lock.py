"""The run's ``.lock`` file: the one process writing a run holds an exclusive ``fcntl.flock`` on it.

The kernel drops the lock when the process dies (even on ``kill -9``), so "status running but the
lock is free" reliably means the writer is gone: the reader reports such a run as interrupted.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .layout import LOCK_FILE, RunError


def acquire_lock(path: Path, name: str, wait_s: float = 0.5) -> int:
    """Take the exclusive lock of run folder ``path``; return its fd (keep it open to hold the lock).

    Readers probe the lock with a momentary shared lock, so a few short retries (``wait_s``)
    avoid a false "being written" error; a real writer holds the lock for good and still fails.
    """
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                pid = read_lock_pid(path)
                os.close(fd)
                who = f"process {pid}" if pid is not None else "another process"
                raise RunError(f"run {name} is being written by {who}") from None
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_lock(fd: int) -> None:
    """Release and close a lock fd returned by :func:`acquire_lock`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_lock_pid(path: Path) -> int | None:
    """PID written into the lock file by the last process that took it, or None."""
    try:
        text = (path / LOCK_FILE).read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def is_locked(path: Path) -> bool:
    """True if some process (this one included, through another fd) holds the run's lock."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the fd releases the probe's shared lock
    return False
