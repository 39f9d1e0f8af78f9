"""Embed a local dataset with a model checkpoint trained elsewhere (or by proxylab) and import the result.

The model is either

* a **torchvision architecture** (``arch="resnet50"``, any name of ``torchvision.models.get_model``) with
  a state dict of that model: linear layers whose shape differs from torchvision's default (a DML head
  such as ``fc: 2048 -> 512``) are resized to the state dict's shapes, and a final classifier missing
  from the state dict is dropped (the embedding is then the pooled features); inputs are normalised
  with the ImageNet mean/std unless ``input_norm="none"``;
* or a **proxylab model**: ``model_config`` (a JSON file with the TrainConfig keys ``model``,
  ``model_params``, ``embedding_dim``, ``normalize`` — a proxylab ``run.json`` works, its ``config`` is
  used) and the :class:`proxylab.models.Embedder` state dict. A proxylab ``<run>/weights/last.pt`` finds
  its ``run.json`` by itself, and its loss's proxies come along.

Checkpoints are read with ``torch.load(weights_only=True)``; accepted wrappers: ``{"model": sd}``,
``{"state_dict": sd}``, ``module.`` prefixes (DataParallel). The dataset comes from
:func:`proxylab.data.make_dataset` (``imagefolder``, ``features``, …); both splits are embedded, at most
``max_points`` per split (a seeded random subset), with a tqdm progress bar.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .common import ImportFileError, check_file, file_record, load_torch, one_line
from .embeddings import ImportedEmbeddings, ImportedSnapshot
from .proxies import ImportedProxies, find_proxy_keys, proxies_from_state, _flatten

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _model_state(state: Any, path: Path) -> dict[str, Any]:
    import torch

    if not isinstance(state, dict):
        raise ImportFileError(f"{path}: expected a state dict (dict of tensors), got {type(state).__name__}")
    for wrapper in ("model", "state_dict", "model_state_dict"):
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    tensors = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ImportFileError(f"{path}: found no model weights (a dict of tensors, possibly under 'model' or "
                              f"'state_dict'); keys: {sorted(map(str, state))[:8]}")
    return tensors


def _read_model_config(model_config: str | os.PathLike | None, checkpoint: Path) -> tuple[dict[str, Any], Path] | None:
    path = Path(model_config).expanduser() if model_config is not None else None
    if path is None and checkpoint.parent.name == "weights" and (checkpoint.parent.parent / "run.json").is_file():
        path = checkpoint.parent.parent / "run.json"
    if path is None:
        return None
    path = check_file(path, "model config")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(f"{path}: model config must be JSON ({one_line(exc)})") from None
    if isinstance(cfg, dict) and isinstance(cfg.get("config"), dict):
        cfg = cfg["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), str) or not isinstance(cfg.get("embedding_dim"), int):
        raise ImportFileError(f"{path}: model config must hold 'model' (str) and 'embedding_dim' (int), got "
                              f"keys {sorted(cfg)[:8] if isinstance(cfg, dict) else type(cfg).__name__}")
    return cfg, path


def _torchvision_model(arch: str, state: dict[str, Any], path: Path):
    import torchvision
    from torch import nn

    try:
        net = torchvision.models.get_model(arch, weights=None)
    except (ValueError, KeyError, TypeError):
        known = ", ".join(sorted(torchvision.models.list_models())[:6])
        raise ImportFileError(f"--arch: unknown torchvision model {arch!r}; e.g. {known}, …") from None
    linears = [(name, mod) for name, mod in net.named_modules() if isinstance(mod, nn.Linear)]
    for pos, (name, mod) in enumerate(linears):
        weight = state.get(f"{name}.weight")
        replacement = None
        if weight is not None and tuple(weight.shape) != tuple(mod.weight.shape) and weight.ndim == 2:
            replacement = nn.Linear(weight.shape[1], weight.shape[0], bias=f"{name}.bias" in state)
        elif weight is None and pos == len(linears) - 1:
            replacement = nn.Identity()  # the classifier is not in the state dict: embed with the features
        if replacement is not None:
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name) if parent_name else net, child, replacement)
    _load_strict(net, state, path)
    return net


def _load_strict(net, state: dict[str, Any], path: Path) -> None:
    from ..models import state_dict_mismatch

    problem = state_dict_mismatch(net, state)
    if problem:
        raise ImportFileError(f"{path}: the weights do not fit the model: {problem}")
    net.load_state_dict(state)


def _subset(n: int, max_points: int | None, seed: int) -> np.ndarray:
    if not max_points or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def embed_checkpoint(checkpoint: str | os.PathLike, *, data: str, data_root: str | os.PathLike | None = None,
                     data_params: dict[str, Any] | None = None, split: str | None = None, seed: int = 0,
                     arch: str | None = None, model_config: str | os.PathLike | None = None,
                     input_norm: str | None = None, batch_size: int = 128, max_points: int | None = 4000,
                     device: str = "cpu", progress: bool = True, num_classes_hint: int | None = None,
                     ) -> tuple[ImportedEmbeddings, ImportedProxies | None, dict[str, Any], list[dict[str, Any]]]:
    """Embed ``data`` with the model in ``checkpoint``.

    Parameters
    ----------
    checkpoint : path
        State dict file (see the module docstring).
    data, data_root, data_params, split, seed
        Passed to :func:`proxylab.data.make_dataset`.
    arch : str, optional
        torchvision architecture name; otherwise a proxylab model config is needed.
    model_config : path, optional
        JSON with the proxylab model keys (default: ``run.json`` two folders up from ``weights/last.pt``).
    input_norm : {"imagenet", "none"}, optional
        Input normalisation; default ``imagenet`` for ``arch``, ``none`` for proxylab models.
    batch_size, max_points, device, progress
        Embedding batch size, points per split (None or 0: all), torch device, tqdm bar on stderr.
    num_classes_hint : int, optional
        Unused by the model; kept for symmetry with :func:`read_proxies`.

    Returns
    -------
    embeddings : ImportedEmbeddings
        One snapshot (step from the checkpoint's ``step`` entry, else 0) with train and test rows.
    proxies : ImportedProxies or None
        The proxies of a proxylab checkpoint's loss (``loss.proxies``), if any.
    config : dict
        What is known (model, data, checkpoint step) for the run's config.
    sources : list of dict
        File records of the checkpoint, model config and dataset.
    """
    import torch
    from tqdm.auto import tqdm

    from ..data import make_dataset
    from ..models import make_model

    if arch is not None and model_config is not None:
        raise ImportFileError("give either --arch (torchvision) or --model-config (proxylab), got both")
    if input_norm not in (None, "imagenet", "none"):
        raise ImportFileError(f"input_norm must be 'imagenet' or 'none', got {input_norm!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ImportFileError(f"batch_size must be an int >= 1, got {batch_size!r}")
    ckpt = check_file(checkpoint, "checkpoint")
    raw_state = load_torch(ckpt)
    state = _model_state(raw_state, ckpt)
    sources = [file_record(ckpt, "checkpoint", "torch")]
    found = None if arch is not None else _read_model_config(model_config, ckpt)
    if arch is None and found is None:
        raise ImportFileError(f"{ckpt}: say which model the weights belong to: --arch NAME (torchvision) or "
                              "--model-config FILE (a proxylab run.json or JSON with model, embedding_dim)")
    splits = make_dataset(data, root=data_root, split=split, seed=seed, **(data_params or {}))
    train, test = splits.train, splits.test
    config: dict[str, Any] = {"data": data, "data_root": None if data_root is None else str(data_root),
                              "data_params": dict(data_params or {}), "split": splits.info.get("split")}
    if data_root is not None and Path(data_root).is_file():
        sources.append(file_record(Path(data_root), "dataset", data))
    elif data_root is not None:
        sources.append({"path": str(Path(data_root).resolve()), "role": "dataset", "format": data, "sha256": None})

    if arch is not None:
        net = _torchvision_model(arch, state, ckpt)
        config.update(model=arch, model_source="torchvision")
        norm = input_norm or "imagenet"
    else:
        cfg, cfg_path = found
        sources.append(file_record(cfg_path, "model-config", "json"))
        params = {k: v for k, v in dict(cfg.get("model_params") or {}).items() if k != "weights"}
        try:
            net = make_model(cfg["model"], train.input_shape, cfg["embedding_dim"],
                             normalize=bool(cfg.get("normalize", True)), **params)
        except ValueError as exc:
            raise ImportFileError(f"{cfg_path}: cannot build model {cfg['model']!r} for inputs of shape "
                                  f"{train.input_shape}: {one_line(exc)}") from None
        _load_strict(net, state, ckpt)
        config.update(model=cfg["model"], model_params=params, loss=cfg.get("loss"),
                      proxies_per_class=cfg.get("proxies_per_class"), model_source="proxylab")
        norm = input_norm or "none"
    net = net.to(device).eval()
    mean = std = None
    if norm == "imagenet":
        if len(train.input_shape) != 3 or train.input_shape[0] != 3:
            raise ImportFileError(f"input_norm='imagenet' needs RGB images (3, H, W), got inputs of shape "
                                  f"{train.input_shape}; pass input_norm='none'")
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    config["input_norm"] = norm

    same = list(test.class_names) == list(train.class_names)
    parts = {"embeddings": [], "labels": [], "modes": [], "split": [], "index": []}
    images: list[str] | None = [] if (train.image_paths is not None) else None
    chosen = [(0, train, _subset(len(train), max_points, seed * 7919 + 1)),
              (1, test, _subset(len(test), max_points, seed * 7919 + 2))]
    total = sum(len(idx) for _, _, idx in chosen)
    bar = tqdm(total=total, desc=f"embedding {ckpt.name}"[:40], unit="img" if images is not None else "row",
               disable=not progress, leave=False, dynamic_ncols=True)
    try:
        with torch.no_grad():
            for side, ds, idx in chosen:
                for start in range(0, len(idx), batch_size):
                    x, _ = ds.get_batch(idx[start:start + batch_size])
                    if mean is not None:
                        x = (x - mean) / std
                    try:
                        out = net(x.to(device))
                    except (RuntimeError, ValueError) as exc:
                        raise ImportFileError(f"{ckpt}: the model cannot embed {data} inputs of shape "
                                              f"{tuple(x.shape[1:])}: {one_line(exc, 200)}") from None
                    if out.ndim != 2:
                        raise ImportFileError(f"{ckpt}: the model outputs shape {tuple(out.shape)}, expected "
                                              "(batch, d) embeddings")
                    parts["embeddings"].append(out.float().cpu().numpy())
                    bar.update(len(x))
                offset = 0 if (side == 0 or same) else len(train.class_names)
                parts["labels"].append(np.asarray(ds.labels)[idx].astype(np.int64) + offset)
                modes = ds.modes[idx] if ds.modes is not None else np.full(len(idx), -1)
                parts["modes"].append(np.asarray(modes, np.int64))
                parts["split"].append(np.full(len(idx), side, np.int8))
                parts["index"].append(idx.astype(np.int64))
                if images is not None:
                    images += [ds.image_paths[i] for i in idx] if ds.image_paths is not None else [""] * len(idx)
    finally:
        bar.close()
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    if not np.isfinite(arrays["embeddings"]).all():
        raise ImportFileError(f"{ckpt}: the model produced NaN or inf embeddings")
    step = raw_state.get("step") if isinstance(raw_state, dict) else None
    step = int(step) if isinstance(step, (int, np.integer)) and not isinstance(step, bool) and step >= 0 else 0
    class_names = list(train.class_names) if same else list(train.class_names) + list(test.class_names)
    snap = ImportedSnapshot(step=step, embeddings=arrays["embeddings"], labels=arrays["labels"],
                            modes=arrays["modes"], split=arrays["split"], index=arrays["index"],
                            grad_norm=np.full(len(arrays["labels"]), np.nan, np.float32), image_paths=images,
                            source=str(ckpt))
    notes = [f"embedded {len(arrays['labels'])} points of {data} ({splits.info.get('split')} split) with "
             f"{config['model']} from {ckpt.name}"]
    imported = ImportedEmbeddings(snapshots=[snap], class_names=class_names,
                                  mode_names=list(splits.info.get("mode_names") or []), has_split=True,
                                  sources=[], notes=notes)
    config.update(checkpoint_step=step, embedding_dim=int(arrays["embeddings"].shape[1]))

    proxies = None
    if isinstance(raw_state, dict) and isinstance(raw_state.get("loss"), dict):
        flat = {f"loss.{k}": v for k, v in _flatten(raw_state["loss"]).items()}
        if find_proxy_keys(flat):
            proxies = proxies_from_state({"loss": raw_state["loss"]}, ckpt, num_classes=len(train.class_names),
                                         proxies_per_class=config.get("proxies_per_class"),
                                         embedding_dim=config["embedding_dim"])
    return imported, proxies, config, sources
