"""UMAP's first fit in a fresh process: proxylab's projection against a plain ``umap.UMAP().fit_transform`` on the
same points, in the same run.

The points: every snapshot of a real demo run (preset ``multi-proxy``, 500 points per snapshot, d = 8) stacked —
at most 6,000 points, which proxylab's default UMAP (``alignment="joint"``) fits whole (its cap is 6,000), so both
sides fit exactly the same rows. Each case is a fresh interpreter; numba's cache directory (``NUMBA_CACHE_DIR``) is emptied
before the first process of each side, so *cold* is what a user waits the very first time, and *second process*
what every later process waits (a dashboard server, a background projection job, a CLI call). *warm* repeats the
fit in the same process. proxylab turns on numba's on-disk cache for umap-learn's functions, which umap-learn
compiles without it (``proxylab.projection.import_umap``); plain umap-learn recompiles them in every process.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from .common import log, run_worker

POINTS = {"full": 500, "quick": 250}  # per snapshot; 12 snapshots
SIDES = ("plain", "proxylab")
JOINT_CAP = 6000  # proxylab.projection: the joint fit's default cap


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from proxylab.store import open_run

    run = open_run(spec["store"], spec["name"])
    steps = run.snapshot_steps()
    stacked = np.concatenate([run.snapshot(s).embeddings for s in steps]).astype(np.float32)
    out: dict[str, Any] = {"points": int(stacked.shape[0]), "dim": int(stacked.shape[1]), "steps": len(steps)}
    if stacked.shape[0] > JOINT_CAP:
        raise ValueError(f"{stacked.shape[0]} stacked points: proxylab would fit a subset of {JOINT_CAP}, not the same points")
    t0 = time.perf_counter()
    if spec["side"] == "plain":
        import umap

        out["import_umap_s"] = time.perf_counter() - t0

        def fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return umap.UMAP().fit_transform(stacked)
    else:
        from proxylab.projection import import_umap, project_run

        import_umap()
        out["import_umap_s"] = time.perf_counter() - t0

        def fit():
            return project_run(run, steps, "umap", params={"alignment": "joint"}, use_cache=False)
    for label in ("first_s", "warm_s"):
        t0 = time.perf_counter()
        fit()
        out[label] = time.perf_counter() - t0
    return out


def run(quick: bool) -> dict[str, Any]:
    import os

    from .projection import build_run

    per_step = POINTS["quick" if quick else "full"]
    store = Path(tempfile.mkdtemp(prefix="proxylab-bench-umap-"))
    numba_dir = Path(tempfile.mkdtemp(prefix="proxylab-bench-numba-"))
    os.environ["NUMBA_CACHE_DIR"] = str(numba_dir)  # inherited by the workers
    cases: dict[str, dict[str, Any]] = {}
    try:
        log(f"umap_start: training the demo run with {per_step} snapshot points")
        name = build_run(store, per_step)
        for side in SIDES:
            shutil.rmtree(numba_dir, ignore_errors=True)  # each side starts from an empty numba cache
            numba_dir.mkdir()
            for when in ("cold", "second_process"):
                log(f"umap_start: {side}, {when}")
                cases[f"{side} {when}"] = run_worker("bench.umap_start", {"store": str(store), "name": name,
                                                                          "side": side}, timeout=1800)
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(numba_dir, ignore_errors=True)
    return {"config": {"points_per_snapshot": per_step, "preset": "multi-proxy", "sides": list(SIDES),
                       "plain": "umap.UMAP().fit_transform(stacked snapshots)",
                       "proxylab": "project_run(run, steps, 'umap', alignment='joint')"}, "cases": cases}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    print(json.dumps(worker(json.loads(ap.parse_args().worker))))
    sys.stdout.flush()
