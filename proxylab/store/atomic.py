"""Crash-safe file writes: a temp file in the same folder, fsync, then ``os.replace``.

A reader (or a crash / ``kill -9`` at any moment) sees either the old file or the complete new
one, never a partial file. Temp files are named ``.<name>.tmp-<random>`` so readers that match
exact names never pick them up; :func:`remove_stale_temp_files` cleans up after a crash.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable

TEMP_MARKER = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; best effort (not every filesystem allows opening a dir).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], *, durable: bool = True) -> None:
    """Write ``path`` atomically: ``write(f)`` fills a binary temp file that then replaces ``path``.

    A process crash (kill -9) never leaves a partial file. ``durable`` also fsyncs the file and its folder, so that
    a power loss cannot either; ``durable=False`` leaves that to a later :func:`fsync_files` (a batch of large
    files that must be readable at once and durable soon after)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARKER}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not exc.filename:  # e.g. "[Errno 28] No space left on device": say where
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing {path}", str(path)) from None
        raise
    if durable:
        _fsync_dir(path.parent)


def fsync_files(paths: Iterable[Path]) -> None:
    """fsync each file, then each of their folders (what :func:`atomic_write` with ``durable=False`` left)."""
    folders = set()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        folders.add(Path(path).parent)
    for folder in folders:
        _fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + fsync + os.replace)."""
    atomic_write(path, lambda f: f.write(data))


def _json_default(obj: Any) -> Any:
    # numpy scalars / arrays and paths appear in configs; keep run.json free of anything exotic.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps_json(obj: Any) -> bytes:
    """Serialise ``obj`` to indented UTF-8 JSON (numpy scalars and paths allowed)."""
    return (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as JSON, atomically."""
    atomic_write_bytes(path, dumps_json(obj))


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a crashed writer left in ``folder``; return how many were removed."""
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.startswith(".") and TEMP_MARKER in name:
            try:
                os.unlink(folder / name)
                removed += 1
            except OSError:
                pass
    return removed
