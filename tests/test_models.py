"""Embedders: shapes for every model and d, normalisation, seeding, parameter groups, errors, local weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import VisionTransformer, resnet18

from proxylab.models import Embedder, list_models, make_model

# name -> (input shape, small params) ; a model missing here fails test_every_model_is_covered.
CASES = {
    "identity": ((4,), {}),  # its d is its input size: the tests give it input (d,)
    "linear": ((16,), {}),
    "mlp": ((2, 4, 4), dict(hidden_sizes=(16, 8), activation="gelu", batch_norm=True)),
    "cnn": ((1, 8, 8), dict(channels=(4, 8))),
    "resnet18": ((3, 16, 16), {}),
    "vit": ((1, 8, 8), dict(patch_size=4, hidden_dim=16, depth=1, num_heads=2)),
}


def test_every_model_is_covered():
    assert sorted(CASES) == list_models()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("d", [2, 3, 64])
def test_shapes_and_normalisation(name, d):
    shape, params = _case(name, d)
    model = make_model(name, shape, d, seed=0, **params)
    assert isinstance(model, Embedder) and model.embedding_dim == d and model.input_shape == shape
    model.eval()
    x = torch.randn(3, *shape)
    z = model(x)
    assert z.shape == (3, d) and torch.isfinite(z).all()
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    raw = make_model(name, shape, d, normalize=False, seed=0, **params).eval()(x)
    assert torch.allclose(torch.nn.functional.normalize(raw, dim=1), z, atol=1e-5)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize("name", sorted(CASES))
def test_seeded_init_is_deterministic_and_leaves_global_rng_alone(name):
    shape, params = _case(name, 3)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = make_model(name, shape, 3, seed=7, **params)
    assert torch.equal(torch.rand(1), before)  # the global generator did not move
    b = make_model(name, shape, 3, seed=7, **params)
    c = make_model(name, shape, 3, seed=8, **params)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa) or not sa  # (identity has no weights to seed)


@pytest.mark.parametrize("name", sorted(CASES))
def test_backbone_and_head_groups(name):
    shape, params = _case(name, 5)
    model = make_model(name, shape, 5, **params)
    groups = model.parameter_groups()
    if name == "identity":
        assert isinstance(model.head, nn.Identity) and groups == {"backbone": [], "head": []}
        return
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 5
    assert groups["head"] == list(model.head.parameters())
    ids = {id(p) for g in groups.values() for p in g}
    assert ids == {id(p) for p in model.parameters()} and len(ids) == sum(len(g) for g in groups.values())
    if name == "linear":
        assert groups["backbone"] == []  # flatten only: the whole model is the head
        assert model.head.in_features == 16
    else:
        assert groups["backbone"]


def _case(name, d):
    shape, params = CASES[name]
    return ((d,) if name == "identity" else shape), params


def test_identity_model_is_its_input_normalised_and_refuses_another_d():
    x = torch.randn(5, 2, 3)
    model = make_model("identity", (2, 3), 6)
    assert torch.equal(model(x), torch.nn.functional.normalize(x.reshape(5, 6), dim=1))
    with pytest.raises(ValueError, match="embedding_dim must equal the input size 6 for model 'identity'.*got 4"):
        make_model("identity", (2, 3), 4)


def test_linear_model_is_a_linear_map():
    model = make_model("linear", (4, 2), 3, normalize=False, bias=False, seed=0)
    x, y = torch.randn(5, 4, 2), torch.randn(5, 4, 2)
    assert torch.allclose(model(2 * x + y), 2 * model(x) + model(y), atol=1e-5)
    assert model.config == {"bias": False}


def test_cnn_handles_32px_rgb_and_resnet_stems():
    assert make_model("cnn", (3, 32, 32), 8, channels=(4, 4, 4, 4, 4))(torch.randn(2, 3, 32, 32)).shape == (2, 8)
    small = make_model("resnet18", (1, 8, 8), 4)
    assert small.backbone.conv1.kernel_size == (3, 3) and isinstance(small.backbone.maxpool, nn.Identity)
    large = make_model("resnet18", (1, 64, 64), 4)
    assert large.backbone.conv1.kernel_size == (7, 7) and large.backbone.conv1.in_channels == 1
    assert large(torch.randn(2, 1, 64, 64)).shape == (2, 4)


@pytest.mark.parametrize(
    "name, shape, params, message",
    [
        ("nope", (4,), {}, "unknown model 'nope'; valid: cnn, identity, linear, mlp, resnet18, vit"),
        ("linear", (4,), dict(depth=2), "model 'linear' got an unknown parameter 'depth'"),
        ("linear", (0, 3), {}, "input_shape must be a non-empty sequence of positive ints, got \\(0, 3\\)"),
        ("linear", "64", {}, "input_shape must be a sequence of ints, got '64'"),
        ("mlp", (4,), dict(hidden_sizes=()), "hidden_sizes must be a non-empty sequence of positive ints, got \\(\\)"),
        ("mlp", (4,), dict(activation="swish"), "activation must be one of 'relu', 'gelu', 'tanh', 'silu'"),
        ("cnn", (64,), {}, "input_shape must be \\(channels, height, width\\) for model 'cnn', got \\(64,\\)"),
        ("cnn", (1, 8, 8), dict(channels=(4, 4, 4, 4)), "channels must have at most 3 blocks for 8x8 images"),
        ("vit", (3, 10, 10), dict(patch_size=4), "vit needs square images whose side is divisible by patch_size=4"),
        ("vit", (3, 8, 8), dict(hidden_dim=10, num_heads=3), "hidden_dim must be divisible by num_heads=3, got 10"),
        ("resnet18", (3, 8, 8), dict(small_stem="yes"), "small_stem must be a bool or None, got 'yes'"),
    ],
)
def test_bad_parameters_one_line(name, shape, params, message):
    with pytest.raises(ValueError, match=message) as err:
        make_model(name, shape, 4, **params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("d", [0, 2.0, True])
def test_bad_embedding_dim(d):
    with pytest.raises(ValueError, match="embedding_dim must be an int >= 1"):
        make_model("linear", (4,), d)


def test_wrong_input_shape_at_forward():
    with pytest.raises(ValueError, match=r"linear input must have shape \(B, 4\), got \(2, 5\)"):
        make_model("linear", (4,), 2)(torch.randn(2, 5))


# -- local weights --------------------------------------------------------------------------------
def test_resnet_loads_torchvision_state_dict(tmp_path):
    reference = resnet18(weights=None)  # the large stem, as an ImageNet checkpoint would have
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)  # includes fc.* (ignored)
    model = make_model("resnet18", (3, 64, 64), 8, weights=path)
    assert torch.equal(model.backbone.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    assert model.config["weights"] == str(path)


def test_vit_loads_an_embedder_checkpoint(tmp_path):
    shape, params = CASES["vit"]
    source = make_model("vit", shape, 4, seed=1, **params)
    path = tmp_path / "run.pt"
    torch.save({"model": source.state_dict()}, path)  # a proxylab checkpoint: backbone.* and head.*
    loaded = make_model("vit", shape, 4, seed=2, weights=str(path), **params)
    assert isinstance(loaded.backbone, VisionTransformer)
    assert all(torch.equal(v, loaded.backbone.state_dict()[k]) for k, v in source.backbone.state_dict().items())


def test_weights_errors(tmp_path):
    with pytest.raises(ValueError, match="weights file not found: .*missing.pt"):
        make_model("resnet18", (3, 32, 32), 4, weights=tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pt: cannot load with weights_only=True") as err:
        make_model("resnet18", (3, 32, 32), 4, weights=corrupt)
    assert "\n" not in str(err.value)
    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": object.__new__(nn.Identity)}, pickled)
    with pytest.raises(ValueError, match="pickled.pt: cannot load with weights_only=True"):
        make_model("resnet18", (3, 32, 32), 4, weights=pickled)
    large_stem = tmp_path / "large.pth"
    torch.save(resnet18(weights=None).state_dict(), large_stem)
    with pytest.raises(ValueError, match=r"'conv1.weight' has shape \(64, 3, 7, 7\), the model expects \(64, 3, 3, 3\)"):
        make_model("resnet18", (3, 32, 32), 4, weights=large_stem)  # small stem by default at 32px
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(ValueError, match="do not fit this model: missing key"):
        make_model("resnet18", (3, 32, 32), 4, weights=partial)
    not_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_dict)
    with pytest.raises(ValueError, match="expected a state dict of tensors, got Tensor"):
        make_model("resnet18", (3, 32, 32), 4, weights=not_dict)
