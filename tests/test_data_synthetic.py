"""The synthetic dataset's geometry, and the property it exists for: with a linear embedder + L2
normalisation, one proxy per class fails on interleaved modes where several proxies succeed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from proxylab.data import ClassBalancedSampler, make_dataset
from proxylab.data.synthetic import mode_centres
from proxylab.losses import make_loss
from proxylab.models import make_model


def _mode_means(ds) -> tuple[np.ndarray, np.ndarray]:
    """Mean input of every mode (n_modes, D) and its class (n_modes,)."""
    modes = np.unique(ds.modes)
    means = np.stack([ds.features[ds.modes == m].mean(0) for m in modes])
    return means, np.array([ds.labels[ds.modes == m][0] for m in modes])


@pytest.mark.parametrize("layout", ["subspaces", "ring"])
@pytest.mark.parametrize("modes_per_class", [2, 3, 5])
def test_interleaved_modes_of_a_class_sum_to_zero(layout, modes_per_class):
    centres = mode_centres(4, modes_per_class, 12, layout, 1.0, np.random.default_rng(0))  # (C, M, D)
    assert np.allclose(np.linalg.norm(centres, axis=-1), 1)
    # Sum zero => for any linear map W and any direction u, some mode has u^T W mu <= 0: no single
    # proxy can see every mode of its class with a positive cosine.
    assert np.allclose(centres.sum(axis=1), 0, atol=1e-12)
    flat = centres.reshape(-1, 12)
    gaps = np.linalg.norm(flat[:, None] - flat[None], axis=-1)[np.triu_indices(len(flat), 1)]
    assert gaps.min() > 0.1  # every mode has its own centre


def test_interleave_zero_merges_a_class_and_intermediate_values_fan_out():
    rng = lambda: np.random.default_rng(1)  # noqa: E731 - same frames for every t
    merged = mode_centres(3, 3, 8, "subspaces", 0.0, rng())
    assert np.allclose(merged, merged[:, :1])  # one centre per class
    half = mode_centres(3, 3, 8, "subspaces", 0.5, rng())
    within = np.einsum("cmd,cnd->cmn", half, half)[:, 0, 1]
    assert np.all((within > 0) & (within < 0.99))  # spread, yet on the same side


def test_ring_alternates_classes():
    centres = mode_centres(3, 2, 5, "ring", 1.0, np.random.default_rng(0))  # (3, 2, 5)
    plane = centres.reshape(-1, 5)
    basis = np.linalg.svd(plane)[2][:2]  # the ring's plane
    angle = np.arctan2(*(plane @ basis.T).T[::-1])  # (6,)
    order = np.argsort(angle) // 2  # class of each mode, in angular order
    assert all(order[i] != order[(i + 1) % 6] for i in range(6))


def test_samples_labels_modes_and_spread():
    splits = make_dataset("synthetic", split="per-sample", num_classes=5, modes_per_class=2, samples_per_mode=40,
                          dim=10, spread=0.3, seed=2)
    data = splits.train
    assert data.input_shape == (10,) and data.num_classes == 5
    assert np.array_equal(data.modes // 2, data.labels)  # mode id = c * M + m
    assert splits.info["mode_names"][:3] == ["c0.m0", "c0.m1", "c1.m0"]
    means, _ = _mode_means(data)
    distance = np.linalg.norm(data.features - means[data.modes], axis=1)
    assert 0.2 < distance.mean() < 0.4  # ~ spread
    sphere = make_dataset("synthetic", space="sphere", seed=2).train
    assert np.allclose(np.linalg.norm(sphere.features, axis=1), 1, atol=1e-5)


def test_zero_shot_tests_new_classes_from_the_same_process():
    splits = make_dataset("synthetic", split="zero-shot", num_classes=8)
    assert splits.train.class_names == ["c0", "c1", "c2", "c3"] and splits.test.class_names == ["c4", "c5", "c6", "c7"]
    assert set(np.unique(splits.test.modes)) == set(range(12, 24))
    assert len(splits.train) == len(splits.test) == 4 * 300


def _train_linear(loss_name: str, K: int, splits, steps: int = 250) -> tuple[float, float]:
    """Train linear embedder + proxies; return test R@1 and mode coverage (fraction of test modes whose
    mean embedding is nearest to a proxy of its own class)."""
    train, test = splits.train, splits.test
    C, d = train.num_classes, 8
    model = make_model("linear", train.input_shape, d, seed=0)
    torch.manual_seed(0)
    loss = make_loss(loss_name, C, d, proxies_per_class=K)
    optimizer = torch.optim.AdamW([{"params": model.parameters(), "lr": 1e-2},
                                   {"params": [loss.proxies], "lr": 1e-1}], weight_decay=1e-4)
    for batch in ClassBalancedSampler(train.labels, C, 16, steps, seed=0):
        x, y = train.get_batch(batch)
        optimizer.zero_grad()
        loss(model(x), y).loss.backward()
        optimizer.step()
    with torch.no_grad():
        x, y = test.get_batch(np.arange(len(test)))
        z = model(x)  # (N, d), unit norm
        sim = z @ z.T
        sim.fill_diagonal_(-2)
        recall_at_1 = (y[sim.argmax(1)] == y).float().mean().item()
        proxies = loss.normalized_proxies().reshape(C * K, d)
        covered = [
            int((F.normalize(z[test.modes == m].mean(0), dim=0) @ proxies.T).argmax()) // K == y[test.modes == m][0]
            for m in np.unique(test.modes)
        ]
    return recall_at_1, float(np.mean(covered))


@pytest.fixture
def one_thread():
    """Tiny matrices: one thread is faster and avoids oversubscribing a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_single_proxy_fails_where_multi_proxy_succeeds_with_a_linear_embedder(one_thread):
    splits = make_dataset("synthetic", split="per-sample", seed=0)  # defaults: 6 classes x 3 interleaved modes
    single_r1, single_cov = _train_linear("proxy_anchor", 1, splits)
    multi_r1, multi_cov = _train_linear("mpa", 4, splits)
    assert single_cov < 0.5 and multi_cov > 0.9
    assert multi_r1 > 0.9 and multi_r1 - single_r1 > 0.1
    # control: the same losses on modes merged per class (interleave=0) both succeed
    control = make_dataset("synthetic", split="per-sample", seed=0, interleave=0.0)
    assert _train_linear("proxy_anchor", 1, control)[1] == 1.0


