"""Export a run: CSV files of its time series and snapshots, or TensorBoard Embedding Projector files.

Torch-free: reads the run through :mod:`proxylab.store` only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

VECTOR_KEYS = ("proxy_grad", "proxy_grad_pull", "proxy_grad_push", "class_grad", "proxy_usage")


def _snapshot_frame(snap, class_names: list[str]) -> pd.DataFrame:
    emb = np.asarray(snap.embeddings)
    frame = pd.DataFrame(emb, columns=[f"e{i}" for i in range(emb.shape[1])])
    labels = np.asarray(snap.labels)
    frame.insert(0, "index", snap.index)
    frame.insert(1, "split", np.where(np.asarray(snap.split) == 0, "train", "test"))
    frame.insert(2, "label", labels)
    frame.insert(3, "class", [class_names[i] if 0 <= i < len(class_names) else str(i) for i in labels])
    frame.insert(4, "mode", snap.modes)
    frame.insert(5, "grad_norm", snap.grad_norm)
    return frame


def _proxy_frame(proxies: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    c, k, d = proxies.shape
    frame = pd.DataFrame(proxies.reshape(c * k, d), columns=[f"e{i}" for i in range(d)])
    frame.insert(0, "class", [class_names[i] if i < len(class_names) else str(i) for i in np.repeat(np.arange(c), k)])
    frame.insert(1, "label", np.repeat(np.arange(c), k))
    frame.insert(2, "sub_proxy", np.tile(np.arange(k), c))
    return frame


def export_run(run, out: str | Path, fmt: str) -> list[Path]:
    """Write the export of ``run`` (a :class:`proxylab.store.Run`) under ``out``; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(run.meta.get("dataset", {}).get("snapshot_class_names") or [])
    if fmt == "csv":
        return _export_csv(run, out, names)
    if fmt == "tensorboard":
        return _export_projector(run, out, names)
    raise ValueError(f"format must be one of 'csv', 'tensorboard', got {fmt!r}")


def _export_csv(run, out: Path, names: list[str]) -> list[Path]:
    written = []
    scalars = run.scalars()
    if len(scalars):
        scalars.to_csv(out / "scalars.csv")
        written.append(out / "scalars.csv")
    evals = run.evals()
    if len(evals):
        evals.to_csv(out / "evals.csv", index=False)
        written.append(out / "evals.csv")
    for key in VECTOR_KEYS:
        steps, values = run.vectors(key)
        if len(steps):
            frame = pd.DataFrame(values, index=pd.Index(steps, name="step"))
            frame.to_csv(out / f"vectors_{key}.csv")
            written.append(out / f"vectors_{key}.csv")
    for step in run.snapshot_steps():
        snap = run.snapshot(step)
        path = out / f"snapshot_{step:08d}.csv"
        _snapshot_frame(snap, names).to_csv(path, index=False)
        written.append(path)
        if snap.proxies is not None:
            path = out / f"proxies_{step:08d}.csv"
            _proxy_frame(np.asarray(snap.proxies), names).to_csv(path, index=False)
            written.append(path)
    return written


def _export_projector(run, out: Path, names: list[str]) -> list[Path]:
    """TensorBoard projector layout: one tensors.tsv + metadata.tsv per snapshot and a projector_config.pbtxt.

    Proxies are appended as extra rows with ``kind=proxy`` so they show up in the projector too.
    """
    written, config = [], []
    for step in run.snapshot_steps():
        snap = run.snapshot(step)
        folder = out / f"step_{step:08d}"
        folder.mkdir(exist_ok=True)
        frame = _snapshot_frame(snap, names)
        vectors = np.asarray(snap.embeddings, dtype=np.float32)
        meta = frame[["class", "label", "mode", "split", "index"]].assign(kind="sample", sub_proxy=-1)
        if snap.proxies is not None:
            proxies = _proxy_frame(np.asarray(snap.proxies), names)
            vectors = np.vstack([vectors, proxies.filter(regex=r"^e\d+$").to_numpy(np.float32)])
            meta = pd.concat([meta, proxies[["class", "label", "sub_proxy"]].assign(
                kind="proxy", mode=-1, split="proxy", index=-1)], ignore_index=True)
        np.savetxt(folder / "tensors.tsv", vectors, delimiter="\t", fmt="%.6g")
        meta[["class", "label", "mode", "split", "index", "kind", "sub_proxy"]].to_csv(
            folder / "metadata.tsv", sep="\t", index=False)
        written += [folder / "tensors.tsv", folder / "metadata.tsv"]
        config.append(f'embeddings {{\n  tensor_name: "{run.name} step {step}"\n'
                      f'  tensor_path: "{folder.name}/tensors.tsv"\n  metadata_path: "{folder.name}/metadata.tsv"\n}}\n')
    (out / "projector_config.pbtxt").write_text("".join(config))
    written.append(out / "projector_config.pbtxt")
    return written
