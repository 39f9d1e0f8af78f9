"""The containers every dataset returns: :class:`LabeledDataset` (one split) and :class:`DatasetSplits`.

A :class:`LabeledDataset` holds its samples either in memory (``features``, an array shaped
``(N, *input_shape)``) or as image files (``image_paths``) that are read, cropped to a square and
resized on access, so that large folder datasets (SOP has 120k images) never sit in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DataError


def load_image(path: str | Path, image_size: int, grayscale: bool) -> np.ndarray:
    """Read one image file as float32 in [0, 1], centre-cropped to a square and resized.

    Returns
    -------
    ndarray, shape (C, image_size, image_size)
        C = 1 when ``grayscale`` else 3.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = img.convert("L" if grayscale else "RGB")
            # Crop to the central square first so that objects are not squashed.
            img = ImageOps.fit(img, (image_size, image_size), method=Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read the image ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    if grayscale:
        return pixels[None]  # (1, H, W)
    return pixels.transpose(2, 0, 1)  # (3, H, W)


class LabeledDataset(Dataset):
    """One split: ``self[i]`` is ``(x: FloatTensor of shape input_shape, y: int)``.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
        Class index of every sample, contiguous ``0..C-1`` with ``C = len(class_names)``.
    class_names : sequence of str, length C
        Name of every class of this split.
    features : ndarray, shape (N, *input_shape), optional
        In-memory samples (any real dtype); exactly one of ``features`` and ``image_paths`` is given.
    image_paths : sequence of str, length N, optional
        Image files read on access with :func:`load_image`.
    modes : array-like of int, shape (N,), optional
        Global ground-truth mode id of every sample (an index into the dataset's mode names);
        -1 where unknown. Default: all -1.
    scale : float, default=1.0
        Factor applied to ``features`` on access (lets uint8 pixels stay uint8 in memory).
    image_size : int, default=32
        Side of the square images built from ``image_paths``.
    grayscale : bool, default=False
        Read ``image_paths`` as one channel instead of three.

    Attributes
    ----------
    labels, modes : ndarray of int64, shape (N,)
    class_names : list of str
    image_paths : list of str or None
    input_shape : tuple of int
        Shape of one sample ``x``.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        *,
        features: np.ndarray | None = None,
        image_paths: Sequence[str] | None = None,
        modes: Sequence[int] | np.ndarray | None = None,
        scale: float = 1.0,
        image_size: int = 32,
        grayscale: bool = False,
    ):
        if (features is None) == (image_paths is None):
            raise ValueError("LabeledDataset needs exactly one of features and image_paths")
        self.labels = np.asarray(labels, dtype=np.int64)
        n = len(self.labels)
        self.modes = np.full(n, -1, dtype=np.int64) if modes is None else np.asarray(modes, dtype=np.int64)
        self.class_names = [str(c) for c in class_names]
        self.features = features
        self.image_paths = None if image_paths is None else [str(p) for p in image_paths]
        self.scale = float(scale)
        self.image_size = int(image_size)
        self.grayscale = bool(grayscale)
        size = len(features) if features is not None else len(self.image_paths)
        if size != n or len(self.modes) != n:
            raise ValueError(f"LabeledDataset: samples ({size}), labels ({n}) and modes ({len(self.modes)}) differ in length")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"LabeledDataset: labels must lie in [0, {len(self.class_names) - 1}]")
        if features is not None:
            self.input_shape = tuple(int(s) for s in features.shape[1:])
        else:
            self.input_shape = (1 if grayscale else 3, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def _sample(self, i: int) -> np.ndarray:
        if self.features is not None:
            return np.asarray(self.features[i], dtype=np.float32) * np.float32(self.scale)
        return load_image(self.image_paths[i], self.image_size, self.grayscale)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self._sample(i)), int(self.labels[i])

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples and labels of ``indices`` at once: x (n, *input_shape) float32, y (n,) int64."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.features is not None:
            x = np.asarray(self.features[idx], dtype=np.float32) * np.float32(self.scale)
        else:
            x = np.stack([self._sample(i) for i in idx]) if len(idx) else np.zeros((0, *self.input_shape), np.float32)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[idx])

    def subset(self, indices: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> "LabeledDataset":
        """A new dataset of the samples ``indices`` (N',), relabelled with ``labels`` (N',)."""
        idx = np.asarray(indices, dtype=np.int64)
        return LabeledDataset(
            labels,
            class_names,
            features=None if self.features is None else self.features[idx],
            image_paths=None if self.image_paths is None else [self.image_paths[i] for i in idx],
            modes=self.modes[idx],
            scale=self.scale,
            image_size=self.image_size,
            grayscale=self.grayscale,
        )

    def __repr__(self) -> str:
        return f"LabeledDataset(n={len(self)}, classes={self.num_classes}, input_shape={self.input_shape})"


@dataclass
class DatasetSplits:
    """What :func:`proxylab.data.make_dataset` returns.

    Attributes
    ----------
    train, test : LabeledDataset
        The two splits; labels are contiguous ``0..C-1`` within each.
    info : dict
        JSON-able description: ``name``, ``split``, ``seed``, ``params``, ``description``,
        ``input_shape``, ``has_modes``, ``class_names`` ({"train": [...], "test": [...]}),
        ``mode_names`` (indexed by global mode id), ``num_samples`` ({"train": n, "test": n}).
    """

    train: LabeledDataset
    test: LabeledDataset
    info: dict[str, Any]
