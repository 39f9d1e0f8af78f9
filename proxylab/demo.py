"""``proxylab demo``: train the teaching runs, precompute their projections, print what they show.

The runs (presets in :mod:`proxylab.train.presets`), all on the synthetic multi-centre data (6 classes × 3
interleaved modes) seen through a linear embedder:

- ``demo-single-proxy``: Proxy Anchor, K = 1 — one proxy cannot cover a class whose modes lie apart;
- ``demo-multi-proxy``: class-wise MPA (reconstruction), K = 4 — sub-proxies settle on the modes;
- ``demo-multi-proxy-so``: the same + soft orthogonality between classes — proxies spread toward the Welch floor;
- ``demo-data-wise``: data-wise MPA (reconstruction), K = 4 — each sample's gradient is bounded, not each proxy's;
- ``demo-sphere-single`` / ``demo-sphere-multi``: d = 3, for the native sphere view (no projection): 3 classes × 2
  modes on a ring, one proxy vs four per class.

The demo replaces earlier ``demo-*`` runs of the same names (never a run that is being written).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

DEMO_RUNS = {
    "demo-single-proxy": "single-proxy",
    "demo-multi-proxy": "multi-proxy",
    "demo-multi-proxy-so": "multi-proxy-so",
    "demo-data-wise": "data-wise",
    "demo-sphere-single": "sphere-single-proxy",
    "demo-sphere-multi": "sphere-multi-proxy",
}


def _clear_previous(store: Path) -> None:
    from .store import list_runs

    for summary in list_runs(store):
        if summary.name in DEMO_RUNS:
            if summary.status == "running":
                raise ValueError(f"run {summary.name!r} is being trained right now; wait for it or stop it first")
            shutil.rmtree(store / summary.name)


def _train_one(store: str, name: str, preset_name: str) -> str:
    import torch

    from .train import TrainConfig, Trainer, preset

    torch.set_num_threads(1)  # the runs are small: one core each, two runs side by side
    trainer = Trainer(TrainConfig.from_dict(preset(preset_name)), Path(store), name, progress=False)
    return str(trainer.run())


def train_demo_runs(store: Path, workers: int = 2) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_train_one, str(store), name, p): name for name, p in DEMO_RUNS.items()}
        with tqdm(total=len(futures), desc="training demo runs", unit="run", file=sys.stderr) as bar:
            for fut in as_completed(futures):
                fut.result()
                bar.set_postfix_str(futures[fut])
                bar.update(1)


def precompute_projections(store: Path) -> None:
    from tqdm.auto import tqdm

    from .projection import project_run
    from .store import open_run

    for name in tqdm(DEMO_RUNS, desc="projecting snapshots (PCA)", unit="run", file=sys.stderr):
        run = open_run(store, name)
        project_run(run, run.snapshot_steps(), method="pca", n_components=2)


def summary_table(store: Path) -> str:
    """The numbers the demo is meant to show, read back from the store."""
    from .store import open_run

    lines = [f"{'run':22s} {'loss':14s} {'K':>2s} {'SO':>5s} {'R@1':>6s} {'MAP@R':>6s} {'modes':>6s} "
             f"{'mean cos²':>9s} {'Welch':>6s} {'top10%':>7s}"]
    for name in DEMO_RUNS:
        run = open_run(store, name)
        cfg = run.meta["config"]
        ev = run.evals()
        last = ev[ev["step"] == ev["step"].max()]

        def metric(split, key):
            rows = last[(last["split"] == split) & (last["metric"] == key)]
            return float(rows["value"].iloc[0]) if len(rows) else float("nan")

        sc = run.scalars(["proxy/mean_sq_cos", "proxy/welch_floor", "sample_grad/top10_share"])
        tail = sc.tail(20).mean()
        lines.append(f"{name:22s} {cfg['loss']:14s} {cfg['proxies_per_class']:>2d} {cfg['so_weight']:>5g} "
                     f"{metric('test', 'R@1'):6.3f} {metric('test', 'MAP@R'):6.3f} "
                     f"{metric('train', 'mode_coverage'):6.2f} {tail['proxy/mean_sq_cos']:9.3f} "
                     f"{tail['proxy/welch_floor']:6.3f} {tail['sample_grad/top10_share']:7.3f}")
    return "\n".join(lines)


def run_demo(store: Path) -> None:
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _clear_previous(store)
    train_demo_runs(store)
    t_train = time.perf_counter() - t0
    precompute_projections(store)
    total = time.perf_counter() - t0
    print(summary_table(store))
    print(f"\n{len(DEMO_RUNS)} runs in {store} — trained in {t_train:.1f} s, projected in {total - t_train:.1f} s "
          f"({total:.1f} s in all).\nR@1 / MAP@R: held-out samples of the same classes; modes: fraction of true modes "
          "whose mean embedding is nearest to a proxy of its own class; mean cos²: off-diagonal proxy cosines, whose "
          "lowest possible value is the Welch floor; top10%: share of the batch's gradient held by its top 10% samples.")
