"""Image thumbnails as PNG data URIs for tables (pure functions; PIL only, no Streamlit)."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

MIN_SIDE = 32  # tiny images (8×8 digits) are upscaled with nearest-neighbour so pixels stay crisp


def png_data_uri(image: np.ndarray) -> str:
    """One uint8 image (H, W, 1|3) → ``data:image/png;base64,…``."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"image must be uint8 shaped (H, W, 1|3), got {image.dtype} {image.shape}")
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    scale = max(1, -(-MIN_SIDE // max(image.shape[:2])))
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail_column(images: np.ndarray | None, ids: np.ndarray) -> list[str] | None:
    """Data URIs of the given snapshot rows, or None when the run has no images (or they don't match)."""
    if images is None:
        return None
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(images)):
        return None
    return [png_data_uri(images[i]) for i in ids]
