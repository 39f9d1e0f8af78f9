"""``proxylab import``: make a read-only run from embeddings, proxies or a checkpoint trained elsewhere.

Examples::

    proxylab import emb.parquet --proxies loss_state.pt --name cub-pa
    proxylab import export-csv/                      # a folder written by 'proxylab export'
    proxylab import --checkpoint model.pt --arch resnet50 --data imagefolder --data-root ./images

Nothing heavy is imported at module level (the CLI builds every plugin's parser on each call).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``import`` sub-command to ``subparsers``; returns its parser (``cli.py`` adds ``--store``)."""
    p = subparsers.add_parser(
        "import", help="import embeddings / proxies / a checkpoint trained elsewhere as a read-only run",
        description="Create a read-only run from embeddings files (.npz, .parquet, .csv, TensorBoard projector "
                    "tensors.tsv + metadata.tsv, or a 'proxylab export' folder), optional proxies (.npy/.npz/.csv "
                    "or a PyTorch loss state dict: pytorch-metric-learning ProxyAnchor/ProxyNCA 'proxies', "
                    "SoftTriple 'fc', proxylab 'proxies'), or a model checkpoint applied to a local dataset. "
                    "Evaluation metrics are computed and stored; nothing is unpickled.")
    p.add_argument("inputs", nargs="*", metavar="EMBEDDINGS", help="embeddings files or folders (several: one "
                   "snapshot each, or per 'step' column)")
    p.add_argument("--name", help="run name (default: import-<first input's name>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing imported run of that name")
    p.add_argument("--proxies", action="append", default=[], metavar="FILE",
                   help="proxies file; once (for the last snapshot) or once per snapshot")
    p.add_argument("--proxies-key", metavar="KEY", help="state-dict key / .npz array holding the proxies")
    p.add_argument("--proxies-per-class", type=int, metavar="K", help="K, to split flat (C*K, d) proxies or "
                   "SoftTriple's fc (default for fc: columns / number of classes)")
    p.add_argument("--loss", help="record the loss the proxies were trained with (shown in the run list)")
    p.add_argument("--ks", default="1,2,4,8", help="cut-offs for R@k, P@k, nDCG@k (default 1,2,4,8)")
    c = p.add_argument_group("checkpoint + local dataset (proxylab computes the embeddings)")
    c.add_argument("--checkpoint", metavar="FILE", help="model state dict (torch.load weights_only=True)")
    c.add_argument("--arch", help="torchvision architecture of the checkpoint (e.g. resnet50)")
    c.add_argument("--model-config", metavar="FILE", help="proxylab model config JSON (or a run.json)")
    c.add_argument("--data", help="dataset name (imagefolder, features, …)")
    c.add_argument("--data-root", metavar="PATH", help="dataset folder or file")
    c.add_argument("--data-params", default="{}", metavar="JSON", help="dataset parameters as JSON, e.g. "
                   "'{\"image_size\": 224}'")
    c.add_argument("--split", choices=["zero-shot", "per-sample"], help="train/test split of the dataset")
    c.add_argument("--max-points", type=int, default=4000, help="points embedded per split (0: all; default 4000)")
    c.add_argument("--batch-size", type=int, default=128)
    c.add_argument("--input-norm", choices=["imagenet", "none"],
                   help="input normalisation (default: imagenet for --arch, none for proxylab models)")
    c.add_argument("--device", default="cpu")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(v) for v in str(text).split(",") if v.strip()}))
    except ValueError:
        raise ValueError(f"--ks must be comma-separated ints >= 1, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--ks must be comma-separated ints >= 1, got {text!r}")
    return ks


def default_name(store: Path, hint: str) -> str:
    """``import-<hint>`` made a valid run name, with ``-2``, ``-3`` … appended if taken (by anything but an
    import that did not finish, which the new import replaces)."""
    from .writer import unfinished_import

    base = re.sub(r"[^A-Za-z0-9._-]+", "-", hint).strip("-._")[:60] or "run"
    base = re.sub(r"\.{2,}", ".", f"import-{base}")
    name, i = base, 2
    while (store / name).exists() and not unfinished_import(store / name):  # a retry takes its failed attempt's
        name, i = f"{base}-{i}", i + 1
    return name


