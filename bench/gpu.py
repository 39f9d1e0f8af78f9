"""What a CUDA GPU changes, measured on one: the losses suite's pairs and family with everything on the GPU
(proxylab vs pytorch-metric-learning, the same functions as section 1), and retrieval metrics of the same points on
the GPU against this machine's CPU (time and agreement).

Without a CUDA device the suite measures nothing and leaves the last ``gpu.json`` as it was. The GPU timings
synchronise the device around each timed block (``torch.utils.benchmark``); the metrics time one call after a
warm-up call on a subset.
"""
from __future__ import annotations

import time
from typing import Any

from . import losses
from .common import log

METRICS = {"full": {"N": (10_000, 100_000), "d": 128}, "quick": {"N": (10_000,), "d": 128}}


def _points(n: int, d: int):
    """Unit vectors around n / 50 class centres (R up to ~50 per query), seeded."""
    import torch

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, max(2, n // 50), (n,), generator=g)
    centres = torch.randn(int(labels.max()) + 1, d, generator=g)
    x = centres[labels] + 0.9 * torch.randn(n, d, generator=g)
    return torch.nn.functional.normalize(x, dim=1), labels


def _timed(fn):
    import torch

    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def _metrics(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from proxylab.metrics import retrieval_metrics

    rows = []
    for n in cfg["N"]:
        log(f"gpu: retrieval metrics N={n:,} d={cfg['d']}")
        x, y = _points(n, cfg["d"])
        start = time.perf_counter()
        on_cpu = retrieval_metrics(x, y)
        cpu_s = time.perf_counter() - start
        x_gpu, y_gpu = x.cuda(), y.cuda()
        retrieval_metrics(x_gpu[:2000], y_gpu[:2000])  # warm-up: context, kernels, allocator
        gpu_s, on_gpu = _timed(lambda: retrieval_metrics(x_gpu, y_gpu))
        rows.append({"N": n, "d": cfg["d"], "cpu_s": cpu_s, "gpu_s": gpu_s, "cpu_over_gpu": cpu_s / gpu_s,
                     "max_abs_diff": max(abs(on_gpu[k] - on_cpu[k]) for k in on_cpu), "metrics_cpu": on_cpu})
    return rows


def run(quick: bool) -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    log(f"gpu: {torch.cuda.get_device_name(0)}")
    return {"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
            "losses": losses.measure(losses.QUICK if quick else losses.FULL, "cuda"),
            "metrics": _metrics(METRICS["quick" if quick else "full"])}
