"""Per-step statistics of the trainer against brute-force references."""
import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.losses import list_losses, make_loss
from proxylab.losses.orthogonality import welch_floor
from proxylab.train.stats import (
    gini, proxy_geometry, pull_push_gradients, sample_grad_summary, sub_proxy_usage, top_share,
)


def gini_brute(values):
    """Mean absolute difference over twice the mean, in exact rational arithmetic.

    Exact so that the reference itself cannot underflow: with subnormal inputs such as [0, 5e-324] a float
    mean rounds to 0 and the float formula returns inf where the true value is 0.5.
    """
    x = [Fraction(v) for v in values]
    total = sum(x)
    if total == 0:
        return 0.0
    return float(sum(abs(a - b) for a in x for b in x) / (2 * len(x) * total))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40))
def test_gini_matches_mean_absolute_difference_definition(values):
    assert gini(torch.tensor(values, dtype=torch.float64)) == pytest.approx(gini_brute(values), abs=1e-9)


@pytest.mark.parametrize("values", [[0.0, 5e-324], [5e-324, 1e-323, 0.0], [1e308, 1e308, 0.0], [0.0, 2.2e-308, 1.0]])
def test_gini_at_the_ends_of_the_float_range(values):
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


def _records(batch_sizes, c=4, k=3, d=5, seed=3):
    """StepRecords as the trainer makes them: a tiny linear embedder and an MPA loss, a few SGD steps."""
    from proxylab.tracking.core import StepRecord

    torch.manual_seed(seed)
    model, loss = torch.nn.Linear(6, d).double(), make_loss("mpa", c, d, proxies_per_class=k).double()
    opt = torch.optim.SGD([*model.parameters(), loss.proxies], lr=0.1)
    records = []
    for b in batch_sizes:
        x, y = torch.randn(b, 6, dtype=torch.float64), torch.randint(0, c - 1, (b,))  # class c-1 absent
        emb = model(x)
        emb.retain_grad()
        out = loss(emb, y)
        out.sims.retain_grad()
        opt.zero_grad()
        out.loss.backward()
        records.append(StepRecord(y, emb.detach(), emb.grad.clone(), out.sims.detach(), out.sims.grad.clone(),
                                  loss.proxies.detach().clone(), loss.proxies.grad.norm(dim=-1)))
        opt.step()
    return records


def _step_by_step(r, c):
    """One step's statistics from a plain numpy loop over samples and proxies."""
    y, x, gx = r.labels.numpy(), r.embeddings.numpy(), r.embedding_grad.numpy()
    s, gs, p = r.sims.numpy(), r.sims_grad.numpy(), r.proxies.numpy()
    norms = np.array([np.linalg.norm(g) for g in gx])
    top = max(1, round(0.1 * len(norms)))
    scalars = {"sample_grad/mean": norms.mean(), "sample_grad/max": norms.max(),
               "sample_grad/top10_share": np.sort(norms)[-top:].sum() / norms.sum(),
               "sample_grad/gini": gini_brute(norms)}
    _, k, d = p.shape
    pull, push, usage = np.zeros((c, k, d)), np.zeros((c, k, d)), np.full((c, k), np.nan)
    for i in range(len(y)):
        x_hat = x[i] / np.linalg.norm(x[i])
        for cc, kk in itertools.product(range(c), range(k)):
            (pull if y[i] == cc else push)[cc, kk] += gs[i, cc, kk] * x_hat
    for cc, kk in itertools.product(range(c), range(k)):
        p_hat, n = p[cc, kk] / np.linalg.norm(p[cc, kk]), np.linalg.norm(p[cc, kk])
        for g in (pull, push):
            g[cc, kk] = (g[cc, kk] - p_hat * (p_hat @ g[cc, kk])) / n
    for cc in set(y.tolist()):
        own = s[y == cc, cc] / 0.1
        q = np.exp(own - own.max(axis=1, keepdims=True))
        usage[cc] = (q / q.sum(axis=1, keepdims=True)).mean(axis=0)
    rows = p.reshape(c * k, d) / np.linalg.norm(p.reshape(c * k, d), axis=1, keepdims=True)
    cos = np.array([rows[i] @ rows[j] for i, j in itertools.permutations(range(c * k), 2)])
    scalars |= {"proxy/mean_cos": cos.mean(), "proxy/max_cos": cos.max(), "proxy/mean_sq_cos": np.mean(cos ** 2),
                "proxy/r_so": np.sum(cos ** 2), "proxy/welch_floor": max(0.0, (c * k / d - 1) / (c * k - 1))}
    vectors = {"class_grad": np.array([norms[y == cc].sum() for cc in range(c)]),
               "proxy_grad": r.proxy_grad_norm.numpy().ravel(),
               "proxy_grad_pull": np.linalg.norm(pull, axis=-1).ravel(),
               "proxy_grad_push": np.linalg.norm(push, axis=-1).ravel(), "proxy_usage": usage.ravel()}
    return scalars, vectors


def test_batched_step_stats_equal_a_per_step_per_sample_loop():
    from proxylab.tracking.core import StepStats

    sizes = [10, 10, 7, 10, 10, 10]  # runs of equal batch size are stacked: three stacks here
    records = _records(sizes)
    stats = StepStats(4)
    for step, r in enumerate(records, start=1):
        stats.add(step, r)
    drained = list(stats.drain())
    assert [s for s, _, _ in drained] == [1, 2, 3, 4, 5, 6] and len(stats) == 0
    for (step, scalars, vectors), r in zip(drained, records):
        want_s, want_v = _step_by_step(r, 4)
        assert set(scalars) == set(want_s) and set(vectors) == set(want_v)
        for key, value in want_s.items():
            assert scalars[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (step, key)
        for key, value in want_v.items():
            np.testing.assert_allclose(vectors[key], value, rtol=1e-5, atol=1e-7, err_msg=f"step {step} {key}")
        assert np.isnan(vectors["proxy_usage"][-3:]).all()  # the absent class
