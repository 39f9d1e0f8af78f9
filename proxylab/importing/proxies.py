"""Read proxies trained elsewhere into proxylab's (C, K, d) layout (proxy (c, k) = row c·K + k when flat).

Sources
-------
* ``.npy`` / ``.npz`` (``allow_pickle=False``): (C, d) — one proxy per class —, (C·K, d) with
  ``proxies_per_class=K`` (rows c·K .. c·K+K-1 belong to class c), or (C, K, d). In an .npz the array is
  ``proxies``, ``fc`` (SoftTriple layout, below) or the only array.
* ``.csv`` as written by ``proxylab export`` (``label``, ``sub_proxy``, ``e0..e{d-1}``).
* a PyTorch file (``.pt``/``.pth``/``.bin``/``.ckpt``, ``torch.load(weights_only=True)``): a tensor, or a
  (nested) state dict of a loss module, found by its parameter name:

  ==========================================  =================  =======================================
  loss                                        parameter          layout
  ==========================================  =================  =======================================
  pytorch-metric-learning ProxyAnchorLoss     ``proxies``        (C, d)
  pytorch-metric-learning ProxyNCALoss        ``proxies``        (C, d)
  pytorch-metric-learning SoftTripleLoss      ``fc``             (d, C·K); centre k of class c is column
                                                                 c·K + k (``get_logits`` views the (B, C·K)
                                                                 similarities as (B, C, K))
  proxylab losses (``make_loss``)             ``proxies``        (C, K, d)
  ==========================================  =================  =======================================

  Prefixes are fine (``criterion.proxies``, ``loss.fc`` in a proxylab ``weights/last.pt``); with several
  candidates pass ``key``. SoftTriple's K is ``proxies_per_class`` or, failing that, (C·K) / ``num_classes``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import TORCH_SUFFIXES, ImportFileError, as_float_matrix, check_file, load_numpy, load_torch
from .tables import embedding_columns, pick, proxies_from_rows

PROXY_KEYS = ("proxies", "fc")
FORMATS = ".npy, .npz, .csv (proxylab export), or a PyTorch state dict (.pt/.pth/.bin/.ckpt)"


@dataclass
class ImportedProxies:
    """Proxies in proxylab's layout and where they came from.

    Attributes
    ----------
    proxies : ndarray of shape (C, K, d), float32
    format : str
        ``npy``, ``npz``, ``csv`` or ``torch``.
    key : str or None
        The array / state-dict entry they were read from.
    layout : str
        How the stored array was interpreted, e.g. ``"fc (d, C*K) -> (C, K, d)"``.
    """

    proxies: np.ndarray
    format: str
    key: str | None
    layout: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.proxies.shape)  # type: ignore[return-value]


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b.c": leaf}`` (only dict nesting is followed)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            out.update(_flatten(v, name) if isinstance(v, dict) else {name: v})
    return out


def _to_numpy(value: Any, path: Path, key: str) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise ImportFileError(f"{path}: {key} must hold real numbers, got dtype {value.dtype}")
        return value.detach().to(torch.float64).cpu().numpy()
    return np.asarray(value)


def _shape_proxies(arr: np.ndarray, path: Path, key: str | None, layout: str, *, num_classes: int | None,
                   proxies_per_class: int | None, embedding_dim: int | None) -> tuple[np.ndarray, str]:
    where = f"{path}" + (f" [{key}]" if key else "")
    arr = as_float_matrix(arr, where, "proxies")
    k_given = proxies_per_class
    if layout == "fc":
        if arr.ndim != 2:
            raise ImportFileError(f"{where}: SoftTriple fc must have shape (d, C*K), got {arr.shape}")
        d, ck = arr.shape
        if embedding_dim is not None and d != embedding_dim:
            raise ImportFileError(f"{where}: SoftTriple fc (d, C*K) has d={d}, the embeddings have d={embedding_dim}")
        if k_given is None:
            if num_classes is None:
                raise ImportFileError(f"{where}: SoftTriple fc has C*K={ck} columns; give proxies_per_class "
                                      "(--proxies-per-class) or labels to know C")
            if ck % num_classes:
                raise ImportFileError(f"{where}: SoftTriple fc has C*K={ck} columns, not a multiple of the "
                                      f"{num_classes} classes in the labels (K·C not matching)")
            k_given = ck // num_classes
        if ck % k_given:
            raise ImportFileError(f"{where}: SoftTriple fc has C*K={ck} columns, not a multiple of K={k_given} "
                                  "(K·C not matching)")
        c = ck // k_given
        # column c*K + k is centre k of class c
        return arr.T.reshape(c, k_given, d).astype(np.float32), f"fc (d={d}, C*K={ck}) transposed -> (C={c}, K={k_given}, d)"
    if arr.ndim == 3:
        if k_given is not None and arr.shape[1] != k_given:
            raise ImportFileError(f"{where}: proxies have K={arr.shape[1]} per class (shape {arr.shape}), "
                                  f"proxies_per_class says {k_given} (K·C not matching)")
        return arr.astype(np.float32), f"(C, K, d) = {arr.shape}"
    if arr.ndim == 2:
        rows, d = arr.shape
        k = k_given or 1
        if rows % k:
            raise ImportFileError(f"{where}: {rows} proxy rows are not a multiple of K={k} proxies per class "
                                  "(K·C not matching)")
        return (arr.reshape(rows // k, k, d).astype(np.float32),
                f"(C*K, d) = {arr.shape} -> (C={rows // k}, K={k}, d)" if k > 1 else f"(C, d) = {arr.shape} -> (C, 1, d)")
    raise ImportFileError(f"{where}: proxies must have shape (C, d), (C*K, d) or (C, K, d), got {arr.shape}")


def read_proxies(path: str | os.PathLike, *, key: str | None = None, num_classes: int | None = None,
                 proxies_per_class: int | None = None, embedding_dim: int | None = None) -> ImportedProxies:
    """Read proxies from a file (see the module docstring) as (C, K, d) float32.

    Parameters
    ----------
    path : path
        .npy, .npz, .csv or PyTorch file.
    key : str, optional
        The array name (.npz) or state-dict key (dotted for nested dicts) to read; default: found by name.
    num_classes : int, optional
        C from the labels; lets a SoftTriple ``fc`` be split into C x K.
    proxies_per_class : int, optional
        K, to reshape flat (C·K, d) rows or split a SoftTriple ``fc``; checked against (C, K, d) arrays.
    embedding_dim : int, optional
        d of the embeddings (checked for SoftTriple's ``fc``, whose first axis is d).

    Raises
    ------
    ImportFileError
        Missing, empty, pickled or unreadable file; no or several candidate entries; NaN/inf; a shape
        that C, K and d cannot explain.
    """
    if proxies_per_class is not None and (isinstance(proxies_per_class, bool) or int(proxies_per_class) < 1):
        raise ImportFileError(f"proxies_per_class must be an int >= 1, got {proxies_per_class!r}")
    p = check_file(path, "proxies")
    suffix = p.suffix.lower()
    opts = dict(num_classes=num_classes, proxies_per_class=proxies_per_class, embedding_dim=embedding_dim)
    if suffix == ".npy":
        arr = load_numpy(p)
        proxies, layout = _shape_proxies(arr, p, None, "rows", **opts)
        return ImportedProxies(proxies, "npy", None, layout)
    if suffix == ".npz":
        arrays = load_numpy(p)
        if key is not None:
            if key not in arrays:
                raise ImportFileError(f"{p}: no array {key!r}, found {sorted(arrays)}")
            name = key
        else:
            found = [k for k in arrays if k.lower() in PROXY_KEYS]
            if len(found) == 1:
                name = found[0]
            elif len(arrays) == 1:
                name = next(iter(arrays))
            else:
                raise ImportFileError(f"{p}: expected one array named 'proxies' (or 'fc'), found {sorted(arrays)}; "
                                      "pass key=")
        layout = "fc" if name.lower() == "fc" else "rows"
        proxies, how = _shape_proxies(arrays[name], p, name, layout, **opts)
        return ImportedProxies(proxies, "npz", name, how)
    if suffix == ".csv":
        return _read_csv(p)
    if suffix in TORCH_SUFFIXES:
        return _read_torch(p, key, opts)
    raise ImportFileError(f"{p}: unknown proxies format {p.suffix or '(no suffix)'!r}; expected {FORMATS}")


def _read_csv(p: Path) -> ImportedProxies:
    import pandas as pd

    try:
        frame = pd.read_csv(p)
    except Exception as exc:
        raise ImportFileError(f"{p}: not a readable CSV ({type(exc).__name__})") from None
    label = pick(frame.columns, ("label",))
    if label is None or len(frame) == 0:
        raise ImportFileError(f"{p}: expected proxy rows with 'label', 'sub_proxy' and e0..e{{d-1}} columns "
                              f"(proxylab export), got columns {list(frame.columns)[:8]}")
    vectors, _ = embedding_columns(frame, p, [])
    vectors = as_float_matrix(vectors, p, "proxies")
    sub = pick(frame.columns, ("sub_proxy",))
    proxies = proxies_from_rows(frame[label].to_numpy(), None if sub is None else frame[sub].to_numpy(), vectors, p)
    return ImportedProxies(proxies, "csv", None, f"rows (label, sub_proxy) -> {proxies.shape}")


def _read_torch(p: Path, key: str | None, opts: dict[str, Any]) -> ImportedProxies:
    return proxies_from_state(load_torch(p), p, key, **opts)


def proxies_from_state(obj: Any, p: Path | str, key: str | None = None, *, num_classes: int | None = None,
                       proxies_per_class: int | None = None, embedding_dim: int | None = None) -> ImportedProxies:
    """Proxies from a loaded tensor or (nested) state dict ``obj`` read from ``p`` (see :func:`read_proxies`)."""
    import torch

    opts = dict(num_classes=num_classes, proxies_per_class=proxies_per_class, embedding_dim=embedding_dim)
    p = Path(p)
    if isinstance(obj, torch.Tensor):
        proxies, how = _shape_proxies(_to_numpy(obj, p, "tensor"), p, None, "rows", **opts)
        return ImportedProxies(proxies, "torch", None, how)
    flat = {k: v for k, v in _flatten(obj).items() if isinstance(v, torch.Tensor)}
    if not flat:
        raise ImportFileError(f"{p}: expected a tensor or a state dict of tensors, got {type(obj).__name__} "
                              "without tensors")
    if key is not None:
        if key not in flat:
            raise ImportFileError(f"{p}: no tensor {key!r} in the state dict; tensors: {sorted(flat)[:8]}")
        name = key
    else:
        found = find_proxy_keys(flat)
        if not found:
            raise ImportFileError(f"{p}: found no proxies in the state dict (expected a tensor named 'proxies' "
                                  f"or SoftTriple's 'fc'); tensors: {sorted(flat)[:8]}")
        if len(found) > 1:
            raise ImportFileError(f"{p}: several proxy tensors {sorted(found)[:6]}; choose one with "
                                  "--proxies-key")
        name = found[0]
    leaf = name.rsplit(".", 1)[-1]
    layout = "fc" if leaf == "fc" else "rows"
    proxies, how = _shape_proxies(_to_numpy(flat[name], p, name), p, name, layout, **opts)
    kind = {"fc": "SoftTriple (pytorch-metric-learning layout)"}.get(leaf) or (
        "proxylab (C, K, d)" if flat[name].ndim == 3 else "one proxy per class (e.g. pytorch-metric-learning "
                                                          "ProxyAnchorLoss / ProxyNCALoss)")
    return ImportedProxies(proxies, "torch", name, f"{kind}: {how}")


def find_proxy_keys(flat: dict[str, Any]) -> list[str]:
    """Keys of a flattened state dict that name proxies: last component ``proxies`` or ``fc``, 2-D or 3-D."""
    return [k for k, v in flat.items() if k.rsplit(".", 1)[-1] in PROXY_KEYS and getattr(v, "ndim", 0) in (2, 3)]
