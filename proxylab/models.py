"""Embedders, created by name: ``make_model(name, input_shape, embedding_dim, normalize=True, **params)``.

Every model is an :class:`Embedder`: ``backbone`` (input -> features) + ``head`` (a linear layer to
the embedding dimension d; none for ``identity``) + optional L2 normalisation, so that the trainer can give backbone and
head their own parameter groups (:meth:`Embedder.parameter_groups`). Weights are random unless
``weights`` names a local file (loaded with ``torch.load(weights_only=True)``; nothing is downloaded).

=========  ==================================================================  ==============
name       backbone                                                            input
=========  ==================================================================  ==============
identity   flatten, no head, no parameters: the input is the embedding (d = its size)  any shape
linear     flatten (no parameters): the whole model is one linear map          any shape
mlp        flatten + [Linear, (BatchNorm), activation] per hidden size          any shape
cnn        [Conv3x3, BatchNorm, ReLU, MaxPool2] per channel count + avg pool   (C, H, W)
resnet18   torchvision ResNet-18 without its classifier; small-image stem      (C, H, W)
vit        torchvision VisionTransformer (DeiT-style small) without its head   (C, S, S)
=========  ==================================================================  ==============

A linear embedder cannot merge a class's modes whose centres sum to zero (the ``synthetic``
dataset's default). ``identity`` trains proxies on fixed features (precomputed ones, or the coverage lesson's
sphere, where only the proxies should move).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .params import BOOL, InstanceOf, Interval, Options, Registry, check_param, validate_params

MODELS = Registry("model")
register_model = MODELS.register
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}
PATH = InstanceOf(str, os.PathLike, label="path")


class Embedder(nn.Module):
    """``forward(x)``: (B, *input_shape) -> (B, embedding_dim), L2-normalised when ``normalize``.

    Attributes
    ----------
    backbone : nn.Module
        Input -> features (B, feature_dim); an ``nn.Flatten`` without parameters for ``linear``.
    head : nn.Linear or nn.Identity
        Features -> embedding, (feature_dim -> embedding_dim); ``nn.Identity`` for a model without a head.
    name, input_shape, embedding_dim, feature_dim, normalize, config
        What the model is; ``config`` holds the parameters it was made with (JSON-able).
    """

    def __init__(self, name: str, backbone: nn.Module, feature_dim: int, input_shape: tuple[int, ...],
                 embedding_dim: int, normalize: bool, config: dict[str, Any], head_bias: bool = True,
                 has_head: bool = True):
        super().__init__()
        self.name = name
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, embedding_dim, bias=head_bias) if has_head else nn.Identity()
        self.input_shape = input_shape
        self.embedding_dim = embedding_dim
        self.feature_dim = feature_dim
        self.normalize = normalize
        self.config = config

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.name} input must have shape (B, {', '.join(map(str, self.input_shape))}), "
                             f"got {tuple(x.shape)}")
        z = self.head(self.backbone(x))  # (B, d)
        return F.normalize(z, dim=-1) if self.normalize else z

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"backbone": [...], "head": [...]}`` (the backbone's list is empty for ``linear``)."""
        return {"backbone": list(self.backbone.parameters()), "head": list(self.head.parameters())}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_shape={self.input_shape}, d={self.embedding_dim}, normalize={self.normalize}"


class ModelBuilder:
    """Base of the registered builders: ``build(input_shape, **params) -> (backbone, feature_dim)``."""

    parameter_constraints: ClassVar[dict[str, list]] = {}
    needs_image: ClassVar[bool] = False
    #: False: the features are the embedding (no head; embedding_dim must equal feature_dim)
    has_head: ClassVar[bool] = True

    @classmethod
    def build(cls, input_shape: tuple[int, ...], **params: Any) -> tuple[nn.Module, int]:
        raise NotImplementedError