def test_triads_put_each_class_s_second_mode_next_to_another_class_s_first():
    """Groups of three classes, each group on its own 3-D subspace: a class's modes 104 degrees apart, its second
    mode 46 degrees from the next class's first; different groups orthogonal; any rotation per seed."""
    for seed in (0, 1):
        centres = mode_centres(6, 2, 8, "triads", 1.0, np.random.default_rng(seed))  # (C, M, D)
        assert np.allclose(np.linalg.norm(centres, axis=-1), 1)
        angle = lambda a, b: np.degrees(np.arccos(np.clip(a @ b, -1, 1)))
        for c in range(6):
            group, j = divmod(c, 3)
            after = 3 * group + (j + 1) % 3
            assert angle(centres[c, 0], centres[c, 1]) == pytest.approx(104.0, abs=0.1)
            assert angle(centres[c, 1], centres[after, 0]) == pytest.approx(45.9, abs=0.1)
        assert np.allclose(centres[:3].reshape(-1, 8) @ centres[3:].reshape(-1, 8).T, 0, atol=1e-12)
    for bad in (dict(num_classes=4), dict(modes_per_class=3), dict(dim=5)):
        args = {"num_classes": 6, "modes_per_class": 2, "dim": 6, **bad}
        with pytest.raises(ValueError, match="layout='triads' needs"):
            make_dataset("synthetic", seed=0, layout="triads", **args)
