"""Class-balanced (P classes x M samples) batch sampler, with an optional in-batch class imbalance."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ..params import Interval, validate_params


class ClassBalancedSampler(Sampler[list[int]]):
    """Yield ``num_batches`` index lists of ``classes_per_batch`` classes x ``samples_per_class`` samples.

    Use it as ``DataLoader(dataset, batch_sampler=sampler)``. Every batch draws its classes without
    replacement, then the samples of each class without replacement — or with replacement for a class
    holding fewer samples than requested. Batches depend only on ``seed`` and the epoch: iteration
    ``e`` (counted from 0, or set with :meth:`set_epoch`) uses the generator seeded with
    ``(seed, e)``, so every epoch differs and a resumed run can replay any epoch.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
        Class of every sample of the dataset.
    classes_per_batch : int
        P, distinct classes per batch (at most the number of classes present).
    samples_per_class : int
        M, samples of each class in a balanced batch (of the most frequent class when imbalanced).
    num_batches : int
        Batches per iteration (``len(sampler)``).
    seed : int, default=0
    imbalance : float, default=1.0
        rho >= 1, the ratio between the largest and smallest per-class count inside a batch. The j-th
        drawn class (j = 0..P-1) gets ``max(1, round(M * rho ** (-j / (P - 1))))`` samples, a
        geometric profile; which class gets the most changes from batch to batch. 1 = balanced.

    Attributes
    ----------
    class_counts : ndarray of int, shape (P,)
        Per-class counts inside a batch, largest first; ``batch_size`` is their sum.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        classes_per_batch: int,
        samples_per_class: int,
        num_batches: int,
        seed: int = 0,
        imbalance: float = 1.0,
    ):
        validate_params(
            "ClassBalancedSampler",
            {
                "classes_per_batch": [Interval(int, 1, None)],
                "samples_per_class": [Interval(int, 1, None)],
                "num_batches": [Interval(int, 1, None)],
                "seed": [Interval(int, 0, None)],
                "imbalance": [Interval(float, 1, None)],
            },
            dict(classes_per_batch=classes_per_batch, samples_per_class=samples_per_class,
                 num_batches=num_batches, seed=seed, imbalance=imbalance),
        )
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be a non-empty 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
        self.classes, inverse = np.unique(labels, return_inverse=True)
        if classes_per_batch > len(self.classes):
            raise ValueError(
                f"classes_per_batch must be <= the number of classes ({len(self.classes)}), got {classes_per_batch}"
            )
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(self.classes)))[:-1]
        self.members = np.split(order, bounds)  # members[k]: indices of class self.classes[k]
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.num_batches = num_batches
        self.seed = seed
        self.imbalance = float(imbalance)
        rank = np.arange(classes_per_batch) / max(classes_per_batch - 1, 1)  # 0..1 over the drawn classes
        self.class_counts = np.maximum(1, np.round(samples_per_class * self.imbalance ** -rank)).astype(np.int64)
        self.batch_size = int(self.class_counts.sum())
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce the batches of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        for _ in range(self.num_batches):
            drawn = rng.choice(len(self.classes), size=self.classes_per_batch, replace=False)
            batch = [
                rng.choice(self.members[k], size=n, replace=len(self.members[k]) < n)
                for k, n in zip(drawn, self.class_counts)
            ]
            yield np.concatenate(batch).tolist()