def make_model(
    name: str,
    input_shape: Sequence[int],
    embedding_dim: int,
    normalize: bool = True,
    seed: int | None = None,
    **params: Any,
) -> Embedder:
    """Create a registered embedder.

    Parameters
    ----------
    name : str
        One of :func:`list_models`.
    input_shape : sequence of int
        Shape of one sample, e.g. ``(64,)`` or ``(1, 8, 8)`` (``LabeledDataset.input_shape``).
    embedding_dim : int
        d >= 1 (2 and 3 give the native sphere view).
    normalize : bool, default=True
        L2-normalise the output.
    seed : int, optional
        Initialise the weights under ``torch.manual_seed(seed)`` without touching the global RNG.
    **params
        The model's own parameters (see its builder's docstring).

    Raises
    ------
    ValueError
        Unknown name or parameter, a value outside its constraints, an input shape the model cannot
        take, or a missing/corrupt/mismatched weights file.

    Examples
    --------
    >>> model = make_model("mlp", (64,), 3, hidden_sizes=(128,))
    >>> model(torch.randn(5, 64)).shape
    torch.Size([5, 3])
    """
    builder = MODELS.get(name)
    check_param("input_shape", input_shape, [InstanceOf(tuple, list, torch.Size, label="sequence of ints")])
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be a non-empty sequence of positive ints, got {input_shape!r}")
    if builder.needs_image and len(shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width) for model {name!r}, got {shape}")
    check_param("embedding_dim", embedding_dim, [Interval(int, 1, None)])
    check_param("normalize", normalize, [BOOL])
    check_param("seed", seed, [Interval(int, 0, None), None])
    validate_params(f"model {name!r}", builder.parameter_constraints, params)
    config = {k: str(v) if isinstance(v, os.PathLike) else v for k, v in params.items()}
    head_bias = params.pop("bias", True)  # the only parameter that belongs to the head
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        backbone, feature_dim = builder.build(shape, **params)
        if not builder.has_head and embedding_dim != feature_dim:
            raise ValueError(f"embedding_dim must equal the input size {feature_dim} for model {name!r} (its input "
                             f"is the embedding), got {embedding_dim}")
        return Embedder(name, backbone, feature_dim, shape, embedding_dim, normalize, config, head_bias=head_bias,
                        has_head=builder.has_head)


def list_models() -> list[str]:
    """Names accepted by :func:`make_model`."""
    return MODELS.names()


def _check_sizes(name: str, sizes: Any) -> tuple[int, ...]:
    if not isinstance(sizes, (tuple, list)) or not sizes or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {sizes!r}")
    return tuple(sizes)


def load_weights(module: nn.Module, path: str | os.PathLike, drop_prefixes: tuple[str, ...]) -> None:
    """Load a local state dict into ``module`` (strict), with one-line errors.

    Accepts the torchvision model's own state dict (classifier keys ``drop_prefixes`` ignored), a
    dict wrapping it under ``"state_dict"`` or ``"model"``, or a whole proxylab :class:`Embedder`'s
    state dict (its ``backbone.*`` entries are used).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, pickled objects refused by weights_only
        raise ValueError(f"weights {path}: cannot load with weights_only=True ({type(exc).__name__}: {exc})"
                         .replace("\n", " ")[:400]) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"weights {path}: expected a state dict of tensors, got {type(state).__name__}")
    if any(k.startswith("backbone.") for k in state):
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith(drop_prefixes)}
    problem = state_dict_mismatch(module, state)
    if problem:
        raise ValueError(f"weights {path} do not fit this model: {problem}")
    module.load_state_dict(state)


def state_dict_mismatch(module: nn.Module, state: dict[str, Tensor]) -> str | None:
    """Why ``state`` cannot be loaded strictly into ``module`` (the first problem and the counts), or None."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not (missing or unexpected or mismatched):
        return None
    first = (f"missing key {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}" if unexpected
             else f"{mismatched[0]!r} has shape {tuple(state[mismatched[0]].shape)}, "
                  f"the model expects {tuple(own[mismatched[0]].shape)}")
    return f"{first} ({len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched)"


