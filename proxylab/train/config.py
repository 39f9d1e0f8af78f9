"""Training configuration: one dataclass, its constraints declared once, loadable from JSON/TOML and presets."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..params import BOOL, InstanceOf, Interval, Options, check_param

DICT = InstanceOf(dict, label="dict")
#: config files larger than this are refused before parsing (a real config is a few hundred bytes).
MAX_CONFIG_BYTES = 1 << 20
STR = InstanceOf(str, label="str")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored verbatim in the run's ``run.json``).

    Parameters
    ----------
    data, data_params, data_root, split, test_fraction
        Dataset name for :func:`proxylab.data.make_dataset`, its parameters, a local root for datasets read from
        disk, the split (None = the dataset's default) and the share of every class held out for test by a
        per-sample split (ignored by zero-shot and by datasets with their own test set).
    model, model_params, embedding_dim, normalize
        Embedder name for :func:`proxylab.models.make_model`, its parameters, d, and L2 normalisation of the output.
    loss, loss_params, proxies_per_class, so_weight, so_scope
        Loss name for :func:`proxylab.losses.make_loss` and its parameters; K; soft-orthogonality weight/scope.
    optimizer, lr, weight_decay, momentum, proxy_lr_multiplier
        AdamW / Adam / SGD. Proxies get their own parameter group with ``lr * proxy_lr_multiplier``
        (None → the loss's default, ×100 for Proxy Anchor and the MPA family, as in Proxy Anchor's recipe).
    lr_schedule, warmup_epochs, grad_clip
        ``constant`` / ``cosine`` / ``step`` (×0.5 at 50 % and 75 % of the steps); during the first
        ``warmup_epochs`` only the head and the proxies train (backbone frozen); gradient-norm clipping
        (None = off), applied after the gradient norms are logged.
    steps, classes_per_batch, samples_per_class, imbalance
        Number of optimisation steps; class-balanced batches of ``classes_per_batch × samples_per_class``;
        ``imbalance`` > 1 makes batches class-imbalanced (geometric ratio between the most and least drawn class).
    eval_every, eval_ks, eval_max_points, snapshot_points, num_snapshots, checkpoint_every
        Evaluation period (steps), the k of R@k/nDCG@k, the cap on evaluated points, the size of the fixed
        snapshot subset, how many snapshots (spaced dense early, sparse later), and the checkpoint period.
    seed, device, full_logging, nan_policy
        Seed for everything; ``auto`` picks CUDA when present; ``full_logging=False`` keeps only loss and
        eval metrics (used to measure the logging overhead); on a NaN/inf loss or gradient ``stop`` ends the
        run as failed, ``skip`` drops that step and goes on.
    """

    data: str = "synthetic"
    data_params: dict = field(default_factory=dict)
    data_root: str | None = None
    split: str | None = None
    test_fraction: float = 0.3
    model: str = "linear"
    model_params: dict = field(default_factory=dict)
    embedding_dim: int = 16
    normalize: bool = True
    loss: str = "proxy_anchor"
    loss_params: dict = field(default_factory=dict)
    proxies_per_class: int = 1
    so_weight: float = 0.0
    so_scope: str = "all"
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    proxy_lr_multiplier: float | None = None
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    grad_clip: float | None = 10.0
    steps: int = 300
    classes_per_batch: int = 6
    samples_per_class: int = 16
    imbalance: float = 1.0
    eval_every: int = 50
    eval_ks: tuple = (1, 2, 4, 8)
    eval_max_points: int = 5000
    snapshot_points: int = 1000
    num_snapshots: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    full_logging: bool = True
    nan_policy: str = "stop"

    constraints = {
        "data": [STR],
        "data_params": [DICT],
        "data_root": [STR, None],
        "split": [STR, None],
        "test_fraction": [Interval(float, 0, 1, closed="neither")],
        "model": [STR],
        "model_params": [DICT],
        "embedding_dim": [Interval(int, 1, 4096)],
        "normalize": [BOOL],
        "loss": [STR],
        "loss_params": [DICT],
        "proxies_per_class": [Interval(int, 1, 1024)],
        "so_weight": [Interval(float, 0, None)],
        "so_scope": [Options(["all", "between_classes"])],
        "optimizer": [Options(["adamw", "adam", "sgd"])],
        "lr": [Interval(float, 0, 10, closed="right")],
        "weight_decay": [Interval(float, 0, None)],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "proxy_lr_multiplier": [Interval(float, 0, None, closed="neither"), None],
        "lr_schedule": [Options(["constant", "cosine", "step"])],
        "warmup_epochs": [Interval(float, 0, None)],
        "grad_clip": [Interval(float, 0, None, closed="neither"), None],
        "steps": [Interval(int, 1, 10_000_000)],
        "classes_per_batch": [Interval(int, 1, None)],
        "samples_per_class": [Interval(int, 1, None)],
        "imbalance": [Interval(float, 1, None)],
        "eval_every": [Interval(int, 1, None)],
        "eval_ks": [InstanceOf(tuple, list, label="list of ints >= 1")],
        "eval_max_points": [Interval(int, 2, None)],
        "snapshot_points": [Interval(int, 2, None)],
        "num_snapshots": [Interval(int, 1, 1000)],
        "checkpoint_every": [Interval(int, 1, None)],
        "seed": [Interval(int, 0, 2**31 - 1)],
        "device": [Options(["auto", "cpu", "cuda"])],
        "full_logging": [BOOL],
        "nan_policy": [Options(["stop", "skip"])],
    }

    def __post_init__(self):
        for f in fields(self):
            check_param(f.name, getattr(self, f.name), self.constraints[f.name])
        ks = self.eval_ks
        if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
            raise ValueError(f"eval_ks must be a non-empty list of ints >= 1, got {ks!r}")
        self.eval_ks = tuple(sorted(set(ks)))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eval_ks"] = list(self.eval_ks)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a mapping; unknown keys raise ``ValueError`` naming the valid ones."""
        if not isinstance(values, dict):
            raise ValueError(f"a config must be a mapping of parameters, got {type(values).__name__}")
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"unknown config key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}")
        values = dict(values)
        for key in ("lr", "weight_decay", "momentum", "so_weight", "warmup_epochs", "imbalance", "grad_clip",
                    "proxy_lr_multiplier", "test_fraction"):
            v = values.get(key)
            if isinstance(v, int) and not isinstance(v, bool):  # JSON/TOML write 1e2 as 100
                values[key] = float(v)
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        """Read a ``.json`` or ``.toml`` config file (YAML is refused with a message saying so)."""
        path = Path(path)
        if path.suffix.lower() in YAML_SUFFIXES:  # json.loads would only say "Expecting value"
            raise ValueError(f"config file {path}: YAML is not supported; use JSON (.json) or TOML (.toml)")
        kind = path.suffix.lstrip(".") or "JSON"  # the name the user gave the format (json, toml)
        try:
            size = path.stat().st_size
            if size > MAX_CONFIG_BYTES:
                raise ValueError(f"config file {path} must be at most {MAX_CONFIG_BYTES} bytes, got {size}")
            raw = path.read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read config file {path}: {e.strerror or type(e).__name__}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"config file {path} is not valid {kind}: not UTF-8 text (byte {e.start})") from None
        if not text.strip():
            raise ValueError(f"config file {path} is empty; expected a {kind} object of TrainConfig keys")
        try:
            if path.suffix == ".toml":
                import tomllib

                values = tomllib.loads(text)
            else:
                values = json.loads(text)
        except RecursionError:
            raise ValueError(f"config file {path} is not valid {kind}: nested too deeply") from None
        except ValueError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"config file {path} is not valid {kind}: {first}") from None
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"config file {path}: {first}") from None

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def snapshot_schedule(steps: int, num_snapshots: int) -> list[int]:
    """Steps at which to snapshot: 0, then geometrically spaced (dense early, sparse later), always ``steps``."""
    if num_snapshots <= 1:
        return [steps]
    out = {0, steps}
    for i in range(1, num_snapshots - 1):
        out.add(int(round(math.exp(math.log(steps + 1) * i / (num_snapshots - 1)))) - 1)
    return sorted(s for s in out if 0 <= s <= steps)
