"""ClassBalancedSampler: batch composition, determinism, replacement only where needed, imbalance profile."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import torch

from proxylab.data import ClassBalancedSampler

class_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=8)


@st.composite
def sampler_args(draw):
    sizes = draw(class_sizes)
    labels = np.repeat(np.arange(len(sizes)) * 3 + 1, sizes)  # non-contiguous class ids
    labels = draw(st.permutations(labels.tolist()))
    return dict(
        labels=np.array(labels),
        classes_per_batch=draw(st.integers(1, len(sizes))),
        samples_per_class=draw(st.integers(1, 6)),
        num_batches=draw(st.integers(1, 5)),
        seed=draw(st.integers(0, 2**16)),
        imbalance=draw(st.sampled_from([1.0, 2.0, 7.5])),
    )


@settings(max_examples=60, deadline=None)
@given(sampler_args())
def test_batches_have_the_requested_composition(args):
    sampler = ClassBalancedSampler(**args)
    labels = args["labels"]
    batches = list(sampler)
    assert len(batches) == len(sampler) == args["num_batches"]
    expected_counts = sorted(sampler.class_counts.tolist())
    for batch in batches:
        assert all(isinstance(i, int) and 0 <= i < len(labels) for i in batch)
        assert len(batch) == sampler.batch_size
        classes, counts = np.unique(labels[batch], return_counts=True)
        assert len(classes) == args["classes_per_batch"]
        assert sorted(counts.tolist()) == expected_counts
        for c in classes:
            picked = [i for i in batch if labels[i] == c]
            # without replacement whenever the class has enough samples
            if (labels == c).sum() >= len(picked):
                assert len(set(picked)) == len(picked)


@settings(max_examples=30, deadline=None)
@given(sampler_args())
def test_deterministic_given_seed_and_epoch(args):
    first, second = ClassBalancedSampler(**args), ClassBalancedSampler(**args)
    epoch0, epoch1 = list(first), list(first)
    assert list(second) == epoch0 and list(second) == epoch1
    second.set_epoch(1)
    assert list(second) == epoch1


def test_epochs_and_seeds_differ():
    labels = np.repeat(np.arange(10), 20)
    sampler = ClassBalancedSampler(labels, 4, 5, num_batches=3, seed=1)
    assert list(sampler) != list(sampler)
    assert list(ClassBalancedSampler(labels, 4, 5, 3, seed=1)) != list(ClassBalancedSampler(labels, 4, 5, 3, seed=2))


def test_small_classes_are_drawn_with_replacement():
    labels = np.array([0, 1, 1, 1, 1, 1])
    batch = next(iter(ClassBalancedSampler(labels, 2, 4, num_batches=1)))
    assert batch.count(0) == 4  # the one sample of class 0, four times


def test_geometric_imbalance_profile():
    labels = np.repeat(np.arange(6), 50)
    sampler = ClassBalancedSampler(labels, 4, 16, num_batches=20, imbalance=8.0)
    assert sampler.class_counts.tolist() == [16, 8, 4, 2]  # 16 * 8 ** (-j / 3)
    largest = set()
    for batch in sampler:
        classes, counts = np.unique(labels[batch], return_counts=True)
        largest.add(int(classes[np.argmax(counts)]))
    assert len(largest) > 1  # which class dominates changes between batches


def test_works_as_a_dataloader_batch_sampler():
    labels = torch.arange(40) % 5
    loader = DataLoader(TensorDataset(torch.randn(40, 3), labels),
                        batch_sampler=ClassBalancedSampler(labels.numpy(), 3, 2, num_batches=4))
    batches = list(loader)
    assert len(batches) == 4 and all(x.shape == (6, 3) and len(torch.unique(y)) == 3 for x, y in batches)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(classes_per_batch=4), r"classes_per_batch must be <= the number of classes \(3\), got 4"),
        (dict(classes_per_batch=0), "classes_per_batch must be an int >= 1, got 0"),
        (dict(samples_per_class=2.5), "samples_per_class must be an int >= 1, got 2.5"),
        (dict(imbalance=0.5), "imbalance must be a float >= 1, got 0.5"),
        (dict(labels=np.array([0.0, 1.0])), "labels must be a non-empty 1-D integer array"),
        (dict(labels=np.array([], dtype=int)), "labels must be a non-empty 1-D integer array"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = dict(labels=np.array([0, 1, 2, 2]), classes_per_batch=2, samples_per_class=2, num_batches=1) | kwargs
    with pytest.raises(ValueError, match=message):
        ClassBalancedSampler(**args)
