"""Named training presets: the demo's teaching runs and a few starting points (``proxylab train --preset``)."""
from __future__ import annotations

from typing import Any

# The demo's data: 6 classes × 3 interleaved modes in 16-d input space, seen through a LINEAR embedder, which
# cannot merge a class's modes — the teaching case for several proxies per class.
_TEACHING = {"data": "synthetic", "model": "linear", "embedding_dim": 8, "steps": 300, "eval_every": 50,
             "classes_per_batch": 6, "samples_per_class": 16, "snapshot_points": 1000, "num_snapshots": 10,
             "lr": 1e-2, "split": "per-sample"}

_SPHERE = {**_TEACHING, "embedding_dim": 3, "classes_per_batch": 3,
           "data_params": {"num_classes": 3, "modes_per_class": 2, "layout": "ring", "dim": 16}}

PRESETS: dict[str, dict[str, Any]] = {
    "single-proxy": {**_TEACHING, "loss": "proxy_anchor", "proxies_per_class": 1},
    "multi-proxy": {**_TEACHING, "loss": "mpa", "proxies_per_class": 4},
    "multi-proxy-so": {**_TEACHING, "loss": "mpa", "proxies_per_class": 4, "so_weight": 0.05,
                       "so_scope": "between_classes"},
    "data-wise": {**_TEACHING, "loss": "mpa_dw", "proxies_per_class": 4},
    # d = 3: the native sphere view, no projection. 3 classes × 2 modes on a ring; at this size the gap between
    # one and several proxies depends on the seed (seed 0 shows it; seed 2 lets one proxy cope too).
    "sphere-single-proxy": {**_SPHERE, "loss": "proxy_anchor", "proxies_per_class": 1},
    "sphere-multi-proxy": {**_SPHERE, "loss": "mpa", "proxies_per_class": 4},
    "digits-merged": {"data": "digits-merged", "model": "mlp", "embedding_dim": 32, "steps": 600, "loss": "mpa",
                      "proxies_per_class": 4, "split": "per-sample", "classes_per_batch": 4,
                      "samples_per_class": 32},
    "digits-zero-shot": {"data": "digits", "model": "mlp", "embedding_dim": 32, "steps": 600,
                         "loss": "proxy_anchor", "split": "zero-shot", "classes_per_batch": 5,
                         "samples_per_class": 16},
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    return dict(PRESETS[name])
