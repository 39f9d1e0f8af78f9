"""``digits`` and ``digits-merged``: scikit-learn's 8x8 handwritten digits (1,797 images, ship offline).

``digits``: 10 classes, no known modes. Zero-shot split: train on digits 0-4, test on 5-9.

``digits-merged``: digits grouped into super-classes, the original digit being the ground-truth
mode, so every class is genuinely multi-centre. Default groups (chosen so that each group mixes
shapes that look different, i.e. modes far apart): {0,6,8} (loops), {1,7} (strokes),
{2,3,5} (curves), {4,9}. Its natural split is ``per-sample`` (4 classes; zero-shot would train on
2 super-classes and test on the other 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..params import BOOL, InstanceOf
from .dataset import LabeledDataset
from .registry import DatasetLoader, register_dataset
from .splits import Source

DEFAULT_GROUPS = ((0, 6, 8), (1, 7), (2, 3, 5), (4, 9))


def _load_digits(as_images: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pixels scaled to [0, 1]: (N, 64) or (N, 1, 8, 8) float32, and digits (N,) int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = (bunch.images / 16.0).astype(np.float32)  # (N, 8, 8); sklearn's values are 0..16
    x = pixels[:, None] if as_images else pixels.reshape(len(pixels), -1)
    return x, bunch.target.astype(np.int64)


@register_dataset("digits")
class DigitsLoader(DatasetLoader):
    """scikit-learn digits, 10 classes.

    Parameters
    ----------
    as_images : bool, default=False
        Samples as (1, 8, 8) images (for ``cnn``/``resnet18``/``vit``) instead of 64-d vectors.
    """

    needs_root = False
    parameter_constraints = {"as_images": [BOOL]}

    @classmethod
    def load(cls, root: Path | None, seed: int, as_images: bool = False) -> Source:
        x, digit = _load_digits(as_images)
        data = LabeledDataset(digit, [str(d) for d in range(10)], features=x)
        return Source(data, "scikit-learn 8x8 digits (1,797 images, pixels scaled to [0, 1]); zero-shot: 0-4 | 5-9")


@register_dataset("digits-merged")
class MergedDigitsLoader(DatasetLoader):
    """Digits merged into super-classes; mode = original digit (global mode id = the digit).

    Parameters
    ----------
    as_images : bool, default=False
        Samples as (1, 8, 8) images instead of 64-d vectors.
    groups : sequence of sequences of int, default=((0, 6, 8), (1, 7), (2, 3, 5), (4, 9))
        A partition of the digits 0-9 into super-classes (class names join the digits: "068").
    """

    default_split = "per-sample"
    needs_root = False
    parameter_constraints = {"as_images": [BOOL], "groups": [InstanceOf(tuple, list, label="sequence of digit groups")]}

    @classmethod
    def load(cls, root: Path | None, seed: int, as_images: bool = False, groups=DEFAULT_GROUPS) -> Source:
        flat = [d for g in groups for d in (g if isinstance(g, (tuple, list)) else [g])]
        if (
            not all(isinstance(g, (tuple, list)) and g for g in groups)
            or sorted(flat) != list(range(10))
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in flat)
        ):
            raise ValueError(f"groups must partition the digits 0-9 into non-empty groups, got {groups!r}")
        if len(groups) < 2:
            raise ValueError(f"groups must form at least 2 super-classes, got {len(groups)}")
        super_class = np.empty(10, dtype=np.int64)
        for k, group in enumerate(groups):
            super_class[list(group)] = k
        x, digit = _load_digits(as_images)
        names = ["".join(str(d) for d in g) for g in groups]
        data = LabeledDataset(super_class[digit], names, features=x, modes=digit)
        description = f"scikit-learn 8x8 digits merged into super-classes {names}; mode = original digit"
        return Source(data, description, [str(d) for d in range(10)])