@register_model("identity")
class IdentityBuilder(ModelBuilder):
    """Flatten, nothing else: the input is the embedding and only the proxies learn. For features computed
    elsewhere, and for the coverage lesson, where the data's modes must stay where they are."""

    has_head = False

    @classmethod
    def build(cls, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        return nn.Flatten(), math.prod(input_shape)


@register_model("linear")
class LinearBuilder(ModelBuilder):
    """Flatten + the head: one linear map (plus bias when ``bias``), then optional normalisation.

    Parameters
    ----------
    bias : bool, default=True
        Whether the head has a bias.
    """

    parameter_constraints = {"bias": [BOOL]}

    @classmethod
    def build(cls, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        return nn.Flatten(), math.prod(input_shape)


@register_model("mlp")
class MlpBuilder(ModelBuilder):
    """Flatten + hidden layers ``Linear -> (BatchNorm1d) -> activation``.

    Parameters
    ----------
    hidden_sizes : sequence of int, default=(256,)
    activation : {"relu", "gelu", "tanh", "silu"}, default="relu"
    batch_norm : bool, default=False
    """

    parameter_constraints = {
        "hidden_sizes": [InstanceOf(tuple, list, label="sequence of ints")],
        "activation": [Options(ACTIVATIONS)],
        "batch_norm": [BOOL],
    }

    @classmethod
    def build(cls, input_shape: tuple[int, ...], hidden_sizes: Sequence[int] = (256,), activation: str = "relu",
              batch_norm: bool = False) -> tuple[nn.Module, int]:
        sizes = _check_sizes("hidden_sizes", hidden_sizes)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in sizes:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(ACTIVATIONS[activation]())
            width = size
        return nn.Sequential(*layers), width


@register_model("cnn")
class CnnBuilder(ModelBuilder):
    """Small conv net for small images (8x8 digits, 32x32): one block per entry of ``channels``,
    ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool2``, then global average pooling.

    Parameters
    ----------
    channels : sequence of int, default=(32, 64)
        Output channels of each block; the image side must be >= 2 ** len(channels).
    """

    parameter_constraints = {"channels": [InstanceOf(tuple, list, label="sequence of ints")]}
    needs_image = True

    @classmethod
    def build(cls, input_shape: tuple[int, ...], channels: Sequence[int] = (32, 64)) -> tuple[nn.Module, int]:
        widths = _check_sizes("channels", channels)
        in_channels, height, width = input_shape
        if min(height, width) < 2 ** len(widths):
            raise ValueError(f"channels must have at most {int(math.log2(min(height, width)))} blocks for "
                             f"{height}x{width} images (each halves the side), got {len(widths)}")
        layers: list[nn.Module] = []
        for out_channels in widths:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            in_channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (B, channels[-1])
        return nn.Sequential(*layers), widths[-1]


@register_model("resnet18")
class ResNet18Builder(ModelBuilder):
    """torchvision ResNet-18 (random init) without its classifier; 512 features.

    Parameters
    ----------
    small_stem : bool, optional
        Replace the 7x7/2 convolution + max-pool stem by one 3x3/1 convolution (the CIFAR variant),
        so small images keep their resolution. Default: True when the image side is < 64.
    weights : str or PathLike, optional
        Local torchvision-style ResNet-18 state dict (``fc.*`` ignored) or proxylab checkpoint.
    """

    parameter_constraints = {"small_stem": [BOOL, None], "weights": [PATH, None]}
    needs_image = True

    @classmethod
    def build(cls, input_shape: tuple[int, ...], small_stem: bool | None = None,
              weights: str | os.PathLike | None = None) -> tuple[nn.Module, int]:
        from torchvision.models import resnet18

        in_channels, height, width = input_shape
        small = min(height, width) < 64 if small_stem is None else small_stem
        net = resnet18(weights=None)
        if small:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's conv init
        net.fc = nn.Identity()
        if weights is not None:
            load_weights(net, weights, drop_prefixes=("fc.",))
        return net, 512


@register_model("vit")
class VitBuilder(ModelBuilder):
    """torchvision VisionTransformer, DeiT-style small, without its head; class-token features.

    Parameters
    ----------
    patch_size : int, default=4
        The square image side must be divisible by it.
    hidden_dim : int, default=192
        Width (DeiT-Tiny: 192, DeiT-Small: 384); divisible by ``num_heads``.
    depth : int, default=6
        Number of transformer blocks.
    num_heads : int, default=3
    mlp_dim : int, optional
        Default 4 * hidden_dim.
    dropout : float, default=0.0
    weights : str or PathLike, optional
        Local torchvision-style VisionTransformer state dict (``heads.*`` ignored) or proxylab checkpoint.
    """

    parameter_constraints = {
        "patch_size": [Interval(int, 1, None)],
        "hidden_dim": [Interval(int, 1, None)],
        "depth": [Interval(int, 1, None)],
        "num_heads": [Interval(int, 1, None)],
        "mlp_dim": [Interval(int, 1, None), None],
        "dropout": [Interval(float, 0, 1, closed="left")],
        "weights": [PATH, None],
    }
    needs_image = True

    @classmethod
    def build(cls, input_shape: tuple[int, ...], patch_size: int = 4, hidden_dim: int = 192, depth: int = 6,
              num_heads: int = 3, mlp_dim: int | None = None, dropout: float = 0.0,
              weights: str | os.PathLike | None = None) -> tuple[nn.Module, int]:
        from torchvision.models import VisionTransformer

        in_channels, height, width = input_shape
        if height != width or height % patch_size:
            raise ValueError(f"vit needs square images whose side is divisible by patch_size={patch_size}, "
                             f"got {height}x{width}")
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim must be divisible by num_heads={num_heads}, got {hidden_dim}")
        net = VisionTransformer(image_size=height, patch_size=patch_size, num_layers=depth, num_heads=num_heads,
                                hidden_dim=hidden_dim, mlp_dim=mlp_dim or 4 * hidden_dim, dropout=dropout)
        if in_channels != 3:
            net.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
            fan_in = in_channels * patch_size**2
            nn.init.trunc_normal_(net.conv_proj.weight, std=math.sqrt(1 / fan_in))  # torchvision's patch init
            nn.init.zeros_(net.conv_proj.bias)
        net.heads = nn.Identity()
        if weights is not None:
            load_weights(net, weights, drop_prefixes=("heads.",))
        return net, hidden_dim
