"""``proxylab demo``: train the teaching runs, precompute their projections, print what they show.

The runs (registered with the scenes that show them in :mod:`proxylab.lessons`; presets in
:mod:`proxylab.train.presets`), each tagged in ``run.json`` with the lesson roles it plays (the dashboard's pages and
its Lessons page open on these tags, never on "the newest run"):

- ``demo-single-proxy`` / ``demo-two-proxies``: Proxy Anchor with one proxy per class vs class-wise MPA
  (reconstruction) with K = 2, on the sphere (d = 3, no projection): 3 classes x 2 modes 104° apart (the
  ``triads`` layout), the data fixed (``identity`` model) so that only the proxies move, δ = 0.7 — one proxy sits
  between its class's two modes and a quarter to a half of every mode's samples are nearer another class's proxy;
  two sub-proxies land one on each mode;
- ``demo-multi-proxy``: class-wise MPA with K = 4 on 6 classes x 2 antipodal modes through a linear embedder,
  d = 8 — two sub-proxies of each class take its modes, two are spare (sub-proxy usage);
- ``demo-small-margin``: the multi-proxy run with Proxy Anchor's default δ = 0.1 — the proxies float away;
- ``demo-multi-proxy-so``: the multi-proxy run + soft orthogonality over all proxy pairs (n = C·K = 24 > d = 8);
- ``demo-data-wise``: the multi-proxy run with the data-wise loss ``mpa_dw`` (reconstruction) — only the loss
  differs, so their gradient concentration can be compared;
- ``demo-proxy-nca`` / ``demo-triplet``: ProxyNCA vs a semi-hard triplet baseline, same MLP, data and budget,
  each with the settings that suit it (see the presets), at seeds 0, 1 and 2 (``-s1``, ``-s2``).

The demo replaces earlier ``demo-*`` runs of the same names (never a run that is being written).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from .lessons import demo_runs

#: run name → (preset, lesson role tags written to run.json, seed): derived from the lessons' registry
DEMO_RUNS = demo_runs()


def _clear_previous(store: Path) -> None:
    from .projection_jobs import JOBS_DIR
    from .store import list_runs

    for summary in list_runs(store):
        if summary.name in DEMO_RUNS:
            if summary.status == "running":
                raise ValueError(f"run {summary.name!r} is being trained right now; wait for it or stop it first")
            shutil.rmtree(store / summary.name)
            for status in (store / JOBS_DIR).glob(f"{summary.name}.*.json"):  # its old projection job's word
                status.unlink()


def _train_one(store: str, name: str, preset_name: str, tags: tuple[str, ...], seed: int) -> str:
    import torch

    from .train import TrainConfig, Trainer, preset

    torch.set_num_threads(1)  # the runs are small: one core each, two runs side by side
    config = TrainConfig.from_dict({**preset(preset_name), "seed": seed})
    trainer = Trainer(config, Path(store), name, progress=False, tags=tags)
    return str(trainer.run())


def train_demo_runs(store: Path, workers: int = 2) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_train_one, str(store), name, p, tags, seed): name
                   for name, (p, tags, seed) in DEMO_RUNS.items()}
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
    import numpy as np

    from .store import open_run

    from .geometry import wrong_proxy_share_by_mode

    lines = [f"{'run':22s} {'loss':14s} {'K':>2s} {'SO':>5s} {'R@1':>6s} {'MAP@R':>6s} {'modes':>6s} {'lost':>5s} "
             f"{'mean cos²':>9s} {'Welch':>6s} {'top10%':>7s}"]
    for name in DEMO_RUNS:
        run = open_run(store, name)
        cfg = run.meta["config"]
        ev = run.evals()
        last = ev[ev["step"] == ev["step"].max()]

        def metric(split, key):
            rows = last[(last["split"] == split) & (last["metric"] == key)]
            return float(rows["value"].iloc[0]) if len(rows) else float("nan")

        keys = ["proxy/mean_sq_cos", "proxy/welch_floor", "sample_grad/top10_share"]
        tail = run.scalars(keys).tail(20).mean()
        # the triplet baseline has no proxies: NaN there
        mean_sq, welch, top10 = (float(tail[k]) if k in tail else float("nan") for k in keys)
        snap = run.snapshot(run.snapshot_steps()[-1])
        lost = (np.mean(list(wrong_proxy_share_by_mode(snap.embeddings, snap.labels, snap.modes, snap.proxies)
                             .values())) if snap.proxies is not None else float("nan"))
        lines.append(f"{name:22s} {cfg['loss']:14s} {cfg['proxies_per_class']:>2d} {cfg['so_weight']:>5g} "
                     f"{metric('test', 'R@1'):6.3f} {metric('test', 'MAP@R'):6.3f} "
                     f"{metric('train', 'mode_coverage'):6.2f} {lost:5.2f} {mean_sq:9.3f} {welch:6.3f} {top10:7.3f}")
    return "\n".join(lines)


def teaching_runs_without_umap(store: Path) -> list[str]:
    """The teaching runs in `store` with d > 3 (a run of d <= 3 is shown in its own space) whose 2-D UMAP of every
    snapshot is not cached yet (reads caches, computes nothing, imports no umap)."""
    from .projection import cached_projection
    from .store import RunError, open_run

    missing = []
    for name in DEMO_RUNS:
        try:
            run = open_run(store, name)
            wide = (run.meta.get("config") or {}).get("embedding_dim", 0) > 3
            if wide and cached_projection(run, run.snapshot_steps(), "umap", 2) is None:
                missing.append(name)
        except (RunError, ValueError, TypeError):
            continue  # not in this store, not readable, or no usable d: nothing to project
    return missing


def start_umap_in_background(store: Path) -> None:
    """Compute the teaching runs' UMAP that is not cached yet in a detached process while the dashboard starts (it
    opens on PCA and the Embedding page switches to UMAP when its run is ready)."""
    from .projection_jobs import start

    runs = teaching_runs_without_umap(Path(store))
    if not runs:
        return
    start(Path(store), runs, "umap", 2)
    print(f"UMAP of {len(runs)} teaching runs is being computed in the background (about a minute on 2 cores); "
          "the Embedding page shows PCA until a run's UMAP is ready, then switches to it.")


def compute_umap_now(store: Path) -> None:
    """The teaching runs' UMAP in this process (``proxylab demo --no-dashboard --umap``), with progress."""
    from .projection_jobs import run_jobs

    runs = teaching_runs_without_umap(Path(store))
    t0 = time.perf_counter()
    failed = run_jobs(Path(store), "umap", 2, runs)
    print(f"UMAP of {len(runs) - failed} teaching runs computed in {time.perf_counter() - t0:.0f} s"
          + (f"; {failed} failed (see {Path(store) / '.projection-jobs'})" if failed else ""))


NO_UMAP_NOTE = ("UMAP of the teaching runs is not computed with --no-dashboard: `proxylab dashboard` starts it in the "
                "background when it opens (about a minute on 2 cores; PCA meanwhile), or add --umap to compute it now.")


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
          "whose mean embedding is nearest to a proxy of its own class; lost: share of a mode's samples nearer "
          "another class's proxy (mean over modes, final snapshot); mean cos²: off-diagonal proxy cosines, whose "
          "lowest possible value is the Welch floor; top10%: share of the batch's gradient held by its top 10% samples.")
