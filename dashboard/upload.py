"""Import small uploaded files (embeddings + optional proxies) as a read-only run; used by the Runs page.

Pure Python (no Streamlit): the uploads are written to a temporary folder under their own suffix, read with
:mod:`proxylab.importing` (never unpickled) and written to the store; ``imported_from`` records the uploaded
file names (``upload:<name>``) with their sha256. torch is imported only when an upload is imported.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from proxylab.importing.budget import limited
from proxylab.serve import UPLOAD_LIMIT_MIB

MAX_UPLOAD_BYTES = UPLOAD_LIMIT_MIB * 2**20
#: what one uploaded file may declare in memory (the server's own memory: far below a CLI import's budget)
UPLOAD_MEMORY_BYTES = 512 << 20
#: the largest upload imported: rows and embedding dimension
MAX_UPLOAD_POINTS, MAX_UPLOAD_DIM = 1_000_000, 4_096
EMBEDDING_TYPES = ["npz", "csv", "parquet", "tsv"]
PROXY_TYPES = ["npy", "npz", "csv", "pt", "pth"]


def _safe_suffix(name: str, allowed: list[str], what: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise ValueError(f"{what} {name!r}: expected one of .{', .'.join(allowed)}, got .{suffix or '(none)'}")
    return suffix


def import_uploaded(store: str | Path, name: str, embeddings: tuple[str, bytes],
                    metadata: tuple[str, bytes] | None = None, proxies: tuple[str, bytes] | None = None,
                    proxies_per_class: int | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
                    on_playable=None) -> Path:
    """Import the uploaded ``(file name, content)`` pairs as run ``name``; returns the run folder. `on_playable` is
    called with it once its snapshots are written (its metrics follow, see :func:`proxylab.importing.import_run`).

    Raises ``ValueError`` (one line) for a file that is too large, of the wrong type or malformed.
    """
    for what, item in (("embeddings", embeddings), ("metadata", metadata), ("proxies", proxies)):
        if item is not None and len(item[1]) > max_bytes:
            raise ValueError(f"{what} {item[0]!r}: at most {max_bytes // 2**20} MiB can be uploaded, got "
                             f"{len(item[1]) / 2**20:.1f} MiB; use `proxylab import` for large files")
    emb_suffix = _safe_suffix(embeddings[0], EMBEDDING_TYPES, "embeddings")
    with tempfile.TemporaryDirectory(prefix="proxylab-upload-") as tmp:
        folder = Path(tmp)
        emb_path = folder / ("tensors.tsv" if emb_suffix == "tsv" else f"embeddings.{emb_suffix}")
        uploaded = {emb_path.name: embeddings[0]}
        try:
            with limited(UPLOAD_MEMORY_BYTES):
                return _import(store, name, folder, emb_path, emb_suffix, embeddings, metadata, proxies,
                               proxies_per_class, uploaded, on_playable)
        except ValueError as exc:  # the message names the uploaded files, never the server's temp folder
            raise ValueError(_uploaded_names(str(exc), folder, uploaded)) from None


def _uploaded_names(message: str, folder: Path, uploaded: dict[str, str]) -> str:
    for temp_name, name in uploaded.items():
        message = message.replace(str(folder / temp_name), name)
    return message.replace(str(folder), "upload")


def _import(store, name, folder, emb_path, emb_suffix, embeddings, metadata, proxies, proxies_per_class, uploaded,
            on_playable) -> Path:
    """:func:`import_uploaded` once the checks passed, in the temp `folder` (`uploaded`: temp name → upload name)."""
    from proxylab.importing import import_run, read_embeddings, read_proxies
    from proxylab.importing.common import file_record, fill_hashes

    emb_path.write_bytes(embeddings[1])
    if emb_suffix == "tsv":
        if metadata is None:
            raise ValueError(f"embeddings {embeddings[0]!r}: a projector tensors.tsv needs its metadata.tsv "
                             "(labels) uploaded too")
        (folder / "metadata.tsv").write_bytes(metadata[1])
        uploaded["metadata.tsv"] = metadata[0]
    data = read_embeddings(emb_path)
    points = max(len(snap.labels) for snap in data.snapshots)
    if points > MAX_UPLOAD_POINTS or data.dim > MAX_UPLOAD_DIM:
        raise ValueError(f"embeddings {embeddings[0]!r}: an upload holds at most {MAX_UPLOAD_POINTS:,} points of "
                         f"d <= {MAX_UPLOAD_DIM:,}, got {points:,} x {data.dim:,}; use `proxylab import` for more")
    found, sources = [], []
    if proxies is not None:
        suffix = _safe_suffix(proxies[0], PROXY_TYPES, "proxies")
        prox_path = folder / f"proxies.{suffix}"
        prox_path.write_bytes(proxies[1])
        uploaded[prox_path.name] = proxies[0]
        res = read_proxies(prox_path, num_classes=len(data.class_names), proxies_per_class=proxies_per_class,
                           embedding_dim=data.dim)
        found.append(res)
        sources.append({**file_record(prox_path, "proxies", res.format), "key": res.key, "layout": res.layout})
    data.sources[:] = fill_hashes(data.sources)  # while the files exist: their SHA-256 is the provenance
    for record in [*data.sources, *sources]:  # say where the data came from, not the temp folder
        record["path"] = "upload:" + uploaded.get(Path(record["path"]).name, Path(record["path"]).name)
    # no thumbnails: image paths inside an uploaded file must never make the server open its own files
    return import_run(store, name, data, proxies=found, proxy_sources=sources, thumbnails=False,
                      on_playable=on_playable)


def default_run_name(store: str | Path, file_name: str) -> str:
    """``import-<file stem>``, made a valid run name and unique in ``store``."""
    base = "import-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", Path(file_name).stem).strip("-._")[:60] or "upload")
    base = re.sub(r"\.{2,}", ".", base)
    from proxylab.importing.writer import unfinished_import

    name, i = base, 2
    while (Path(store) / name).exists() and not unfinished_import(Path(store) / name):  # a retry takes its failed one
        name, i = f"{base}-{i}", i + 1
    return name
