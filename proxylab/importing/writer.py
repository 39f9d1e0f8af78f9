"""Write imported embeddings (and proxies) as a read-only, finished run with evaluation metrics."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..store import RunError, RunWriter, atomic_write_json, run_dir, write_eval_images
from ..store.layout import RUN_JSON
from .common import ImportFileError, fill_hashes
from .embeddings import ImportedEmbeddings
from .images import MAX_IMAGES, thumbnails_from_paths
from .proxies import ImportedProxies

IMAGE_PATHS_FILE = "image_paths.json"
DEFAULT_KS = (1, 2, 4, 8)
#: beyond this many points in a split, retrieval metrics and NMI use this many random queries against all points
#: (20,000 queries: R@1's standard error ≤ 0.0036; never N × N. A 1,000,000 × 128 import of 12 classes took 290-727 s on
#: 2 cores (two hosts), most of it MAP@R's R ≈ 83,000 neighbours per query: BENCHMARKS.md section 5)
MAX_EVAL_QUERIES = 20_000


def _attach_proxies(data: ImportedEmbeddings, proxies: Sequence[ImportedProxies], names: Sequence[str],
                    notes: list[str]) -> None:
    snaps = data.snapshots
    if not proxies:
        return
    if len(proxies) == 1:
        targets = [snaps[-1]]
        if len(snaps) > 1:
            notes.append(f"proxies from {names[0]} attached to the last snapshot (step {snaps[-1].step}) only")
    elif len(proxies) == len(snaps):
        targets = list(snaps)
    else:
        raise ImportFileError(f"proxies: give 1 file (for the last snapshot) or one per snapshot "
                              f"({len(snaps)}), got {len(proxies)}")
    for snap, prox, name in zip(targets, proxies, names):
        if prox.proxies.shape[2] != snap.dim:
            raise ImportFileError(f"{name}: proxies have d={prox.proxies.shape[2]} (shape {prox.shape}), the "
                                  f"embeddings of step {snap.step} have d={snap.dim}")
        snap.proxies = prox.proxies


def _thumbnails(data: ImportedEmbeddings, notes: list[str], progress: bool) -> np.ndarray | None:
    """Thumbnails for the snapshot rows (row i of every snapshot ↔ image i), or None with a note why not."""
    lists = [s.image_paths for s in data.snapshots]
    if any(paths is None or list(paths) != list(lists[0]) for paths in lists):
        notes.append("no thumbnails: the snapshots do not all list the same images in the same order")
        return None
    if len(lists[0]) > MAX_IMAGES:
        notes.append(f"no thumbnails: {len(lists[0])} images, more than {MAX_IMAGES}")
        return None
    embeddings = [Path(s["path"]) for s in data.sources if s.get("role") == "embeddings"]
    base = embeddings[0].parent if embeddings else Path.cwd()
    images, missing = thumbnails_from_paths(lists[0], base, progress)
    if missing == len(images):
        notes.append(f"no thumbnails: none of the {missing} image paths could be read (relative to {base})")
        return None
    if missing:
        notes.append(f"thumbnails: {missing} of {len(images)} image files could not be read (shown grey)")
    return images


def snapshot_metrics(snap, has_split: bool, ks: Sequence[int] = DEFAULT_KS, notes: list[str] | None = None,
                     max_queries: int | None = None) -> dict[str, dict[str, float]]:
    """Evaluation metrics of one imported snapshot: ``{split: {metric: value}}``.

    Splits are ``train`` and ``test`` when the input had a split column, else ``test`` (every row).
    Metrics come from :func:`proxylab.metrics.evaluate` (R@k, P@k, nDCG@k, RP, MAP@R, NMI and, when
    the snapshot has proxies whose classes the labels index and modes are known, mode coverage). Cut-offs
    k larger than the candidates per query are dropped with a note; a split with fewer than 2 points is skipped.
    A split of more than `max_queries` points (None: :data:`MAX_EVAL_QUERIES`) is scored on that many random
    queries, each against the whole split (``evaluate(max_queries=...)``), with a note.
    """
    from ..metrics import evaluate, feasible_ks, missing_ks_note

    notes = notes if notes is not None else []
    max_queries = MAX_EVAL_QUERIES if max_queries is None else max_queries
    groups = [("train", snap.split == 0), ("test", snap.split == 1)] if has_split else [
        ("test", np.ones(len(snap.labels), bool))]
    out: dict[str, dict[str, float]] = {}
    for split, sel in groups:
        n = int(sel.sum())
        usable, missing = feasible_ks(ks, n)
        if n < 2 or not usable:
            if n:
                notes.append(f"step {snap.step} {split}: {n} point(s), too few for retrieval metrics")
            continue
        if missing:
            notes.append(f"step {snap.step} {missing_ks_note(split, n, missing)}")
        labels, modes = snap.labels[sel], snap.modes[sel]
        prox = snap.proxies
        use_prox = prox is not None and bool((modes >= 0).any()) and int(labels.max()) < prox.shape[0]
        if n > max_queries:
            notes.append(f"step {snap.step} {split}: retrieval metrics and NMI over {max_queries:,} random queries "
                         f"of {n:,}, each against all {n:,}")
        metrics = evaluate(snap.embeddings[sel], labels, modes=modes if use_prox else None,
                           proxies=prox if use_prox else None, ks=usable, max_queries=max_queries)
        out[split] = {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}
    return out


def _meta_or_empty(path: Path) -> dict[str, Any]:
    from ..store.reader import read_meta

    try:
        return read_meta(path)
    except RunError:
        return {}


def unfinished_import(path: Path) -> bool:
    """Whether the run at `path` is an import that did not finish (failed, or killed while writing): a new import
    of that name replaces it without ``--overwrite``."""
    if not (path / RUN_JSON).is_file():
        return False
    meta = _meta_or_empty(path)
    return meta.get("source") == "import" and meta.get("status") != "finished"


def import_run(store: str | os.PathLike, name: str, data: ImportedEmbeddings, *,
               proxies: Sequence[ImportedProxies] = (), proxy_sources: Sequence[dict[str, Any]] = (),
               extra_sources: Sequence[dict[str, Any]] = (), config: dict[str, Any] | None = None,
               ks: Sequence[int] = DEFAULT_KS, overwrite: bool = False, description: str | None = None,
               thumbnails: bool = True, progress: bool = False,
               on_playable: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` as the read-only run ``store/name``; returns its folder.

    Parameters
    ----------
    store, name : path, str
        Run store and run name (validated).
    data : ImportedEmbeddings
        From :func:`read_embeddings` or :func:`embed_checkpoint`.
    proxies : sequence of ImportedProxies
        One (attached to the last snapshot) or one per snapshot (in step order); they replace proxies
        found inside the embeddings files.
    proxy_sources, extra_sources : sequence of dict
        File records (:func:`proxylab.importing.common.file_record`) of the proxies and of anything else
        read (checkpoint, dataset), for ``imported_from``.
    config : dict, optional
        What is known about the training (loss, model, K, …); merged into the run's config.
    ks : sequence of int
        Cut-offs for R@k, P@k, nDCG@k.
    overwrite : bool
        Replace an existing *imported* run of that name (a trained run is never replaced).
    description : str, optional
        One line for the dataset description.
    thumbnails : bool, default=True
        When the rows name image files (the same list in every snapshot), store letterboxed thumbnails of
        them for the dashboard; relative paths resolve against the embeddings file's folder. Off for
        uploads: a path in an untrusted file must not make the server read its own files.
    progress : bool, default=False
        Progress bars while reading the images and computing the metrics.
    on_playable : callable, optional
        Called with the run's folder once every snapshot is written: from then on the dashboard plays the run
        (status ``running``) while the metrics are computed, last step first, each step committed when done.

    Returns
    -------
    Path

    Raises
    ------
    ImportFileError, RunError
        Proxies whose d differs from the embeddings', a name that is taken, bad metrics input.
    """
    path = run_dir(store, name)
    if (path / RUN_JSON).exists():
        retry = unfinished_import(path)  # a retry replaces its own failed or killed attempt
        overwrite = overwrite or retry
        if not overwrite:
            raise RunError(f"run {name} already exists in {store}; pick another --name or pass --overwrite")
        old = _meta_or_empty(path)
        if old.get("source") != "import":
            raise RunError(f"run {name} in {store} was not imported (source {old.get('source')!r}); --overwrite "
                           "only replaces imported runs")
    notes = list(data.notes)
    _attach_proxies(data, list(proxies), [s.get("path", "proxies") for s in proxy_sources] or ["proxies"] * len(proxies),
                    notes)
    for snap in data.snapshots:
        if snap.proxies is not None and snap.proxies.shape[2] != snap.dim:
            raise ImportFileError(f"{snap.source}: proxies have d={snap.proxies.shape[2]}, embeddings have d={snap.dim}")

    last = data.snapshots[-1]
    k_values = sorted({int(s.proxies.shape[1]) for s in data.snapshots if s.proxies is not None})
    c_values = sorted({int(s.proxies.shape[0]) for s in data.snapshots if s.proxies is not None})
    split = last.split
    cfg = {"loss": None, "proxies_per_class": k_values[0] if len(k_values) == 1 else None,
           "num_proxy_classes": c_values[0] if len(c_values) == 1 else None,
           "embedding_dim": data.dim, "data": "import", "model": None, "eval_ks": list(ks), "imported": True,
           }
    cfg.update(config or {})
    cfg = {k: v for k, v in cfg.items() if v is not None}  # unknown stays absent ('proxylab list' shows the source)
    has_images = any(s.image_paths is not None for s in data.snapshots)
    thumbs = _thumbnails(data, notes, progress) if has_images and thumbnails else None
    names = list(data.class_names)
    meta = {
        "source": "import",
        "read_only": True,
        "imported_from": [*data.sources, *proxy_sources, *extra_sources],
        "config": cfg,
        "dataset": {
            "name": "import", "split": "train/test" if data.has_split else "none (every row evaluated as test)",
            "class_names": names, "snapshot_class_names": names, "mode_names": list(data.mode_names),
            "has_modes": data.has_modes, "input_shape": [data.dim],
            "num_train": int((split == 0).sum()) if data.has_split else 0, "num_test": int((split == 1).sum()),
            "description": description or f"imported embeddings: {len(last.labels)} points, d={data.dim}, "
                                          f"{len(names)} classes, {len(data.snapshots)} snapshot(s)",
            "image_paths_file": IMAGE_PATHS_FILE if has_images else None,
        },
        "progress": {"step": last.step, "total_steps": last.step or None},
        "snapshot_steps": [s.step for s in data.snapshots],
        "import_notes": notes,
    }
    # Snapshots first: the run plays in the dashboard (status running) while its exact metrics are computed, last
    # step first (the step a page opens on), each committed as it is done.
    with RunWriter.create(store, name, meta, exist_ok=overwrite) as writer:
        for snap in data.snapshots:
            writer.write_snapshot(snap.step, embeddings=snap.embeddings, labels=snap.labels, modes=snap.modes,
                                  split=snap.split, index=snap.index, grad_norm=snap.grad_norm,
                                  proxies=snap.proxies, durable=False)  # fsync'd below, once the run plays
        if has_images:
            atomic_write_json(writer.path / IMAGE_PATHS_FILE,
                              {str(s.step): s.image_paths for s in data.snapshots if s.image_paths is not None})
        if thumbs is not None:
            write_eval_images(writer.path, thumbs)
        writer.flush()
        if on_playable is not None:
            on_playable(writer.path)
        writer.sync_snapshots()  # durable before the run can be marked finished
        writer.update_meta(imported_from=fill_hashes(meta["imported_from"]))  # provenance: each input's SHA-256
        from tqdm.auto import tqdm

        order = sorted(data.snapshots, key=lambda s: s.step, reverse=True)
        for snap in tqdm(order, desc="metrics (last step first)", unit="snapshot", disable=not progress, leave=False):
            for split_name, metrics in snapshot_metrics(snap, data.has_split, ks, notes).items():
                writer.log_eval(snap.step, split_name, metrics)
            writer.flush()
        writer.update_meta(import_notes=notes)
        writer.set_status("finished")
    return writer.path
