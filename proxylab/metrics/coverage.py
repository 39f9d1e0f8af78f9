"""Mode coverage: do a class's proxies cover each of its ground-truth modes (local centres)?

For data with known modes (synthetic mixtures, digits-merged, CIFAR-100 coarse/fine), each mode m
has a class c_m and a centre mu_m = mean of its samples' unit-norm embeddings. proxylab reports

- best cosine ``max_k cos(mu_m, w_{c_m,k})`` to its own class's proxies (high: some proxy sits on
  the mode), averaged over modes as ``mode_best_cos``;
- covered = the proxy nearest to mu_m over all C*K proxies belongs to c_m (ties: lowest flat
  index c*K + k); ``mode_coverage`` is the fraction of covered modes.

This metric is proxylab's own (SCIENCE.md section 2): it makes visible that one proxy cannot
represent a class with several separated modes, while K > 1 proxies can.
"""
from __future__ import annotations

from typing import Any

import torch

from .inputs import as_embeddings, as_labels, as_tensor
from .. import geometry


def mode_coverage(embeddings: Any, labels: Any, modes: Any, proxies: Any) -> dict[str, Any]:
    """Per-mode proxy coverage of ground-truth modes.

    Parameters
    ----------
    embeddings : array or Tensor, shape (N, d)
        Embeddings (normalised here).
    labels : array or Tensor of int, shape (N,)
        Class of each sample, indexing the proxies' classes: 0 <= label < C.
    modes : array or Tensor of int, shape (N,)
        Global mode id of each sample, -1 = unknown (ignored). A mode must lie in one class.
    proxies : array or Tensor, shape (C, K, d)
        Proxies (normalised here).

    Returns
    -------
    dict
        ``mode_coverage`` (float, fraction of covered modes), ``mode_best_cos`` (float, mean best
        cosine) and per-mode arrays of length M (modes sorted by id): ``mode_ids`` int64,
        ``mode_labels`` int64 (class), ``mode_sizes`` int64 (samples), ``per_mode_best_cos``
        float64, ``best_proxy`` int64 (k of the best own-class proxy), ``nearest_class`` int64
        (class of the nearest proxy overall), ``covered`` bool.

    Notes
    -----
    A mode whose samples' unit embeddings cancel out has a zero centre: its cosines are all 0.
    """
    x = as_embeddings(embeddings, "embeddings")
    y = as_labels(labels, "labels", x.shape[0], x.device)
    mode = as_labels(modes, "modes", x.shape[0], x.device)
    w = _as_proxies(proxies, x)
    n_classes, per_class, _ = w.shape
    if bool(((y < 0) | (y >= n_classes)).any()):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] to index the proxies' classes, got range "
                         f"[{int(y.min())}, {int(y.max())}]")
    if bool((mode < -1).any()):
        raise ValueError(f"modes must be >= -1 (-1 = unknown), got {int(mode.min())}")
    known = mode >= 0
    if not bool(known.any()):
        raise ValueError("modes must contain at least one known mode id (>= 0), got only -1")
    mode_ids, member_of = mode[known].unique(return_inverse=True)  # (M,), (n,)
    n_modes = len(mode_ids)
    known_labels = y[known]  # (n,)
    mode_labels = torch.zeros(n_modes, dtype=torch.int64, device=x.device).scatter_reduce(
        0, member_of, known_labels, reduce="amax", include_self=False)  # (M,)
    if bool((mode_labels[member_of] != known_labels).any()):
        bad = int(mode_ids[member_of[mode_labels[member_of] != known_labels][0]])
        raise ValueError(f"modes must each lie in one class, got mode {bad} with samples of several labels")

    # the definition lives in proxylab.geometry (numpy), shared with the dashboard; a few thousand points' copy
    return geometry.mode_coverage(*(t.detach().cpu().numpy() for t in (x.to(torch.float64), y, mode,
                                                                        w.to(torch.float64))))


def _as_proxies(proxies: Any, x: torch.Tensor) -> torch.Tensor:
    """Validate proxies (C, K, d) with d matching the embeddings."""
    if proxies is None:
        raise ValueError("proxies must be an array of shape (C, K, d), got None")
    w = as_tensor(proxies, "proxies")
    if w.ndim != 3 or w.shape[2] != x.shape[1] or w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"proxies must have shape (C, K, {x.shape[1]}) with C, K >= 1, got {tuple(w.shape)}")
    return as_embeddings(w.reshape(-1, w.shape[2]), "proxies", x.device).view(w.shape)
