"""Thumbnails for imported embeddings whose rows name image files, so the dashboard shows the images too."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..store.images import MAX_SIDE

SIDE = 48  # thumbnails are letterboxed to SIDE × SIDE (≤ the store's MAX_SIDE)
GREY = (128, 128, 128)  # a missing or unreadable file
MAX_IMAGES = 20_000  # 20k × 48 × 48 × 3 ≈ 140 MB before compression; more rows get no thumbnails


def thumbnails_from_paths(paths: Sequence[str], base: Path, progress: bool = True) -> tuple[np.ndarray, int]:
    """Letterboxed RGB thumbnails (N, SIDE, SIDE, 3) uint8 of the image files ``paths`` (relative ones are
    resolved against ``base``), and how many could not be read (those are grey tiles)."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    from tqdm.auto import tqdm

    assert SIDE <= MAX_SIDE
    out = np.empty((len(paths), SIDE, SIDE, 3), np.uint8)
    missing = 0
    for i, raw in enumerate(tqdm(paths, desc="thumbnails", unit="img", disable=not progress, leave=False)):
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            with Image.open(path) as img:
                img.draft("RGB", (SIDE * 2, SIDE * 2))  # JPEG: decode at reduced size, much faster
                tile = ImageOps.pad(img.convert("RGB"), (SIDE, SIDE), color=GREY)
            out[i] = np.asarray(tile, np.uint8)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
            out[i] = GREY
            missing += 1
    return out, missing
