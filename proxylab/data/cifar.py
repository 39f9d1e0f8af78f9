"""``cifar100``: CIFAR-100 from its *binary* version (never the pickled Python version).

Expected: ``root/cifar-100-binary/{train.bin,test.bin}`` (or the two files directly in ``root``),
each record = 1 coarse-label byte + 1 fine-label byte + 3072 pixel bytes (3x32x32, channel-major).
The 20 coarse labels are the classes and the 100 fine labels their modes (5 per class); names come
from ``coarse_label_names.txt`` / ``fine_label_names.txt`` when present. ``per-sample`` uses the
official train/test files; ``zero-shot`` trains on coarse classes 0-9 and tests on 10-19, pooling
both files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import LabeledDataset
from .errors import DataError
from .registry import DatasetLoader, register_dataset
from .splits import Source

RECORD_BYTES = 2 + 3 * 32 * 32
HOW_TO_GET = ("download https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz and extract it into root, "
              "giving root/cifar-100-binary/train.bin and test.bin")


def _read_records(path: Path) -> np.ndarray:
    """All records of one .bin file, shape (N, 3074) uint8."""
    if not path.is_file():
        raise DataError(f"cifar100: expected the file {path} ({HOW_TO_GET})")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(f"{path}: size {raw.size} bytes is not a positive multiple of the {RECORD_BYTES}-byte "
                        "CIFAR-100 binary record")
    return raw.reshape(-1, RECORD_BYTES)


def _names(path: Path, count: int, prefix: str) -> list[str]:
    if path.is_file():
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if len(names) == count:
            return names
    return [f"{prefix}{i}" for i in range(count)]


@register_dataset("cifar100")
class Cifar100Loader(DatasetLoader):
    """CIFAR-100 binary: 20 coarse classes x 5 fine modes, (3, 32, 32) images in [0, 1]."""

    root_help = f"the folder holding cifar-100-binary/ ({HOW_TO_GET})"

    @classmethod
    def load(cls, root: Path | None, seed: int) -> Source:
        folder = root if (root / "train.bin").is_file() else root / "cifar-100-binary"
        train, test = _read_records(folder / "train.bin"), _read_records(folder / "test.bin")
        records = np.concatenate([train, test])  # (N, 3074)
        coarse, fine = records[:, 0].astype(np.int64), records[:, 1].astype(np.int64)
        if coarse.max() >= 20 or fine.max() >= 100:
            raise DataError(f"{folder}: labels out of range (coarse max {coarse.max()} >= 20 or fine max {fine.max()} "
                            ">= 100); is this the CIFAR-100 binary version?")
        pixels = records[:, 2:].reshape(-1, 3, 32, 32)  # uint8, scaled to [0, 1] on access
        is_test = np.arange(len(records)) >= len(train)
        data = LabeledDataset(coarse, _names(folder / "coarse_label_names.txt", 20, "coarse"),
                              features=pixels, modes=fine, scale=1 / 255)
        description = f"CIFAR-100 (binary): {len(train)} train + {len(test)} test images, 20 coarse classes x 100 fine modes"
        return Source(data, description, _names(folder / "fine_label_names.txt", 100, "fine"), official_test=is_test)
