"""Checks every registered loss must pass (scikit-learn ``test_common`` style): loops over
``list_losses()``, so a newly registered loss is checked without writing a test for it."""
from __future__ import annotations

import inspect

import pytest
import torch

from loss_references import REFERENCES
from proxylab.losses import list_losses, make_loss, soft_orthogonality
from proxylab.losses.base import PROXY_INITS, MetricLoss
from proxylab.losses.registry import LOSSES

C, D, B = 5, 8, 20
ALL_LOSSES = list_losses()


pytestmark = pytest.mark.usefixtures("one_thread")


def new_loss(name, seed=0, **params):
    torch.manual_seed(seed)
    return make_loss(name, C, D, **params)


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(C).repeat(B // C)[torch.randperm(B, generator=gen)]  # every class, 4 samples each
    return torch.randn(B, D, generator=gen), y


def test_every_registered_loss_has_a_loop_reference():
    missing = sorted(set(ALL_LOSSES) - set(REFERENCES))
    stale = sorted(set(REFERENCES) - set(ALL_LOSSES))
    assert not missing, f"registered losses without a reference in tests/loss_references.py: {missing}"
    assert not stale, f"references for unregistered losses: {stale}"


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_class_declarations(name):
    cls = LOSSES.get(name)
    assert issubclass(cls, MetricLoss)
    assert cls.default_proxy_init in PROXY_INITS
    assert isinstance(cls.default_proxy_lr_multiplier, float) and cls.default_proxy_lr_multiplier > 0
    # Every keyword of the constructor is declared in the constraints and its default satisfies them.
    signature = inspect.signature(cls.__init__)
    own = {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert set(own) == set(cls.parameter_constraints)
    cls.validate({"proxies_per_class": signature.parameters["proxies_per_class"].default, **own})
    assert cls.__doc__ and "References" in cls.__doc__


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_value_is_finite_and_parts_sum_to_it(name):
    loss = new_loss(name)
    out = loss(*batch())
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert {"pos", "neg"} <= set(out.parts) <= {"pos", "neg", "reg"}
    torch.testing.assert_close(sum(out.parts.values()), out.loss, atol=0, rtol=0)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_shapes(name):
    loss = new_loss(name)
    x, _ = batch()
    if not loss.uses_proxies:
        assert loss.proxies is None
        return
    K = loss.proxies_per_class
    assert isinstance(loss.proxies, torch.nn.Parameter) and loss.proxies.shape == (C, K, D)
    assert loss.similarities(x).shape == (B, C, K)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_gradients_reach_embeddings_and_proxies(name):
    loss = new_loss(name)
    x, y = batch()
    x.requires_grad_()
    loss(x, y).loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if loss.uses_proxies:
        assert torch.isfinite(loss.proxies.grad).all() and loss.proxies.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_parts_backpropagate_separately(name):
    # The trainer splits each proxy's gradient into pull (pos) and push (neg): the part gradients
    # must add up to the loss's.
    loss = new_loss(name)
    x, y = batch()
    x.requires_grad_()
    out = loss(x, y)
    inputs = [x] + ([loss.proxies] if loss.uses_proxies else [])
    total = torch.autograd.grad(out.loss, inputs, retain_graph=True)
    per_part = [torch.autograd.grad(part, inputs, retain_graph=True, allow_unused=True)
                for part in out.parts.values()]
    for i, expected in enumerate(total):
        summed = sum(g[i] if g[i] is not None else torch.zeros_like(expected) for g in per_part)
        torch.testing.assert_close(summed, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_invariant_to_batch_order(name):
    loss = new_loss(name)
    x, y = batch()
    x.requires_grad_()
    out = loss(x, y)
    grad = torch.autograd.grad(out.loss, x)[0]
    order = torch.randperm(B, generator=torch.Generator().manual_seed(7))
    shuffled = x.detach()[order].requires_grad_()
    out_shuffled = loss(shuffled, y[order])
    torch.testing.assert_close(out_shuffled.loss, out.loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.autograd.grad(out_shuffled.loss, shuffled)[0], grad[order], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("scope", ["all", "between_classes"])
@pytest.mark.parametrize("name", ALL_LOSSES)
def test_soft_orthogonality_composes(name, scope):
    if not LOSSES.get(name).uses_proxies:
        with pytest.raises(ValueError, match=r"so_weight must be 0 for \w+, which has no proxies, got 0.5"):
            new_loss(name, so_weight=0.5, so_scope=scope)
        return
    x, y = batch()
    plain, with_so = new_loss(name), new_loss(name, so_weight=0.5, so_scope=scope)
    assert torch.equal(plain.proxies, with_so.proxies)
    out_plain, out_so = plain(x, y), with_so(x, y)
    assert set(out_so.parts) == set(out_plain.parts) | {"so"}
    expected_so = 0.5 * soft_orthogonality(with_so.proxies, scope).total
    torch.testing.assert_close(out_so.parts["so"], expected_so)
    torch.testing.assert_close(out_so.loss, out_plain.loss + expected_so)
    out_plain.loss.backward()
    out_so.loss.backward()
    assert not torch.allclose(plain.proxies.grad, with_so.proxies.grad)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_state_dict_round_trip(name):
    source, target = new_loss(name, seed=0, so_weight=0.0), new_loss(name, seed=1)
    target.load_state_dict(source.state_dict())
    x, y = batch()
    assert torch.equal(source(x, y).loss, target(x, y).loss)
    expected_keys = {"proxies"} if source.uses_proxies else set()
    assert set(source.state_dict()) == expected_keys


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_float64_keeps_its_dtype(name):
    loss = new_loss(name).double()
    x, y = batch()
    out = loss(x.double(), y)
    assert out.loss.dtype == torch.float64
    assert all(part.dtype == torch.float64 for part in out.parts.values())


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
@pytest.mark.parametrize("name", ALL_LOSSES)
def test_any_integer_label_dtype(name, dtype):
    loss = new_loss(name)
    x, y = batch()
    torch.testing.assert_close(loss(x, y.to(dtype)).loss, loss(x, y).loss, atol=0, rtol=0)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_repr_names_the_parameters(name):
    text = repr(new_loss(name))
    for param in LOSSES.get(name).parameter_constraints:
        assert f"{param}=" in text
