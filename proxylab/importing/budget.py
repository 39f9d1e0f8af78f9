"""Memory a file may make an import allocate, checked from what the file declares before anything is loaded.

A few kilobytes can ask for gigabytes: an ``.npy`` header declaring a huge shape, a zip member that inflates 1,000×
(a deflate bomb), a CSV line of two million columns. Each loader of :mod:`proxylab.importing` calls one of these
checks first and refuses such a file with one line (:class:`ImportFileError`), so a hostile file ends in seconds
with bounded memory instead of a ``MemoryError`` traceback.

The budget is per file: ``PROXYLAB_IMPORT_MAX_GIB`` (default 4 GiB, at most a quarter of the machine's memory) or
:func:`limited` (the dashboard's upload uses a smaller one).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import zipfile
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from .errors import ImportFileError

#: a zip member this much larger than its compressed bytes (and over INFLATE_FLOOR) is refused as a deflate bomb;
#: float embeddings compress ~1.1×, small-int labels ~10–50×
MAX_INFLATION = 200
INFLATE_FLOOR = 64 << 20
#: widest table an import reads (an embedding dimension plus metadata columns)
MAX_COLUMNS = 65_536
#: the first line of a text table is read at most this far looking for its end
MAX_LINE_BYTES = 64 << 20

_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar("proxylab_import_budget", default=None)


def _machine_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def budget() -> int:
    """Bytes one imported file may declare (see the module docstring)."""
    limited_to = _budget.get()
    if limited_to is not None:
        return limited_to
    raw = os.environ.get("PROXYLAB_IMPORT_MAX_GIB")
    if raw:
        try:
            gib = float(raw)
        except ValueError:
            raise ImportFileError(f"PROXYLAB_IMPORT_MAX_GIB must be a number of GiB > 0, got {raw[:40]!r}") from None
        if not gib > 0:
            raise ImportFileError(f"PROXYLAB_IMPORT_MAX_GIB must be a number of GiB > 0, got {raw[:40]!r}")
        return int(gib * 2**30)
    return min(4 << 30, _machine_bytes() // 4)


@contextlib.contextmanager
def limited(max_bytes: int) -> Iterator[None]:
    """Within the block, each imported file may declare at most `max_bytes` (the dashboard's uploads)."""
    token = _budget.set(max_bytes)
    try:
        yield
    finally:
        _budget.reset(token)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _over(path: Path, what: str, declared: int) -> None:
    limit = budget()
    if declared > limit:
        raise ImportFileError(f"{path}: {what} would take {_gib(declared)} in memory, over the import budget of "
                              f"{_gib(limit)} (set PROXYLAB_IMPORT_MAX_GIB to allow more)")


def _npy_bytes(f: IO[bytes]) -> tuple[int, int]:
    """(declared data bytes, header bytes) of the .npy stream `f`, from its header alone."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception:  # noqa: BLE001 - numpy says why below when it really loads; here only sizes matter
        return 0, 0
    if dtype.hasobject:
        return 0, 0  # refused as pickled by the loader
    count = 1
    for n in shape:
        count *= int(n)
    return count * dtype.itemsize, f.tell()


def check_numpy_file(path: Path) -> None:
    """Refuse an .npy / .npz whose declared arrays exceed the budget, hold more than the file has, or inflate
    like a deflate bomb."""
    if zipfile.is_zipfile(path):
        check_zip(path, npy_members=True)
        return
    with open(path, "rb") as f:
        declared, header = _npy_bytes(f)
    if declared > path.stat().st_size - header:
        raise ImportFileError(f"{path}: the header declares {_gib(declared)} of data, the file holds "
                              f"{_gib(max(0, path.stat().st_size - header))}; the file is truncated or crafted")
    _over(path, "the array", declared)


def check_zip(path: Path, npy_members: bool = False) -> None:
    """Refuse a zip (.npz, a torch file) whose members inflate like a bomb or exceed the budget together."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = 0
            for m in members:
                if m.file_size > INFLATE_FLOOR and m.file_size > MAX_INFLATION * max(1, m.compress_size):
                    raise ImportFileError(f"{path}: member {m.filename[:80]!r} inflates from {_gib(m.compress_size)} "
                                          f"to {_gib(m.file_size)} (a deflate bomb?); refused")
                total += m.file_size
                if npy_members and m.filename.endswith(".npy"):
                    with archive.open(m) as f:
                        declared, header = _npy_bytes(f)
                    if declared > m.file_size - header:
                        raise ImportFileError(f"{path}: array {m.filename[:-4][:80]!r} declares {_gib(declared)} of "
                                              f"data in a member of {_gib(m.file_size)}; the file is truncated or "
                                              "crafted")
    except zipfile.BadZipFile:
        return  # the loader says it is not readable
    _over(path, "its arrays", total)


def check_text_table(path: Path, sep: bytes) -> None:
    """Refuse a CSV / TSV (`sep` b"," or b"\\t") whose first line is wider than :data:`MAX_COLUMNS` (or has no end
    within :data:`MAX_LINE_BYTES`), or whose parsed cells would exceed the budget (8 bytes a cell, a cell ≥ 2 bytes)."""
    width, read = 0, 0
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            cut = block.find(b"\n")
            width += (block if cut < 0 else block[:cut]).count(sep)
            read += len(block)
            if width >= MAX_COLUMNS:
                raise ImportFileError(f"{path}: more than {MAX_COLUMNS:,} columns in the first line; an import reads "
                                      f"at most {MAX_COLUMNS:,} (an embedding dimension and a few metadata columns)")
            if cut >= 0 or not block:
                break
            if read >= MAX_LINE_BYTES:
                raise ImportFileError(f"{path}: the first line is longer than {_gib(MAX_LINE_BYTES)}; not a table "
                                      "an import reads")
    _over(path, "its parsed cells", path.stat().st_size // 2 * 8)


def check_parquet(path: Path) -> None:
    """Refuse a Parquet file whose metadata declares more columns or uncompressed bytes than allowed."""
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - the loader says why it is unreadable
        return
    if meta.num_columns > MAX_COLUMNS:
        raise ImportFileError(f"{path}: {meta.num_columns:,} columns; an import reads at most {MAX_COLUMNS:,}")
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    _over(path, "its columns", declared)
