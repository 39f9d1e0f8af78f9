"""Thumbnails of the snapshot subset for image datasets: ``<run>/eval_images.npz`` (torch-free).

Written once when a run starts, in the order of the snapshot rows (the subset is fixed for the whole run), so that
row ``i`` of every snapshot has thumbnail ``i``. Stored as uint8 (N, H, W, C) with C ∈ {1, 3}.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .layout import RunError

EVAL_IMAGES = "eval_images.npz"
MAX_SIDE = 64  # thumbnails only: bigger images are not needed to recognise a sample


def write_eval_images(run_path: str | Path, images: np.ndarray) -> Path:
    """Store thumbnails (N, H, W, C) uint8 atomically; returns the file's path."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise RunError(f"eval images must be uint8 shaped (N, H, W, 1|3), got {images.dtype} {images.shape}")
    if max(images.shape[1:3]) > MAX_SIDE:
        raise RunError(f"eval images must be at most {MAX_SIDE} px a side, got {images.shape[1:3]}")
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images)
    path = Path(run_path) / EVAL_IMAGES
    atomic_write_bytes(path, buf.getvalue())
    return path


def read_eval_images(run_path: str | Path) -> np.ndarray | None:
    """The thumbnails (N, H, W, C) uint8, or None when the run has none; a malformed file raises RunError."""
    path = Path(run_path) / EVAL_IMAGES
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            images = f["images"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise RunError(f"{path} is not a valid thumbnail file: {str(e).splitlines()[0] if str(e) else type(e).__name__}") \
            from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise RunError(f"{path} must hold uint8 images shaped (N, H, W, 1|3), got {images.dtype} {images.shape}")
    return images


def to_thumbnails(batch: np.ndarray) -> np.ndarray:
    """Model inputs (N, C, H, W) float → uint8 (N, H', W', C) thumbnails, each image min-max scaled on its own.

    Inputs are usually standardised, so their raw range means nothing; per-image scaling keeps contrast visible.
    Images larger than ``MAX_SIDE`` are subsampled by an integer stride.
    """
    x = np.asarray(batch, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be shaped (N, 1|3, H, W), got {x.shape}")
    stride = max(1, -(-max(x.shape[2:]) // MAX_SIDE))
    x = x[:, :, ::stride, ::stride]
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    hi = x.max(axis=(1, 2, 3), keepdims=True)
    scaled = (x - lo) / np.maximum(hi - lo, 1e-12)
    return np.round(255 * scaled).astype(np.uint8).transpose(0, 2, 3, 1)
