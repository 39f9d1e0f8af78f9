"""Soft orthogonality of proxies: value, gradient, scope, and the Welch floor."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.losses import soft_orthogonality, welch_floor


pytestmark = pytest.mark.usefixtures("one_thread")


def random_proxies(C, K, d, seed=0):
    return torch.randn(C, K, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def brute_force(proxies, scope):
    """Σ over ordered pairs in scope of the squared cosine, and the number of such pairs."""
    C, K, _ = proxies.shape
    rows = [(c, proxies[c, k] / proxies[c, k].norm()) for c in range(C) for k in range(K)]
    total, pairs = 0.0, 0
    for i, (ci, pi) in enumerate(rows):
        for j, (cj, pj) in enumerate(rows):
            if i != j and (scope == "all" or ci != cj):
                total += float(pi @ pj) ** 2
                pairs += 1
    return total, pairs


@pytest.mark.parametrize("scope", ["all", "between_classes"])
@pytest.mark.parametrize("shape", [(4, 1, 6), (3, 3, 5), (2, 4, 16), (1, 3, 2)])
def test_value_matches_brute_force(shape, scope):
    proxies = random_proxies(*shape)
    value = soft_orthogonality(proxies, scope)
    total, pairs = brute_force(proxies, scope)
    assert value.total.item() == pytest.approx(total, rel=1e-12, abs=1e-12)
    assert value.mean_sq_cos.item() == pytest.approx(total / pairs if pairs else 0.0, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("scope", ["all", "between_classes"])
@pytest.mark.parametrize("shape", [(50, 4, 8), (200, 1, 16), (10, 8, 64)])
def test_float32_value_and_gradient_match_the_float64_gram(shape, scope):
    # n > d takes the (d, d) identity, n ≤ d the masked Gram; both must hold up in float32 (training dtype)
    proxies = random_proxies(*shape, seed=7)
    reference = proxies.clone().requires_grad_()
    C, K, d = shape
    unit = torch.nn.functional.normalize(reference.reshape(C * K, d), dim=1)
    cls = torch.arange(C).repeat_interleave(K)
    in_scope = ~torch.eye(C * K, dtype=torch.bool)
    if scope == "between_classes":
        in_scope &= cls[:, None] != cls[None, :]
    expected = (unit @ unit.T).pow(2)[in_scope].sum()
    expected.backward()
    ours = proxies.float().requires_grad_()
    value = soft_orthogonality(ours, scope)
    value.total.backward()
    assert value.total.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(ours.grad.double(), reference.grad, rtol=1e-4, atol=1e-5)


def test_between_classes_ignores_same_class_pairs():
    proxies = random_proxies(3, 2, 4)
    proxies[1, 1] = 5 * proxies[1, 0]  # identical directions inside a class
    everything = soft_orthogonality(proxies, "all").total
    same_class = 2 * sum(float(torch.cosine_similarity(proxies[c, 0], proxies[c, 1], dim=0)) ** 2 for c in range(3))
    assert everything - soft_orthogonality(proxies, "between_classes").total == pytest.approx(same_class)


@pytest.mark.parametrize("scope", ["all", "between_classes"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_closed_form(scope, seed):
    # ∂R/∂p̂_i = 4 Σ_{j≠i, in scope} (p̂_iᵀp̂_j) p̂_j; through p̂ = p/‖p‖ it is projected on the tangent
    # space and divided by ‖p‖.
    C, K, d = 3, 2, 5
    raw = random_proxies(C, K, d, seed).requires_grad_()
    soft_orthogonality(raw, scope).total.backward()
    p = raw.detach().reshape(C * K, d)
    norms = p.norm(dim=1, keepdim=True)
    unit = p / norms
    cls = torch.arange(C).repeat_interleave(K)
    in_scope = ~torch.eye(C * K, dtype=torch.bool)
    if scope == "between_classes":
        in_scope &= cls[:, None] != cls[None, :]
    grad_unit = 4 * ((unit @ unit.T) * in_scope) @ unit  # (n, d): the closed form in p̂
    tangent = grad_unit - (grad_unit * unit).sum(1, keepdim=True) * unit
    torch.testing.assert_close(raw.grad.reshape(C * K, d), tangent / norms, atol=1e-12, rtol=1e-10)


def test_welch_floor_formula():
    assert welch_floor(1, 3) == 0.0
    assert welch_floor(4, 4) == 0.0
    assert welch_floor(5, 4) == pytest.approx((5 / 4 - 1) / 4)
    assert welch_floor(100, 2) == pytest.approx((50 - 1) / 99)


@pytest.mark.parametrize("n,d", [(1, 3), (3, 3), (4, 9), (8, 8)])
def test_orthonormal_rows_reach_zero(n, d):
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
    proxies = q[:n].reshape(n, 1, d) * torch.rand(n, 1, 1, dtype=torch.float64).add(0.5)  # any norms
    assert soft_orthogonality(proxies).total.item() == pytest.approx(0.0, abs=1e-24)


def simplex(d):
    """d + 1 unit vectors in R^d with pairwise cosine −1/d (centred standard basis of R^{d+1})."""
    e = torch.eye(d + 1, dtype=torch.float64) - 1.0 / (d + 1)
    basis, _ = torch.linalg.qr(e[:, :d])  # orthonormal basis of the sum-zero hyperplane
    return torch.nn.functional.normalize(e @ basis, dim=1)


def harmonic_frame(n, d):
    """n unit vectors in R^d (d even) forming an equal-norm tight frame (real harmonic frame)."""
    j = torch.arange(n, dtype=torch.float64)[:, None]
    m = torch.arange(1, d // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * j * m / n
    return torch.cat([angle.cos(), angle.sin()], dim=1) * math.sqrt(2 / d)


@pytest.mark.parametrize("d", [2, 3, 7])
def test_regular_simplex_reaches_the_welch_floor(d):
    vectors = simplex(d)
    assert torch.allclose(vectors @ vectors.T, torch.full((d + 1, d + 1), -1 / d, dtype=torch.float64)
                          + (1 + 1 / d) * torch.eye(d + 1, dtype=torch.float64))
    value = soft_orthogonality(vectors.reshape(d + 1, 1, d)).mean_sq_cos.item()
    assert value == pytest.approx(welch_floor(d + 1, d), rel=1e-12)


@pytest.mark.parametrize("n,d", [(5, 2), (7, 4), (12, 6), (9, 4)])
def test_tight_frame_reaches_the_welch_floor(n, d):
    frame = harmonic_frame(n, d)
    torch.testing.assert_close(frame.T @ frame, n / d * torch.eye(d, dtype=torch.float64))  # tight
    value = soft_orthogonality(frame.reshape(n, 1, d)).mean_sq_cos.item()
    assert value == pytest.approx(welch_floor(n, d), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 24), d=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), spread=st.floats(0.01, 10))
def test_random_vectors_never_beat_the_welch_floor(n, d, seed, spread):
    vectors = spread * torch.randn(n, 1, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert soft_orthogonality(vectors).mean_sq_cos.item() >= welch_floor(n, d) - 1e-12


def test_bad_input():
    with pytest.raises(ValueError, match=r"proxies must have shape \(C, K, d\), got \(4, 3\)"):
        soft_orthogonality(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"scope must be one of 'all', 'between_classes', got 'within'"):
        soft_orthogonality(torch.randn(2, 2, 3), "within")


@pytest.mark.parametrize("collapse", [0.02, 0.1])
def test_float32_between_classes_holds_when_each_class_sits_in_its_own_subspace(collapse):
    """The (d, d) path (C·K > d) takes R_SO(between) = R_SO(all) − the same-class blocks: with each class's
    sub-proxies close together (same-class cosines ~1) in a subspace of its own (between-class cosines ~0), two
    sums of ~C·K² are subtracted to leave a small one. float32 accumulation lost ~1e-3 of it; float64 keeps it."""
    C, K, d = 16, 8, 64
    generator = torch.Generator().manual_seed(3)
    own_axis = torch.zeros(C, 1, d, dtype=torch.float64)
    own_axis[torch.arange(C), 0, 4 * torch.arange(C)] = 1.0  # class c along axis 4c
    proxies = (own_axis + collapse * torch.randn(C, K, d, generator=generator, dtype=torch.float64)).float()
    total, pairs = brute_force(proxies.double(), "between_classes")  # the float32 inputs, summed in float64
    ours = proxies.clone().requires_grad_()
    value = soft_orthogonality(ours, "between_classes")
    assert value.total.dtype == torch.float32
    assert value.total.item() == pytest.approx(total, rel=1e-6)
    assert value.mean_sq_cos.item() == pytest.approx(total / pairs, rel=1e-6)
    value.total.backward()
    reference = proxies.double().requires_grad_()
    unit = torch.nn.functional.normalize(reference.reshape(C * K, d), dim=1)
    cls = torch.arange(C).repeat_interleave(K)
    (unit @ unit.T).pow(2)[cls[:, None] != cls[None, :]].sum().backward()
    torch.testing.assert_close(ours.grad.double(), reference.grad, rtol=1e-4, atol=1e-6)
