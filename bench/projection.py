"""Projection cost: PCA vs UMAP (cold / fresh process / warm) vs the aligned UMAP options, over the snapshots of
a real demo run (preset ``multi-proxy``: 6 classes × 3 modes, K = 4, d = 8, 300 steps, 10 snapshots) trained
with ``snapshot_points`` = 1k / 5k / 20k, plus the cache-hit time.

Every method runs in a fresh interpreter (``python -m bench.projection --worker``) that times:
``import`` of umap (UMAP methods), the first ``project_run`` (*first*), for some cases a second identical
call in the same process (*warm*), and a call that reads the cache the last computing call wrote (*cache
hit*). All workers share one numba cache directory (``NUMBA_CACHE_DIR``) that is emptied when
the suite starts, so the very first UMAP worker pays numba's full compilation (what a user waits the very
first time after installing), and later workers find numba's on-disk cache (a later session).
A last fresh worker times a cache hit on its own (what reopening the dashboard costs).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import fit_exponent, log, run_worker

PRESET = "multi-proxy"
METHODS = [  # (label, method, params)
    ("pca", "pca", {}),
    ("umap joint", "umap", {"alignment": "joint"}),
    ("umap init", "umap", {"alignment": "init"}),
    ("umap independent", "umap", {"alignment": "independent"}),
    ("umap_aligned (AlignedUMAP)", "umap_aligned", {}),
]
FULL = {"N": (1000, 5000, 20000), "methods": [m[0] for m in METHODS],
        "warm": {"pca", "umap joint"}}
QUICK = {"N": (1000,), "methods": ["pca", "umap joint"], "warm": {"pca", "umap joint"}}


def build_run(store: Path, n: int) -> str:
    """Train the demo preset with ``snapshot_points = n`` (enough synthetic data for both halves)."""
    import torch

    from proxylab.train import TrainConfig, Trainer, preset

    values = preset(PRESET)
    values["snapshot_points"] = n
    values["data_params"] = {"samples_per_mode": max(100, math.ceil(n / 6))}  # 18 modes: 3n samples in all
    values["device"] = "cpu"
    torch.manual_seed(0)
    name = f"demo-{n}"
    Trainer(TrainConfig.from_dict(values), store, name, progress=False).run()
    return name


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    t_start = time.perf_counter()
    from proxylab.projection import cached_projection, project_run
    from proxylab.store import open_run

    out: dict[str, Any] = {"import_proxylab_s": time.perf_counter() - t_start}
    run = open_run(spec["store"], spec["name"])
    steps = run.snapshot_steps()
    out["steps"] = len(steps)
    out["points"] = run.snapshot(steps[-1]).num_points
    method, params = spec["method"], spec["params"]
    if spec.get("hit_only"):
        t0 = time.perf_counter()
        hit = cached_projection(run, steps, method, params=params)
        out["cache_hit_s"] = time.perf_counter() - t0
        out["cache_found"] = hit is not None
        return out
    if method.startswith("umap"):
        t0 = time.perf_counter()
        import umap  # noqa: F401

        out["import_umap_s"] = time.perf_counter() - t0
    # The last computing call writes the cache (the folder is empty: ``use_cache=True`` computes, then saves;
    # the write is a few ms of npz), so no projection is computed more often than it is timed.
    warm = bool(spec.get("warm"))
    t0 = time.perf_counter()
    project_run(run, steps, method, params=params, use_cache=not warm)
    out["first_s"] = time.perf_counter() - t0
    if warm:
        t0 = time.perf_counter()
        project_run(run, steps, method, params=params, use_cache=True)
        out["warm_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    project_run(run, steps, method, params=params, use_cache=True)
    out["cache_hit_s"] = time.perf_counter() - t0
    out["worker_total_s"] = time.perf_counter() - t_start
    return out


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    store = Path(tempfile.mkdtemp(prefix="proxylab-bench-proj-"))
    numba_dir = Path(tempfile.mkdtemp(prefix="proxylab-bench-numba-"))
    os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)  # inherited by the workers; empty: the first is cold
    rows = []
    try:
        for n in cfg["N"]:
            log(f"projection: training the {PRESET} demo run with {n} snapshot points")
            t0 = time.perf_counter()
            name = build_run(store, n)
            train_s = time.perf_counter() - t0
            cases = {}
            for label, method, params in METHODS:
                if label not in cfg["methods"]:
                    continue
                shutil.rmtree(store / name / "projections", ignore_errors=True)
                log(f"projection N={n}: {label}")
                spec = {"store": str(store), "name": name, "method": method, "params": params,
                        "warm": label in cfg["warm"]}
                res = run_worker("bench.projection", spec, timeout=3600)
                if "error" not in res:
                    hit = run_worker("bench.projection", {**spec, "hit_only": True})
                    res["cache_hit_fresh_process_s"] = hit.get("cache_hit_s")
                    res["cache_hit_fresh_process_wall_s"] = hit.get("process_wall_s")
                cases[label] = res
            rows.append({"N": n, "train_run_s": train_s, "cases": cases})
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(numba_dir, ignore_errors=True)
    exps = {}
    for label in cfg["methods"]:
        xs = [r["N"] for r in rows if "first_s" in r["cases"].get(label, {})]
        ys = [r["cases"][label]["first_s"] for r in rows if "first_s" in r["cases"].get(label, {})]
        exps[label] = fit_exponent(xs, ys)
    return {"config": {"N": list(cfg["N"]), "methods": cfg["methods"], "preset": PRESET},
            "rows": rows, "time_exponent_in_N": exps, "cold_note":
            "the first UMAP worker of the suite ran with an empty NUMBA_CACHE_DIR (full numba compilation)"}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    print(json.dumps(worker(json.loads(ap.parse_args().worker))))
    sys.stdout.flush()
