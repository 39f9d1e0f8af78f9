"""Per-loss correctness: parity with pytorch-metric-learning, agreement with the loop references in
``loss_references.py``, gradcheck, closed-form gradients, edge cases, bad parameters, and training."""
from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from torch.func import functional_call

from loss_references import AGGREGATORS, REFERENCES
from proxylab.losses import list_losses, make_loss
from proxylab.losses.logsumexp import log1p_sum_exp, masked_logsumexp
from proxylab.losses.proxy_anchor import proxy_anchor_terms

SEEDS = (0, 1, 2)


pytestmark = pytest.mark.usefixtures("one_thread")


def batch(seed, size=12, num_classes=5, dim=6, dtype=torch.float64, classes=None):
    """Random embeddings and labels; ``classes`` restricts the labels (e.g. to leave classes absent)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(size, dim, generator=gen, dtype=dtype)
    pool = torch.arange(num_classes) if classes is None else torch.tensor(classes)
    y = pool[torch.randint(0, len(pool), (size,), generator=gen)]
    return x, y


def new_loss(name, num_classes=5, dim=6, seed=0, dtype=torch.float64, **params):
    torch.manual_seed(seed)
    return make_loss(name, num_classes, dim, **params).to(dtype)


def run(loss, x, y, fn=None):
    """Parts, d loss / d x and d loss / d proxies of ``fn(x, y)`` (default: the loss itself)."""
    x = x.clone().requires_grad_(True)
    loss.zero_grad()
    parts = fn(x, y) if fn is not None else loss(x, y).parts
    sum(parts.values()).backward()
    proxy_grad = None if loss.proxies is None else loss.proxies.grad.clone()
    return {k: v.detach() for k, v in parts.items()}, x.grad, proxy_grad


def assert_same(ours, theirs, atol, rtol=0.0):
    (p1, gx1, gw1), (p2, gx2, gw2) = ours, theirs
    total1, total2 = sum(p1.values()), sum(p2.values())
    torch.testing.assert_close(total1, total2.to(total1.dtype), atol=atol, rtol=rtol)
    torch.testing.assert_close(gx1, gx2, atol=atol, rtol=rtol)
    if gw1 is not None:
        torch.testing.assert_close(gw1, gw2, atol=atol, rtol=rtol)


# -- 1. parity with pytorch-metric-learning 2.9 -------------------------------------------------
PRECISIONS = [(torch.float64, 1e-10), (torch.float32, 1e-5)]


def pml_run(pml, x, y, weights_attr, to_pml_weights, miner=None):
    """Total loss and gradients of a PML loss whose weights come from ``to_pml_weights``."""
    x = x.clone().requires_grad_(True)
    if weights_attr is not None:
        setattr(pml, weights_attr, torch.nn.Parameter(to_pml_weights))
    tuples = miner(x, y) if miner is not None else None
    value = pml(x, y, tuples)
    value.backward()
    grad_w = getattr(pml, weights_attr).grad if weights_attr is not None else None
    return {"loss": value.detach()}, x.grad, grad_w


# PML's float32 proxy gradients are NaN at scale 32 (−log of an underflowing softmax probability;
# ours uses log-softmax), so scale 32 is compared in float64 only.
@pytest.mark.parametrize("scale,dtype,atol", [(1.0, *PRECISIONS[0]), (1.0, *PRECISIONS[1]), (9.0, *PRECISIONS[0]),
                                              (9.0, *PRECISIONS[1]), (32.0, *PRECISIONS[0])])
@pytest.mark.parametrize("seed", SEEDS)
def test_proxy_nca_matches_pml(seed, scale, dtype, atol):
    loss = new_loss("proxy_nca", seed=seed, dtype=dtype, scale=scale)
    x, y = batch(seed, dtype=dtype)
    pml = pml_losses.ProxyNCALoss(num_classes=5, embedding_size=6, softmax_scale=scale)
    theirs = pml_run(pml, x, y, "proxies", loss.proxies.detach().reshape(5, 6).clone())
    assert_same(run(loss, x, y), (theirs[0], theirs[1], theirs[2].reshape(5, 1, 6)), atol, rtol=atol)


@pytest.mark.parametrize("seed", SEEDS)
def test_proxy_nca_sub_proxies_match_pml_with_repeated_proxy_labels(seed):
    # PML sums the softmax over all proxies sharing the label: our K > 1 convention.
    C, K, d = 4, 3, 6
    loss = new_loss("proxy_nca", num_classes=C, seed=seed, proxies_per_class=K, scale=4.0)
    x, y = batch(seed, num_classes=C)
    pml = pml_losses.ProxyNCALoss(num_classes=C * K, embedding_size=d, softmax_scale=4.0)
    pml.proxy_labels = torch.arange(C).repeat_interleave(K)
    theirs = pml_run(pml, x, y, "proxies", loss.proxies.detach().reshape(C * K, d).clone())
    assert_same(run(loss, x, y), (theirs[0], theirs[1], theirs[2].reshape(C, K, d)), 1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_proxy_nca_pp_matches_pml_at_scale_one_over_temperature(seed):
    loss = new_loss("proxy_nca_pp", seed=seed)
    x, y = batch(seed)
    pml = pml_losses.ProxyNCALoss(num_classes=5, embedding_size=6, softmax_scale=9.0)
    theirs = pml_run(pml, x, y, "proxies", loss.proxies.detach().reshape(5, 6).clone())
    assert_same(run(loss, x, y), (theirs[0], theirs[1], theirs[2].reshape(5, 1, 6)), 1e-10)


@pytest.mark.parametrize("dtype,atol", PRECISIONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [None, [0, 2]], ids=["all-classes", "absent-classes"])
def test_proxy_anchor_matches_pml(seed, classes, dtype, atol):
    loss = new_loss("proxy_anchor", seed=seed, dtype=dtype)
    x, y = batch(seed, dtype=dtype, classes=classes)
    pml = pml_losses.ProxyAnchorLoss(num_classes=5, embedding_size=6, margin=0.1, alpha=32)
    theirs = pml_run(pml, x, y, "proxies", loss.proxies.detach().reshape(5, 6).clone())
    assert_same(run(loss, x, y), (theirs[0], theirs[1], theirs[2].reshape(5, 1, 6)), atol, rtol=atol)


@pytest.mark.parametrize("dtype,atol", PRECISIONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("per_class", [1, 3, 10])
def test_soft_triple_matches_pml_without_regulariser(seed, per_class, dtype, atol):
    C, d = 5, 6
    loss = new_loss("soft_triple", seed=seed, dtype=dtype, proxies_per_class=per_class, tau=0.0)
    x, y = batch(seed, dtype=dtype)
    pml = pml_losses.SoftTripleLoss(num_classes=C, embedding_size=d, centers_per_class=per_class,
                                    la=20, gamma=0.1, margin=0.01)
    # PML's fc is (d, C·K) with column c·K + k.
    theirs = pml_run(pml, x, y, "fc", loss.proxies.detach().reshape(C * per_class, d).T.clone())
    assert_same(run(loss, x, y), (theirs[0], theirs[1], theirs[2].T.reshape(C, per_class, d)), atol, rtol=atol)


@pytest.mark.parametrize("dtype,atol", PRECISIONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_triplet_matches_pml(seed, mining, dtype, atol):
    loss = new_loss("triplet", seed=seed, dtype=dtype, mining=mining, margin=0.3)
    x, y = batch(seed, size=16, num_classes=3, dtype=dtype)
    miner = (pml_miners.BatchHardMiner() if mining == "batch_hard"
             else pml_miners.TripletMarginMiner(margin=0.3, type_of_triplets="semihard"))
    theirs = pml_run(pml_losses.TripletMarginLoss(margin=0.3), x, y, None, None, miner=miner)
    ours = run(loss, x, y)
    assert sum(ours[0].values()) > 0  # the batch has active triplets: the comparison means something
    assert_same(ours, theirs, atol, rtol=atol)


# -- 2. the loop references ---------------------------------------------------------------------
REFERENCE_CASES = [(name, params, fn) for name, cases in REFERENCES.items() for params, fn in cases]


@pytest.mark.parametrize("name,params,fn", REFERENCE_CASES,
                         ids=[f"{n}-{p}" for n, p, _ in REFERENCE_CASES])
@pytest.mark.parametrize("seed,classes", [(0, None), (1, None), (2, [1, 3, 4]), (3, [2])])
def test_matches_loop_reference(name, params, fn, seed, classes):
    loss = new_loss(name, num_classes=5, seed=seed, **params)
    x, y = batch(seed, size=9, classes=classes)
    ours = run(loss, x, y)
    theirs = run(loss, x, y, fn=lambda x, y: fn(loss, x, y))
    assert set(ours[0]) == set(theirs[0])
    for key in ours[0]:
        torch.testing.assert_close(ours[0][key], theirs[0][key], atol=1e-9, rtol=1e-9)
    assert_same(ours, theirs, atol=1e-9, rtol=1e-9)


# -- 3. gradcheck -------------------------------------------------------------------------------
@pytest.mark.parametrize("name,params", [(n, p) for n, p, _ in REFERENCE_CASES],
                         ids=[f"{n}-{p}" for n, p, _ in REFERENCE_CASES])
def test_gradcheck(name, params):
    loss = new_loss(name, num_classes=3, dim=4, seed=5, **params)
    x, y = batch(5, size=7, num_classes=3, dim=4)
    if loss.proxies is None:
        assert torch.autograd.gradcheck(lambda e: loss(e, y).loss, (x.requires_grad_(),))
        return
    proxies = loss.proxies.detach().clone().requires_grad_()

    def value(e, w):
        return functional_call(loss, {"proxies": w}, (e, y)).loss

    assert torch.autograd.gradcheck(value, (x.requires_grad_(), proxies))


# -- 4. MPA with one proxy per class is Proxy Anchor ---------------------------------------------
@pytest.mark.parametrize("aggregator", AGGREGATORS)
@pytest.mark.parametrize("name", ["mpa", "mpa_pw"])
@pytest.mark.parametrize("seed", SEEDS)
def test_mpa_with_one_proxy_is_proxy_anchor_exactly(name, aggregator, seed):
    anchor = new_loss("proxy_anchor", seed=seed, dtype=torch.float32)
    mpa = new_loss(name, seed=seed, dtype=torch.float32, proxies_per_class=1, aggregator=aggregator)
    mpa.load_state_dict(anchor.state_dict())
    x, y = batch(seed, dtype=torch.float32, classes=[0, 1, 3])
    (p1, gx1, gw1), (p2, gx2, gw2) = run(mpa, x, y), run(anchor, x, y)
    assert torch.equal(p1["pos"], p2["pos"]) and torch.equal(p1["neg"], p2["neg"])
    assert torch.equal(gx1, gx2) and torch.equal(gw1, gw2)


# -- 5. the closed-form Proxy Anchor gradient -------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_proxy_anchor_closed_form_similarity_gradient(seed):
    gen = torch.Generator().manual_seed(seed)
    B, A, alpha, delta = 10, 6, 32.0, 0.1
    sims = (torch.rand(B, A, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    labels = torch.randint(0, A - 1, (B,), generator=gen)  # anchor A−1 has no positive
    positive = torch.nn.functional.one_hot(labels, A).bool()
    pos, neg = proxy_anchor_terms(sims, positive, alpha, delta)
    (pos + neg).backward()

    s = sims.detach()
    h_pos = torch.exp(-alpha * (s - delta)) * positive  # (B, A)
    h_neg = torch.exp(alpha * (s + delta)) * ~positive  # (B, A)
    num_present = int(positive.any(dim=0).sum())
    expected = (-(alpha / num_present) * h_pos / (1 + h_pos.sum(0))
                + (alpha / A) * h_neg / (1 + h_neg.sum(0)))
    torch.testing.assert_close(sims.grad, expected, atol=1e-12, rtol=1e-10)
    # The bounded, shared gradient mass per proxy (class-wise behaviour).
    assert (sims.grad * positive).abs().sum(0).max() < alpha / num_present
    assert (sims.grad * ~positive).abs().sum(0).max() < alpha / A


# -- 7. edge cases ------------------------------------------------------------------------------
EDGE_BATCHES = {
    "one-class": lambda: batch(0, size=8, classes=[3]),
    "single-sample": lambda: batch(1, size=1),
    "two-samples-two-classes": lambda: (torch.randn(2, 6, dtype=torch.float64), torch.tensor([0, 4])),
}


@pytest.mark.parametrize("edge", sorted(EDGE_BATCHES))
@pytest.mark.parametrize("name", list_losses())
def test_edge_batches_give_finite_values_and_gradients(name, edge):
    loss = new_loss(name)
    x, y = EDGE_BATCHES[edge]()
    parts, gx, gw = run(loss, x, y)
    assert all(torch.isfinite(v) for v in parts.values())
    assert torch.isfinite(gx).all()
    assert gw is None or torch.isfinite(gw).all()


def test_empty_terms_are_zero():
    x, y = batch(0, size=1)
    assert run(new_loss("triplet"), x, y)[0] == {"pos": 0.0, "neg": 0.0}
    one_class = new_loss("proxy_nca", num_classes=1, exclude_positive=True)
    assert run(one_class, *batch(0, num_classes=1))[0]["neg"] == 0.0  # no other class to normalise over
    anchor = new_loss("mpa_dw", num_classes=1)
    assert run(anchor, *batch(0, num_classes=1))[0]["neg"] == 0.0


@pytest.mark.parametrize("helper,reference", [
    (masked_logsumexp, lambda z: torch.logsumexp(z, 0)),
    (log1p_sum_exp, lambda z: torch.nn.functional.softplus(torch.logsumexp(z, 0))),
])
def test_masked_logsumexp_helpers(helper, reference):
    z = torch.tensor([[3.0, -1.0, 1e4], [0.5, 2.0, -1e4], [-2.0, 7.0, 3.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, False], [True, True, False], [False, True, False]])
    value = helper(z, mask, dim=0)  # column 0: rows 0-1; column 1: rows 1-2; column 2: empty
    torch.testing.assert_close(value[0], reference(z[:2, 0]))
    torch.testing.assert_close(value[1], reference(z[1:, 1]))
    assert value[2] == 0.0  # the empty set
    value.sum().backward()
    assert torch.isfinite(z.grad).all() and (z.grad[~mask] == 0).all()
    big = torch.tensor([[1e4], [2e4]], dtype=torch.float64)
    torch.testing.assert_close(helper(big, torch.ones_like(big, dtype=torch.bool), dim=0),
                               torch.tensor([2e4 + math.log1p(math.exp(-1e4))], dtype=torch.float64))


SCALE_PARAMS = {"proxy_anchor": "alpha", "mpa": "alpha", "mpa_dw": "alpha", "mpa_pw": "alpha",
                "proxy_nca": "scale", "soft_triple": "scale"}


HUGE_SCALE_CASES = [(name, {param: 1e4}) for name, param in SCALE_PARAMS.items() if not name.startswith("mpa")] + [
    (name, {"alpha": 1e4, "aggregator": a}) for name in ("mpa", "mpa_dw", "mpa_pw") for a in AGGREGATORS]


@pytest.mark.parametrize("name,params", HUGE_SCALE_CASES)
def test_huge_scale_stays_finite(name, params):
    loss = new_loss(name, dtype=torch.float32, **params)
    x, y = batch(0, dtype=torch.float32)
    parts, gx, gw = run(loss, x, y)
    assert all(torch.isfinite(v) for v in parts.values())
    assert torch.isfinite(gx).all() and torch.isfinite(gw).all()
    assert parts["pos"] + parts["neg"] > 100  # large, not silently clipped to 0


BAD_PARAMS = [
    ("mpa", dict(proxies_per_class=0), r"proxies_per_class must be an int >= 1, got 0"),
    ("proxy_anchor", dict(alpha=0.0), r"alpha must be a float > 0, got 0.0"),
    ("proxy_anchor", dict(alpha=-1), r"alpha must be a float > 0, got -1"),
    ("mpa_dw", dict(alpha=float("nan")), r"alpha must be a float > 0, got nan"),
    ("proxy_anchor", dict(margin=1.5), r"margin must be a float >= 0 and <= 1, got 1.5"),
    ("mpa", dict(aggregator="median"), r"aggregator must be one of 'softmax', 'max', 'lse', 'mean', got 'median'"),
    ("mpa_pw", dict(gamma=0), r"gamma must be a float > 0, got 0"),
    ("soft_triple", dict(tau=-0.1), r"tau must be a float >= 0, got -0.1"),
    ("proxy_nca", dict(exclude_positive=1), r"exclude_positive must be a bool, got 1"),
    ("proxy_nca_pp", dict(temperature=float("inf")), r"temperature must be a float > 0, got inf"),
    ("triplet", dict(mining="hardest"), r"mining must be one of 'batch_hard', 'semi_hard', got 'hardest'"),
    ("triplet", dict(so_weight=0.1), r"so_weight must be 0 for TripletLoss"),
    ("proxy_anchor", dict(alpah=32.0), r"ProxyAnchorLoss got an unknown parameter 'alpah'; valid parameters: .*alpha"),
    ("proxy_nca", dict(alpha=32.0), r"ProxyNCALoss got an unknown parameter 'alpha'"),
]


@pytest.mark.parametrize("name,params,message", BAD_PARAMS)
def test_bad_parameters_raise_one_line_value_error(name, params, message):
    with pytest.raises(ValueError, match=message) as info:
        make_loss(name, 5, 6, **params)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["proxy_anchor", "mpa"])
def test_direct_construction_validates_too(name):
    cls = type(make_loss(name, 2, 2))
    with pytest.raises(ValueError, match=r"alpha must be a float > 0, got -3"):
        cls(2, 2, alpha=-3)


def test_unknown_loss_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'proxy_ancor'; valid: mpa, .*proxy_anchor"):
        make_loss("proxy_ancor", 5, 6)


BAD_BATCHES = [
    (lambda: (torch.randn(4, 6), torch.tensor([0, 1, 5, 2])), r"labels must lie in \[0, 4\], got range \[0, 5\]"),
    (lambda: (torch.randn(4, 6), torch.tensor([0, -1, 2, 2])), r"labels must lie in \[0, 4\], got range \[-1, 2\]"),
    (lambda: (torch.randn(4, 7), torch.tensor([0, 1, 2, 2])), r"embeddings must have shape \(B, 6\), got \(4, 7\)"),
    (lambda: (torch.randn(4), torch.tensor([0, 1, 2, 2])), r"embeddings must have shape \(B, 6\), got \(4,\)"),
    (lambda: (torch.randn(4, 6), torch.tensor([0, 1, 2])), r"labels must have shape \(4,\), got \(3,\)"),
    (lambda: (torch.randn(4, 6), torch.zeros(4, 1, dtype=torch.long)), r"labels must have shape \(4,\), got \(4, 1\)"),
    (lambda: (torch.randn(4, 6), torch.tensor([0.0, 1, 2, 2])), r"labels must be integers, got dtype torch.float32"),
    (lambda: (torch.randn(0, 6), torch.zeros(0, dtype=torch.long)), r"the batch must hold at least one sample, got 0"),
    (lambda: (torch.ones(4, 6, dtype=torch.long), torch.tensor([0, 1, 2, 2])),
     r"embeddings must be floating point, got dtype torch.int64"),
]


@pytest.mark.parametrize("make_batch,message", BAD_BATCHES)
@pytest.mark.parametrize("name", ["proxy_anchor", "mpa_pw"])
def test_bad_batches_raise_one_line_value_error(name, make_batch, message):
    with pytest.raises(ValueError, match=message):
        make_loss(name, 5, 6)(*make_batch())


# -- training in a plain PyTorch loop ---------------------------------------------------------
def test_mpa_trains_a_linear_embedder_on_separable_data():
    torch.manual_seed(0)
    C, K, d, features = 10, 4, 64, 32
    means = 4.0 * torch.randn(C, features)
    y = torch.arange(C).repeat_interleave(40)  # 400 samples
    x = means[y] + torch.randn(len(y), features)
    model = torch.nn.Linear(features, d)
    loss_fn = make_loss("mpa", num_classes=C, embedding_dim=d, proxies_per_class=K)
    optimizer = torch.optim.AdamW([
        {"params": model.parameters(), "lr": 1e-3},
        {"params": loss_fn.parameters(), "lr": 1e-3 * loss_fn.default_proxy_lr_multiplier},
    ], weight_decay=1e-4)
    history = []
    for step in range(100):
        idx = torch.randint(0, len(y), (64,))
        value = loss_fn(model(x[idx]), y[idx]).loss
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        history.append(value.item())
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert math.isfinite(last) and last < 0.25 * first, (first, last)
    with torch.no_grad():  # the learnt proxies classify the data by nearest class similarity
        predicted = loss_fn.class_similarities(model(x)).argmax(dim=1)
    assert (predicted == y).float().mean() > 0.95


# -- the softmax aggregator's one-node autograd Function ------------------------------------------

@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0])
def test_softmax_aggregate_equals_the_autograd_chain(gamma):
    from proxylab.losses.aggregate import aggregate

    sims = (torch.rand(7, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1)
    sims.requires_grad_(True)
    upstream = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ours = aggregate(sims, "softmax", gamma)
    (grad_ours,) = torch.autograd.grad(ours, sims, upstream)
    chain = (torch.softmax(sims / gamma, dim=-1) * sims).sum(dim=-1)
    (grad_chain,) = torch.autograd.grad(chain, sims, upstream)
    torch.testing.assert_close(ours, chain, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_chain, rtol=0, atol=1e-10)


def test_softmax_aggregate_gradcheck():
    from proxylab.losses.aggregate import aggregate

    sims = (torch.rand(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 2 - 1)
    assert torch.autograd.gradcheck(lambda s: aggregate(s, "softmax", 0.2), (sims.requires_grad_(True),))


def test_mpa_dw_positive_term_is_exact_where_softplus_turns_linear():
    # -α(s - δ) = 32 (0.1 - s) ≈ 22 for every sample: F.softplus returns its input there and drops ~e^-20
    loss = new_loss("mpa_dw", num_classes=2, dim=3, alpha=32.0, margin=0.1, proxies_per_class=1)
    with torch.no_grad():
        loss.proxies.copy_(torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]], dtype=torch.float64))
    x = torch.tensor([[-0.6, 0.8, 0.0], [-0.65, 0.0, 0.76], [0.8, -0.6, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    own = (torch.nn.functional.normalize(x, dim=1) * loss.proxies[y, 0]).sum(1).detach()  # (B,) cos to own proxy
    z = -32.0 * (own - 0.1)
    assert ((z > 20) & (z < 30)).all()  # above 30, e^-z is below float64's resolution anyway
    expected = (z + torch.log1p(torch.exp(-z))).mean()  # softplus(z), exactly
    torch.testing.assert_close(run(loss, x, y)[0]["pos"], expected, rtol=1e-15, atol=0.0)
