"""Runs a user brings: the cost of logging a loop of one's own, and how soon an import plays.

``logging overhead`` (target ≤ 15 % per step)
    The README's pytorch-metric-learning loop (sklearn's digits, MLP 64 → 128 → 32, batch 128, Adam) in one
    process, switched every ``block_steps`` steps between the plain loop (``loss.backward()``) and the logged one
    (``RunLogger.backward``: per-group, per-proxy and per-sample gradient norms, their statistics a window at a
    time, the store's writes), alternating which goes first; ``blocks`` timed blocks per mode after 4 untimed
    pairs. Overhead = (median logged − median plain) / median plain. A snapshot (the 1,797 digits embedded, the
    proxies, per-sample gradients of the training points, retrieval metrics) is periodic work, timed on its own.
``import → first frame`` (target ≤ 3×)
    ``proxylab import`` of N points × d × 5 snapshot files (``read_embeddings`` + ``import_run``) until the run is
    playable (every snapshot on disk, ``on_playable``; its metrics follow, last step first), against reading the
    same five files with ``np.load`` and writing their arrays with ``np.savez`` alone; interleaved rounds, medians.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import log

FULL = {"blocks": 30, "block_steps": 50, "snapshots": 5, "import_points": 100_000, "import_dim": 64,
        "import_steps": 5, "import_rounds": 3}
QUICK = {"blocks": 6, "block_steps": 25, "snapshots": 2, "import_points": 20_000, "import_dim": 64,
         "import_steps": 5, "import_rounds": 2}
OVERHEAD_TARGET_PERCENT = 15.0
IMPORT_TARGET_RATIO = 3.0


def _digits():
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    test = torch.arange(len(y)) % 5 == 0
    return x, y, test


def _loop(loss_name: str, store: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    import torch
    from pytorch_metric_learning import losses

    from proxylab.tracking import RunLogger

    x, y, test = _digits()
    x_train, y_train = x[~test], y[~test]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32))
    loss_fn = {"ProxyAnchorLoss": lambda: losses.ProxyAnchorLoss(num_classes=10, embedding_size=32),
               "SoftTripleLoss": lambda: losses.SoftTripleLoss(num_classes=10, embedding_size=32,
                                                                centers_per_class=3)}[loss_name]()
    optimizer = torch.optim.Adam([{"params": model.parameters(), "lr": 1e-3},
                                  {"params": loss_fn.parameters(), "lr": 1e-2}])
    untimed = 4
    run = RunLogger(f"bench-{loss_name}", store=store, model=model, loss=loss_fn, eval_inputs=x, eval_labels=y,
                    eval_split=test.long(), overwrite=True)
    times: dict[bool, list[float]] = {True: [], False: []}
    step = 0
    for pair in range(cfg["blocks"] + untimed):
        for logged in ((True, False) if pair % 2 else (False, True)):
            t0 = time.perf_counter()
            for _ in range(cfg["block_steps"]):
                step += 1
                batch = torch.randint(0, len(y_train), (128,))
                emb = model(x_train[batch])
                loss = loss_fn(emb, y_train[batch])
                optimizer.zero_grad()
                if logged:
                    run.backward(loss, step=step, embeddings=emb, labels=y_train[batch])
                else:
                    loss.backward()
                optimizer.step()
            if logged:
                run.log_core.flush()  # the block's statistics are part of its cost
            if pair >= untimed:
                times[logged].append((time.perf_counter() - t0) / cfg["block_steps"])
    snapshot_s = []
    for i in range(cfg["snapshots"]):
        t0 = time.perf_counter()
        run.snapshot(step + i)
        snapshot_s.append(time.perf_counter() - t0)
    run.finish()
    logged_s, plain_s = statistics.median(times[True]), statistics.median(times[False])
    return {"loss": loss_name, "logged_ms_per_step": 1e3 * logged_s, "plain_ms_per_step": 1e3 * plain_s,
            "overhead_percent": 100 * (logged_s - plain_s) / plain_s,
            "paired_overhead_percent": 100 * statistics.median((a - b) / b for a, b in zip(times[True], times[False])),
            "snapshot_ms": 1e3 * statistics.median(snapshot_s), "snapshot_points": len(y),
            "logged_block_ms_per_step": [1e3 * t for t in times[True]],
            "plain_block_ms_per_step": [1e3 * t for t in times[False]]}


class _Playable(Exception):
    """Raised from ``on_playable`` to stop an import once it plays (its metrics are not what is timed)."""


def _import_first_frame(files: list[Path], store: Path) -> float:
    from proxylab.importing import import_run, read_embeddings

    t0 = time.perf_counter()
    played: list[float] = []

    def playable(_path):
        played.append(time.perf_counter() - t0)
        raise _Playable

    try:
        import_run(store, f"bench-import-{time.monotonic_ns()}", read_embeddings([str(f) for f in files]),
                   on_playable=playable)
    except _Playable:
        pass
    return played[0]


def _read_and_write(files: list[Path], out: Path) -> float:
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        with np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        np.savez(out / f"copy_{i}.npz", **arrays)
    return time.perf_counter() - t0


def _import(cfg: dict[str, Any], folder: Path) -> dict[str, Any]:
    n, d, steps = cfg["import_points"], cfg["import_dim"], cfg["import_steps"]
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 100
    files = []
    for s in range(steps):
        emb = (rng.normal(size=(n, d)) + (1 + s) * rng.normal(size=(100, d))[labels]).astype(np.float32)
        files.append(folder / f"step{s}.npz")
        np.savez(files[-1], embeddings=emb, labels=labels, split=(np.arange(n) % 2).astype(np.int8),
                 step=np.full(n, 100 * s))
    first, plain = [], []
    for r in range(cfg["import_rounds"]):
        for kind in (("import", "plain") if r % 2 == 0 else ("plain", "import")):
            store = folder / f"store-{r}-{kind}"
            store.mkdir()
            log(f"own_runs: import round {r + 1} {kind}")
            (first if kind == "import" else plain).append(
                _import_first_frame(files, store) if kind == "import" else _read_and_write(files, store))
            shutil.rmtree(store, ignore_errors=True)
    return {"points": n, "dim": d, "steps": steps, "first_frame_s": statistics.median(first),
            "read_write_s": statistics.median(plain), "ratio": statistics.median(first) / statistics.median(plain),
            "first_frame_rounds_s": first, "read_write_rounds_s": plain,
            "file_mb": sum(f.stat().st_size for f in files) / 2**20}


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="proxylab-bench-own-"))
    try:
        loops = []
        for name in ("ProxyAnchorLoss", "SoftTripleLoss"):
            log(f"own_runs: logging overhead, {name}")
            loops.append(_loop(name, folder / "store", cfg))
        imported = _import(cfg, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"config": cfg, "overhead_target_percent": OVERHEAD_TARGET_PERCENT,
            "import_target_ratio": IMPORT_TARGET_RATIO, "loops": loops, "import": imported}
