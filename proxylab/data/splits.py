"""Train/test splits of a pooled dataset: ``zero-shot`` (disjoint classes) and ``per-sample`` (stratified)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dataset import LabeledDataset
from .errors import DataError

SPLITS = ("zero-shot", "per-sample")


@dataclass
class Source:
    """A dataset before splitting, as a loader returns it.

    Attributes
    ----------
    data : LabeledDataset
        Every sample, labels ``0..C-1`` in the dataset's class order (the zero-shot split follows it).
    description : str
        One line for ``info["description"]``.
    mode_names : list of str
        Name of every global mode id used in ``data.modes`` (empty when modes are unknown).
    zero_shot_train_classes : ndarray of int, optional
        Classes of the zero-shot train split when the dataset defines them (SOP: by file);
        default: the first half of the classes.
    official_test : ndarray of bool, shape (N,), optional
        The dataset's own per-sample test set (CIFAR-100: test.bin); default: stratified.
    """

    data: LabeledDataset
    description: str
    mode_names: list[str] = field(default_factory=list)
    zero_shot_train_classes: np.ndarray | None = None
    official_test: np.ndarray | None = None


def zero_shot_split(source: Source) -> tuple[LabeledDataset, LabeledDataset]:
    """Disjoint classes: the first ``ceil(C/2)`` classes train, the rest test; labels renumbered from 0."""
    data = source.data
    num_classes = data.num_classes
    if source.zero_shot_train_classes is not None:
        train_classes = np.unique(source.zero_shot_train_classes)
    else:
        train_classes = np.arange((num_classes + 1) // 2)
    test_classes = np.setdiff1d(np.arange(num_classes), train_classes)
    if len(train_classes) < 2 or len(test_classes) < 2:
        raise DataError(
            f"split='zero-shot' needs at least 2 train and 2 test classes, got {len(train_classes)} and "
            f"{len(test_classes)} of {num_classes} classes; use split='per-sample'"
        )
    return _take_classes(data, train_classes), _take_classes(data, test_classes)


def _take_classes(data: LabeledDataset, classes: np.ndarray) -> LabeledDataset:
    new_label = np.full(data.num_classes, -1, dtype=np.int64)
    new_label[classes] = np.arange(len(classes))
    idx = np.flatnonzero(np.isin(data.labels, classes))
    return data.subset(idx, new_label[data.labels[idx]], [data.class_names[c] for c in classes])


def per_sample_split(source: Source, test_fraction: float, seed: int) -> tuple[LabeledDataset, LabeledDataset]:
    """Same classes in both splits: ``round(n_c * test_fraction)`` samples of every class go to test.

    Every class keeps at least one sample on each side, so a class needs at least 2 samples.
    A dataset's own test set (``source.official_test``) takes precedence over ``test_fraction``.
    """
    data = source.data
    counts = np.bincount(data.labels, minlength=data.num_classes)
    if source.official_test is not None:
        is_test = np.asarray(source.official_test, dtype=bool)
        for side, mask in (("train", ~is_test), ("test", is_test)):
            missing = np.flatnonzero(np.bincount(data.labels[mask], minlength=data.num_classes) == 0)
            if len(missing):
                raise DataError(f"the dataset's own {side} set has no sample of class {data.class_names[missing[0]]!r}")
    else:
        small = np.flatnonzero(counts < 2)
        if len(small):
            c = small[0]
            raise DataError(
                f"split='per-sample' needs at least 2 samples per class, class {data.class_names[c]!r} has {counts[c]}"
            )
        rng = np.random.default_rng([seed, 1])  # stream 1: splitting (stream 0 generates synthetic data)
        is_test = np.zeros(len(data), dtype=bool)
        for c in range(data.num_classes):
            members = np.flatnonzero(data.labels == c)
            n_test = int(np.clip(round(len(members) * test_fraction), 1, len(members) - 1))
            is_test[rng.choice(members, size=n_test, replace=False)] = True
    train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return (data.subset(train_idx, data.labels[train_idx], data.class_names),
            data.subset(test_idx, data.labels[test_idx], data.class_names))
