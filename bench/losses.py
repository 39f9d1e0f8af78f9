"""Loss forward + backward: proxylab vs pytorch-metric-learning with the same proxies, and the MPA family / SO
cost relative to proxylab's Proxy Anchor.

Pairs (PML 2.9), proxies copied so both compute the same function (checked: |loss difference| recorded):

- ``proxy_nca`` (softmax form, scale 1) vs ``ProxyNCALoss(softmax_scale=1)``; K > 1 via PML's
  ``proxy_labels`` (PML sums the softmax over proxies sharing a label: our K > 1 convention).
- ``proxy_anchor`` vs ``ProxyAnchorLoss(alpha=32, margin=0.1)``. PML has no sub-proxies: for K > 1 the
  reference is PML on C·K proxies with labels y·K — the same matrix sizes but *not* the same function
  (marked ``same_function: false`` and left out of the target).
- ``soft_triple`` (τ = 0) vs ``SoftTripleLoss(centers_per_class=K, la=20, gamma=0.1, margin=0.01)``
  (PML omits the centre regulariser).

One timed call = zero the gradients, forward, backward (embeddings and proxies both need gradients).
"""
from __future__ import annotations

import itertools
from typing import Any

from .common import interleaved, log, paired_ratio

FULL = {"B": (64, 256, 1024), "d": (64, 512), "C": (100, 1000), "K": (1, 4), "rounds": 4, "min_run_time": 0.15}
QUICK = {"B": (64, 256), "d": (64,), "C": (100,), "K": (1, 4), "rounds": 2, "min_run_time": 0.05}
FAMILY = ("mpa", "mpa_dw", "mpa_pw", "proxy_anchor+so", "mpa+so")
SO_WEIGHT = 0.05


def _make_pairs(B: int, d: int, C: int, K: int, seed: int = 0, device: str = "cpu"):
    import torch
    from pytorch_metric_learning import losses as pml

    from proxylab.losses import make_loss

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, d, generator=g).to(device).requires_grad_(True)
    y = torch.randint(0, C, (B,), generator=g).to(device)

    def ours(name, **params):
        torch.manual_seed(seed)
        return make_loss(name, C, d, proxies_per_class=K, **params).to(device)

    def ours_step(loss_fn):
        def fn():
            x.grad = None
            loss_fn.proxies.grad = None
            loss_fn(x, y).loss.backward()
        return fn

    def pml_step(loss_fn, attr, labels):
        def fn():
            x.grad = None
            getattr(loss_fn, attr).grad = None
            loss_fn(x, labels).backward()
        return fn

    fns, checks, same = {}, {}, {}
    # ProxyNCA
    nca = ours("proxy_nca", scale=1.0)
    p_nca = pml.ProxyNCALoss(num_classes=C * K, embedding_size=d, softmax_scale=1.0)
    p_nca.proxies = torch.nn.Parameter(nca.proxies.detach().reshape(C * K, d).clone())
    if K > 1:
        p_nca.proxy_labels = torch.arange(C, device=device).repeat_interleave(K)
    p_nca.to(device)
    fns["proxy_nca"], fns["pml:proxy_nca"] = ours_step(nca), pml_step(p_nca, "proxies", y)
    checks["proxy_nca"] = (lambda: nca(x, y).loss, lambda: p_nca(x, y))
    same["proxy_nca"] = True
    # Proxy Anchor
    pa = ours("proxy_anchor", alpha=32.0, margin=0.1)
    p_pa = pml.ProxyAnchorLoss(num_classes=C * K, embedding_size=d, margin=0.1, alpha=32)
    p_pa.proxies = torch.nn.Parameter(pa.proxies.detach().reshape(C * K, d).clone())
    p_pa.to(device)
    pa_labels = y * K  # K > 1: same sizes, different function (PML has no sub-proxies of one class)
    fns["proxy_anchor"], fns["pml:proxy_anchor"] = ours_step(pa), pml_step(p_pa, "proxies", pa_labels)
    checks["proxy_anchor"] = (lambda: pa(x, y).loss, lambda: p_pa(x, pa_labels))
    same["proxy_anchor"] = K == 1
    # SoftTriple
    st = ours("soft_triple", tau=0.0, scale=20.0, gamma=0.1, margin=0.01)
    p_st = pml.SoftTripleLoss(num_classes=C, embedding_size=d, centers_per_class=K, la=20, gamma=0.1, margin=0.01)
    p_st.fc = torch.nn.Parameter(st.proxies.detach().reshape(C * K, d).T.clone())
    p_st.to(device)
    fns["soft_triple"], fns["pml:soft_triple"] = ours_step(st), pml_step(p_st, "fc", y)
    checks["soft_triple"] = (lambda: st(x, y).loss, lambda: p_st(x, y))
    same["soft_triple"] = True
    # MPA family and SO (proxylab only), relative to proxylab's proxy_anchor
    fns["mpa"] = ours_step(ours("mpa"))
    fns["mpa_dw"] = ours_step(ours("mpa_dw"))
    fns["mpa_pw"] = ours_step(ours("mpa_pw"))
    fns["proxy_anchor+so"] = ours_step(ours("proxy_anchor", so_weight=SO_WEIGHT))
    fns["mpa+so"] = ours_step(ours("mpa", so_weight=SO_WEIGHT))
    return fns, checks, same


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL, "cpu")


def measure(cfg: dict[str, Any], device: str) -> dict[str, Any]:
    """Time every pair and family member of ``cfg``'s sizes on ``device`` (``torch.utils.benchmark`` synchronises
    CUDA around each timed block)."""
    import torch

    rows = []
    configs = list(itertools.product(cfg["B"], cfg["d"], cfg["C"], cfg["K"]))
    for i, (B, d, C, K) in enumerate(configs):
        log(f"losses {i + 1}/{len(configs)}: B={B} d={d} C={C} K={K}")
        fns, checks, same = _make_pairs(B, d, C, K, device=device)
        diffs = {}
        for name, (a, b) in checks.items():
            with torch.no_grad():
                diffs[name] = abs(float(a()) - float(b()))
        times = interleaved(fns, cfg["rounds"], cfg["min_run_time"])
        row = {"B": B, "d": d, "C": C, "K": K, "times": times, "pairs": {}, "family": {}}
        for name in ("proxy_nca", "proxy_anchor", "soft_triple"):
            ours_t, pml_t = times[name], times[f"pml:{name}"]
            row["pairs"][name] = {
                "ours_ms": 1e3 * ours_t["median_s"], "pml_ms": 1e3 * pml_t["median_s"],
                "ratio": ours_t["median_s"] / pml_t["median_s"],
                "paired_ratio": paired_ratio(ours_t["round_medians_s"], pml_t["round_medians_s"]),
                "same_function": same[name], "abs_loss_diff": diffs[name],
            }
        ref = times["proxy_anchor"]["median_s"]
        for name in FAMILY:
            row["family"][name] = {"ms": 1e3 * times[name]["median_s"], "vs_proxy_anchor": times[name]["median_s"] / ref}
        rows.append(row)
    return {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
            "so_weight": SO_WEIGHT, "device": device, "rows": rows}
