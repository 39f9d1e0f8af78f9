"""Train (or reuse) the reproduction's runs, two at a time, with a progress bar over runs.

Each trained run gets one extra evaluation at step 0 — the untrained embedder, the baseline of every curve —
before :meth:`proxylab.train.Trainer.run`. Runs are written to the run store under their spec's name; a finished
run whose config and spec already match is reused unless ``retrain`` is set (``--retrain``), any other run of that
name is replaced (never one that is being written).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .plan import RunSpec


def _spec_meta(spec: RunSpec) -> dict[str, Any]:
    return {"experiment": spec.experiment, "variant": spec.variant, "seed": spec.seed, "kind": spec.kind,
            "labels": dict(spec.labels)}


def train_spec(store: str, spec: RunSpec, threads: int = 1) -> dict[str, Any]:
    """Train one run (in this process); returns its name and wall seconds."""
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if spec.kind == "baseline":
        write_baseline(Path(store), spec)
    else:
        from ..train import TrainConfig, Trainer

        trainer = Trainer(TrainConfig.from_dict(spec.config), Path(store), spec.name, progress=False)
        trainer.writer.update_meta(reproduce=_spec_meta(spec))
        trainer.evaluate(0)  # the untrained embedder (same seed, same weights): step 0 of every curve
        trainer.run()
    return {"name": spec.name, "seconds": time.perf_counter() - t0}


def write_baseline(store: Path, spec: RunSpec) -> None:
    """A run holding the zero-shot retrieval metrics of raw pixels or of their PCA (fitted on the train split,
    digits 0-4), computed with :func:`proxylab.metrics.evaluate` on the test split (digits 5-9)."""
    import numpy as np
    from sklearn.decomposition import PCA

    from ..data import make_dataset
    from ..metrics import evaluate, feasible_ks, missing_ks_note
    from ..store import RunWriter

    cfg = spec.config
    data = make_dataset(cfg["data"], split=cfg["split"], seed=cfg["seed"])
    train_x = np.asarray(data.train.get_batch(np.arange(len(data.train.labels)))[0]).reshape(len(data.train.labels), -1)
    test_x = np.asarray(data.test.get_batch(np.arange(len(data.test.labels)))[0]).reshape(len(data.test.labels), -1)
    if cfg["features"] == "pca":
        pca = PCA(n_components=cfg["pca_dim"], svd_solver="full").fit(train_x)
        train_e, test_e = pca.transform(train_x), pca.transform(test_x)
    else:
        train_e, test_e = train_x, test_x
    info = dict(data.info)
    info["snapshot_class_names"] = list(data.train.class_names) + list(data.test.class_names)
    info["num_train_classes"] = len(data.train.class_names)
    config = {**cfg, "model": cfg["features"], "loss": "none", "proxies_per_class": 0, "so_weight": 0.0,
              "embedding_dim": int(test_e.shape[1]), "steps": 0}
    meta = {"config": config, "seed": cfg["seed"], "dataset": info, "reproduce": _spec_meta(spec),
            "progress": {"step": 0, "total_steps": 0}}
    notes = []
    with RunWriter.create(store, spec.name, meta) as w:
        for split, emb, ds in (("test", test_e, data.test), ("train", train_e, data.train)):
            ks, missing = feasible_ks(cfg["eval_ks"], len(emb))
            if missing:
                notes.append(missing_ks_note(split, len(emb), missing))
            if ks:
                metrics = evaluate(emb.astype(np.float32), np.asarray(ds.labels), ks=ks)
                w.log_eval(0, split, {k: float(v) for k, v in metrics.items()})
        if notes:
            w.update_meta(eval_notes=notes)
        w.write_snapshot(0, embeddings=np.concatenate([train_e, test_e]).astype(np.float32),
                         labels=np.concatenate([data.train.labels, np.asarray(data.test.labels)
                                                + len(data.train.class_names)]).astype(np.int64),
                         split=np.concatenate([np.zeros(len(train_e)), np.ones(len(test_e))]).astype(np.int8),
                         index=np.concatenate([np.arange(len(train_e)), np.arange(len(test_e))]).astype(np.int64))
        w.set_status("finished")


def _reusable(store: Path, spec: RunSpec) -> bool | None:
    """True: a finished run matching ``spec`` exists; False: nothing (or something stale) is there; None: it is
    being written right now."""
    from ..store import RunError, open_run

    if not (store / spec.name).exists():
        return False
    try:
        run = open_run(store, spec.name)
    except RunError:
        return False
    if run.status == "running":
        return None
    if run.status != "finished" or run.meta.get("reproduce") != _spec_meta(spec):
        return False
    if spec.kind == "baseline":
        return {k: run.config.get(k) for k in spec.config} == spec.config
    from ..train import TrainConfig

    return run.config == TrainConfig.from_dict(spec.config).to_dict()


def run_plan(store: Path, specs: list[RunSpec], workers: int = 2, retrain: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Make every spec's run exist in ``store``; returns {trained: [...], reused: [...], seconds: {name: s}}."""
    from tqdm.auto import tqdm

    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    todo, reused = [], []
    for spec in specs:
        state = False if retrain else _reusable(store, spec)
        if state is None:
            raise ValueError(f"run {spec.name!r} is being trained right now; wait for it or stop it first")
        if state:
            reused.append(spec.name)
            continue
        if (store / spec.name).exists():
            from ..store import RunError, open_run

            try:
                if open_run(store, spec.name).status == "running":
                    raise ValueError(f"run {spec.name!r} is being trained right now; wait for it or stop it first")
            except RunError:
                pass
            shutil.rmtree(store / spec.name)
        todo.append(spec)
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(specs), initial=len(reused), desc="reproduce: runs", unit="run", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(todo) <= 1:
            for spec in todo:
                seconds[spec.name] = train_spec(str(store), spec)["seconds"]
                bar.set_postfix_str(spec.name[6:], refresh=False)
                bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from multiprocessing import get_context

            # the longest runs first, so that the two workers finish together
            todo.sort(key=lambda s: -(s.config.get("steps", 0) * (2 if s.config.get("model") == "mlp" else 1)))
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(train_spec, str(store), spec): spec for spec in todo}
                for fut in as_completed(futures):
                    result = fut.result()
                    seconds[result["name"]] = result["seconds"]
                    bar.set_postfix_str(result["name"][6:], refresh=False)
                    bar.update(1)
    finally:
        bar.close()
    return {"trained": [s.name for s in todo], "reused": reused, "seconds": seconds}