def run_import(a: argparse.Namespace, store: Path, log=print) -> Path:
    """Do what the parsed ``proxylab import`` arguments ask; returns the new run's folder."""
    from .common import ImportFileError, file_record

    ks = _parse_ks(a.ks)
    if a.proxies_per_class is not None and a.proxies_per_class < 1:
        raise ImportFileError(f"--proxies-per-class must be >= 1, got {a.proxies_per_class}")
    if not a.inputs and not a.checkpoint:
        raise ImportFileError("give embeddings files (EMBEDDINGS ...) or --checkpoint with --data")
    if a.inputs and a.checkpoint:
        raise ImportFileError("give either embeddings files or --checkpoint, got both")
    config: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    proxies, proxy_sources = [], []
    if a.checkpoint:
        if not a.data:
            raise ImportFileError("--checkpoint needs --data (and usually --data-root) to embed a local dataset")
        try:
            data_params = json.loads(a.data_params)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"--data-params must be a JSON object, got {a.data_params!r} ({exc.msg})") from None
        if not isinstance(data_params, dict):
            raise ImportFileError(f"--data-params must be a JSON object, got {a.data_params!r}")
        from .checkpoint import embed_checkpoint

        data, ckpt_proxies, config, extra = embed_checkpoint(
            a.checkpoint, data=a.data, data_root=a.data_root, data_params=data_params, split=a.split, seed=a.seed,
            arch=a.arch, model_config=a.model_config, input_norm=a.input_norm, batch_size=a.batch_size,
            max_points=a.max_points or None, device=a.device, progress=not a.no_progress)
        if ckpt_proxies is not None and not a.proxies:
            proxies.append(ckpt_proxies)
            proxy_sources.append({**extra[0], "role": "proxies", "key": ckpt_proxies.key, "layout": ckpt_proxies.layout})
        ckpt = Path(a.checkpoint)
        hint = ckpt.parent.parent.name if ckpt.parent.name == "weights" else ckpt.stem
    else:
        from .embeddings import read_embeddings

        data = read_embeddings(a.inputs)
        first = Path(a.inputs[0])
        hint = first.stem if first.is_file() else first.resolve().name
    if a.proxies:
        from .proxies import read_proxies

        num_classes = len(data.class_names)
        for f in a.proxies:
            res = read_proxies(f, key=a.proxies_key, num_classes=num_classes, proxies_per_class=a.proxies_per_class,
                               embedding_dim=data.dim)
            proxies.append(res)
            proxy_sources.append({**file_record(Path(f).expanduser(), "proxies", res.format), "key": res.key,
                                  "layout": res.layout})
            if "SoftTriple" in res.layout and not a.loss:
                config.setdefault("loss_hint", "soft_triple")
    if a.loss:
        config["loss"] = a.loss
    from .writer import import_run

    name = a.name or default_name(store, hint)
    path = import_run(store, name, data, proxies=proxies, proxy_sources=proxy_sources, extra_sources=extra,
                      config=config, ks=ks, overwrite=a.overwrite, progress=not a.no_progress,
                      on_playable=lambda p: log(f"run {p.name!r} plays in the dashboard now; computing its metrics "
                                                "(last step first)"))
    snaps = data.snapshots
    n_prox = sum(s.proxies is not None for s in snaps)
    log(f"imported {len(snaps)} snapshot(s) of {len(snaps[-1].labels)} points, d={data.dim}, "
        f"{len(data.class_names)} classes" + (f", proxies {snaps[-1].proxies.shape}" if snaps[-1].proxies is not None
                                               else "") + f" ({n_prox} snapshot(s) with proxies) as run {name!r}")
    from ..store import open_run

    for note in (open_run(store, name).meta.get("import_notes") or [])[:10]:
        log(f"  {note}")
    for src in proxy_sources:
        log(f"  proxies: {src['path']} [{src.get('key') or '-'}] {src['layout']}")
    return path


def run(args: argparse.Namespace) -> int:
    """Entry point of ``proxylab import``; errors propagate as ValueError (one line, exit 2 in cli.main)."""
    from ..store import default_store
    from ..store.reader import open_run
    from ..summary import final_metrics, metrics_table

    store = Path(args.store) if args.store else Path(default_store())
    path = run_import(args, store, log=lambda msg: print(msg, file=sys.stderr))
    _, metrics = final_metrics(open_run(store, path.name))
    for line in metrics_table(metrics):
        print(f"  {line}", file=sys.stderr)
    print(path)
    return 0
