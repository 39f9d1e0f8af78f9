"""Per-step statistics of the trainer against brute-force references."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.losses import list_losses, make_loss
from proxylab.losses.orthogonality import welch_floor
from proxylab.train.stats import (
    dead_proxies, gini, proxy_geometry, pull_push_gradients, sample_grad_summary, sub_proxy_usage, top_share,
)


def gini_brute(x):
    x = np.asarray(x, dtype=float)
    if x.sum() == 0:
        return 0.0
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40))
def test_gini_matches_mean_absolute_difference_definition(values):
    assert gini(torch.tensor(values, dtype=torch.float64)) == pytest.approx(gini_brute(values), abs=1e-9)


def test_gini_extremes():
    assert gini(torch.ones(10)) == pytest.approx(0.0)
    one_hot = torch.zeros(10)
    one_hot[3] = 5.0
    assert gini(one_hot) == pytest.approx(0.9)  # (n-1)/n for all mass on one item


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100, allow_nan=False), min_size=1, max_size=50))
def test_top_share_matches_sorting(values):
    v = np.sort(np.asarray(values))[::-1]
    k = max(1, int(round(0.1 * len(v))))
    assert top_share(torch.tensor(values, dtype=torch.float64), 0.1) == pytest.approx(v[:k].sum() / v.sum())


def test_sample_grad_summary_keys_and_values():
    g = torch.tensor([1.0, 2.0, 3.0, 10.0])
    s = sample_grad_summary(g)
    assert s["sample_grad/mean"] == pytest.approx(4.0)
    assert s["sample_grad/max"] == pytest.approx(10.0)
    assert s["sample_grad/top10_share"] == pytest.approx(10 / 16)
    assert s["sample_grad/gini"] == pytest.approx(gini_brute([1, 2, 3, 10]))


def test_proxy_geometry_against_pairwise_loop():
    torch.manual_seed(0)
    proxies = torch.randn(3, 2, 5)
    g = proxy_geometry(proxies)
    rows = torch.nn.functional.normalize(proxies.reshape(6, 5).double(), dim=-1)
    cos = [float(rows[i] @ rows[j]) for i, j in itertools.permutations(range(6), 2)]
    assert g["proxy/mean_cos"] == pytest.approx(np.mean(cos))
    assert g["proxy/max_cos"] == pytest.approx(np.max(cos))
    assert g["proxy/mean_sq_cos"] == pytest.approx(np.mean(np.square(cos)))
    assert g["proxy/r_so"] == pytest.approx(np.sum(np.square(cos)))
    assert g["proxy/welch_floor"] == welch_floor(6, 5)
    assert g["proxy/mean_sq_cos"] >= g["proxy/welch_floor"] - 1e-12


def test_single_proxy_geometry_is_finite():
    g = proxy_geometry(torch.randn(1, 1, 4))
    assert all(np.isfinite(v) for v in g.values())


def test_sub_proxy_usage_is_a_per_class_distribution_and_nan_for_absent_classes():
    torch.manual_seed(1)
    sims = torch.rand(8, 3, 4) * 2 - 1  # (B, C, K)
    labels = torch.tensor([0, 0, 0, 1, 1, 0, 1, 1])  # class 2 absent
    usage = sub_proxy_usage(sims, labels, gamma=0.1)
    assert usage.shape == (3, 4)
    assert torch.allclose(usage[:2].sum(dim=1), torch.ones(2, dtype=usage.dtype))
    assert torch.isnan(usage[2]).all()
    q0 = torch.softmax(sims[labels == 0, 0] / 0.1, dim=-1).mean(0)
    assert torch.allclose(usage[0], q0)


def test_dead_proxies_marks_never_nearest_sub_proxies_of_present_classes():
    sims = torch.full((3, 2, 2), -1.0)
    sims[0, 0, 0] = 1.0  # sample 0 (class 0) nearest to sub-proxy 0
    sims[1, 0, 0] = 1.0  # sample 1 (class 0) also sub-proxy 0 → sub-proxy 1 of class 0 is dead
    sims[2, 1, 1] = 1.0  # sample 2 (class 1) nearest to sub-proxy 1 → sub-proxy 0 of class 1 dead
    dead = dead_proxies(sims, torch.tensor([0, 0, 1]))
    assert dead.tolist() == [[False, True], [True, False]]


# pos reads only positive pairs and neg only negative ones: the split must equal the parts' own gradients
PARTS_ARE_PAIR_SIDES = {"proxy_anchor": {}, "mpa": {}, "mpa_dw": {}, "mpa_pw": {},
                        "proxy_nca": {"exclude_positive": True}}
PROXY_LOSSES = [name for name in list_losses() if make_loss(name, 2, 2).uses_proxies]


def _pull_push_case(name, seed=0, **params):
    torch.manual_seed(seed)
    loss = make_loss(name, 5, 6, proxies_per_class=3, so_weight=0.3, **params).double()
    with torch.no_grad():
        loss.proxies.mul_(torch.rand(5, 3, 1, dtype=torch.float64) * 3 + 0.2)  # unequal norms: the projection matters
    x = torch.randn(20, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (20,))  # class 4 absent: its proxies only get push
    out = loss(x, y)
    out.sims.retain_grad()
    out.loss.backward(retain_graph=True)
    pull, push = pull_push_gradients(out.sims.grad, x, y, loss.proxies.detach())
    return loss, out, pull, push


@pytest.mark.parametrize("name", PROXY_LOSSES)
def test_pull_and_push_plus_the_proxy_regularisers_are_the_whole_proxy_gradient(name):
    loss, out, pull, push = _pull_push_case(name, tau=0.2) if name == "soft_triple" else _pull_push_case(name)
    regularisers = sum(out.parts[k] for k in ("so", "reg") if k in out.parts)
    (g_reg,) = torch.autograd.grad(regularisers, loss.proxies, retain_graph=True)
    torch.testing.assert_close(pull + push + g_reg, loss.proxies.grad, atol=1e-12, rtol=1e-10)
    assert pull[4].abs().max() == 0 and push[4].abs().max() > 0  # an absent class is never pulled
    assert pull[:4].abs().max() > 0


@pytest.mark.parametrize("name", sorted(PARTS_ARE_PAIR_SIDES))
def test_pull_and_push_equal_the_gradients_of_pos_and_neg_where_those_read_one_side(name):
    assert set(PARTS_ARE_PAIR_SIDES) <= set(PROXY_LOSSES)
    loss, out, pull, push = _pull_push_case(name, seed=1, **PARTS_ARE_PAIR_SIDES[name])
    (g_pos,) = torch.autograd.grad(out.parts["pos"], loss.proxies, retain_graph=True)
    (g_neg,) = torch.autograd.grad(out.parts["neg"], loss.proxies, retain_graph=True)
    torch.testing.assert_close(pull, g_pos, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(push, g_neg, atol=1e-12, rtol=1e-10)


def test_proxy_geometries_in_chunks_of_steps_equal_one_pass(monkeypatch):
    import proxylab.train.stats as stats

    proxies = torch.randn(7, 10, 3, 5, generator=torch.Generator().manual_seed(2))
    whole = stats.proxy_geometries(proxies)
    monkeypatch.setattr(stats, "GEOMETRY_BYTES", 1)  # one step per chunk
    chunked = stats.proxy_geometries(proxies)
    for key in whole:
        assert torch.equal(whole[key], chunked[key]), key
