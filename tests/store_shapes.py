"""Runs of every shape a user can bring: trained, imported or logged; finished, failed, running or interrupted; with
or without proxies (at every step, some, once), modes, split, gradients, eval history, scalars, class names and
config keys — written through the store's own writer, numpy only. For the store-shape property test."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proxylab.store import RunWriter

PROXIES = ("none", "all", "some", "first", "last")
CONFIGS = ("full", "partial", "none", "odd")
NAMES = ("full", "none", "short")
SOURCES = ("proxylab", "import", "logger")
STATUSES = ("finished", "failed", "running", "interrupted")


@dataclass(frozen=True)
class RunShape:
    """Which optional parts a run has (see the module docstring)."""

    source: str = "proxylab"
    status: str = "finished"
    snapshots: int = 3
    proxies: str = "all"
    classes: int = 3
    per_class: int = 2
    dim: int = 5
    modes: bool = True
    split: bool = True
    gradients: bool = True
    evals: bool = True
    scalars: bool = True
    config: str = "full"
    class_names: str = "full"
    points: int = 40


def _config(shape: RunShape) -> dict | None:
    full = {"loss": "mpa", "proxies_per_class": shape.per_class, "so_weight": 0.0, "embedding_dim": shape.dim,
            "model": "linear", "seed": 0, "data": "synthetic"}
    return {
        "full": full,
        "partial": {"loss": "proxy_anchor"},  # the keys a user's own config happens to have
        "none": None,
        "odd": {"loss": 7, "proxies_per_class": "two", "so_weight": None, "embedding_dim": [shape.dim],
                "lr": {"head": 0.1}},
    }[shape.config]


def _has_proxies(shape: RunShape, i: int) -> bool:
    last = shape.snapshots - 1
    return {"none": False, "all": True, "some": i % 2 == 1, "first": i == 0, "last": i == last}[shape.proxies]


def write_run(store: Path, name: str, shape: RunShape, seed: int = 0) -> None:
    """Write run `name` of `shape` into `store` (replacing it)."""
    rng = np.random.default_rng(seed)
    c, k, d, n = shape.classes, shape.per_class, shape.dim, shape.points
    labels = np.arange(n) % c
    modes = np.arange(n) % (2 * c)  # two modes per class: mode m belongs to class m % c
    centres = rng.normal(size=(2 * c, d))
    meta: dict = {"source": shape.source}
    config = _config(shape)
    if config is not None:
        meta["config"] = config
    names = {"full": [f"class {i}" for i in range(c)], "none": None, "short": ["only one"]}[shape.class_names]
    if names is not None:
        meta["dataset"] = {"class_names": names, "snapshot_class_names": names, "has_modes": shape.modes}
    if shape.source == "import":
        meta["read_only"] = True
    total = 10 * max(shape.snapshots, 1)
    meta["progress"] = {"step": 0, "total_steps": total}
    writer = RunWriter.create(store, name, meta, exist_ok=True)
    steps = [10 * i for i in range(shape.snapshots)]
    for i, step in enumerate(steps):
        spread = 1.0 / (1 + i)
        emb = centres[modes] + spread * rng.normal(size=(n, d))
        arrays = {"embeddings": emb, "labels": labels}
        if shape.modes:
            arrays["modes"] = modes
        if shape.split:
            arrays["split"] = (np.arange(n) % 4 == 0).astype(np.int8)
        if shape.gradients:
            grad = rng.gamma(2.0, size=n)
            if shape.split:
                grad[arrays["split"] == 1] = np.nan
            arrays["grad_norm"] = grad
        if _has_proxies(shape, i):
            arrays["proxies"] = centres[:c * k].reshape(c, k, d) if 2 * c >= c * k else rng.normal(size=(c, k, d))
        writer.write_snapshot(step, **arrays)
        if shape.evals:
            writer.log_eval(step, "test", {"R@1": 0.5 + 0.1 * i, "MAP@R": 0.3 + 0.1 * i})
    last = steps[-1] if steps else 0
    if shape.scalars and shape.source != "import":
        for step in range(1, last + 1):
            values = {"loss": 1.0 / step}
            if shape.gradients:
                values.update({"grad_norm/model": 0.5, "grad_norm/total": 0.6, "sample_grad/gini": 0.3,
                               "sample_grad/top10_share": 0.2})
                if shape.proxies != "none":
                    values["grad_norm/proxies"] = 0.1
                    values.update({"proxy/mean_sq_cos": 0.1, "proxy/welch_floor": 0.0, "proxy/r_so": 0.2})
            writer.log_scalars(step, values)
            if shape.gradients:
                vectors = {"class_grad": rng.random(c)}
                if shape.proxies != "none":
                    vectors.update(proxy_grad=rng.random(c * k), proxy_usage=rng.random(c * k))
                writer.log_vectors(step, vectors)
    writer.update_meta(progress={"step": last, "total_steps": total})
    if shape.status == "running":
        writer.close()  # lock released with status running: readers show it interrupted (a killed process)
        return
    writer.set_status(shape.status, error="ValueError: boom" if shape.status == "failed" else
                      "stopped by the user (Ctrl-C) at step 3" if shape.status == "interrupted" else None)
    writer.close()
