"""proxylab command line: train, demo, dashboard, list, eval, export, import, reproduce.

Errors print one line on stderr (``proxylab: error: …``) and exit with code 2; Ctrl-C exits with 130.
Heavy modules (torch) are imported inside the commands that need them, so ``proxylab list`` stays quick.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import TrainingError

# flag name → (config key, type); each flag overrides the preset/config file.
TRAIN_FLAGS = {
    "data": str, "data-root": str, "split": str, "model": str, "embedding-dim": int, "loss": str,
    "proxies-per-class": int, "so-weight": float, "so-scope": str, "optimizer": str, "lr": float,
    "weight-decay": float, "proxy-lr-multiplier": float, "lr-schedule": str, "warmup-epochs": float,
    "grad-clip": float, "steps": int, "classes-per-batch": int, "samples-per-class": int, "imbalance": float,
    "eval-every": int, "snapshot-points": int, "num-snapshots": int, "checkpoint-every": int, "seed": int,
    "device": str, "nan-policy": str,
}


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help="run store directory (default: $PROXYLAB_STORE or ./checkpoints)")


# Commands defined in their own modules: each exposes ``add_parser(subparsers) -> ArgumentParser`` and
# ``run(args) -> int``, and imports nothing heavy at module level (the parser is built on every call).
PLUGIN_COMMANDS = {
    "import": "proxylab.importing.cli",
    "reproduce": "proxylab.reproduce.cli",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="proxylab", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"proxylab {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train one run (preset, config file and/or flags)")
    _store_arg(t)
    t.add_argument("--name", help="run name (letters, digits, '.', '_', '-'); default: derived from the config")
    t.add_argument("--preset", help="start from a named preset (see --list-presets)")
    t.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    t.add_argument("--config", help="a .json or .toml file of TrainConfig keys")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="any config key, value as JSON (e.g. --set 'data_params={\"classes\": 8}')")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, typ in TRAIN_FLAGS.items():
        t.add_argument(f"--{flag}", type=typ, default=None)
    t.add_argument("--light-logging", action="store_true", help="log only loss and eval metrics (no per-step stats)")

    d = sub.add_parser("demo", help="train the teaching runs, precompute projections, open the dashboard")
    _store_arg(d)
    d.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard afterwards")
    d.add_argument("--port", type=int, default=8501)

    db = sub.add_parser("dashboard", help="start the Streamlit dashboard on the run store")
    _store_arg(db)
    db.add_argument("--port", type=int, default=8501)
    db.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default: localhost only; use 0.0.0.0 to expose it on your network)")

    ls = sub.add_parser("list", help="list the runs in the store")
    _store_arg(ls)

    ev = sub.add_parser("eval", help="print a run's latest evaluation metrics")
    _store_arg(ev)
    ev.add_argument("run")
    ev.add_argument("--json", action="store_true", help="metrics as JSON on stdout")

    ex = sub.add_parser("export", help="export a run's time series and snapshots")
    _store_arg(ex)
    ex.add_argument("run")
    ex.add_argument("--format", choices=["csv", "tensorboard"], required=True)
    ex.add_argument("--out", help="output directory (default: <run>/export-<format>)")

    for module in PLUGIN_COMMANDS.values():
        try:
            plugin = importlib.import_module(module)
        except ModuleNotFoundError as e:  # only a command whose module is absent is left out
            if e.name is None or not module.startswith(e.name):
                raise
            continue
        p = plugin.add_parser(sub)
        _store_arg(p)
        p.set_defaults(plugin=module)
    return ap


def store_dir(arg: str | None) -> Path:
    from .store import default_store

    return Path(arg) if arg else Path(default_store())


def cmd_train(a: argparse.Namespace) -> int:
    from .train import PRESETS, TrainConfig, Trainer, TrainingStopped, preset

    if a.list_presets:
        for name, values in sorted(PRESETS.items()):
            print(f"{name:18s} {json.dumps(values)}")
        return 0
    store = store_dir(a.store)
    if a.resume is not None:
        trainer = Trainer(None, store, a.resume, resume=True, progress=not a.no_progress)
    else:
        values = preset(a.preset) if a.preset else {}
        if a.config:
            values.update(TrainConfig.from_file(a.config).to_dict())
        for item in a.set:
            key, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"--set must look like KEY=JSON, got {item!r}")
            try:
                values[key.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                values[key.strip()] = raw  # a bare string
        for flag in TRAIN_FLAGS:
            v = getattr(a, flag.replace("-", "_"))
            if v is not None:
                values[flag.replace("-", "_")] = v
        if a.light_logging:
            values["full_logging"] = False
        if a.name is not None:  # an explicit name, even "", is checked (only a missing one gets the default)
            from .store import validate_run_name

            validate_run_name(a.name)
        trainer = Trainer(TrainConfig.from_dict(values), store, a.name, progress=not a.no_progress)
    if trainer.rank == 0:  # under torchrun only rank 0 speaks (and writes)
        ranks = f" × {trainer.world_size} processes" if trainer.world_size > 1 else ""
        print(f"training run {trainer.name!r} ({trainer.cfg.loss}, K={trainer.cfg.proxies_per_class}, "
              f"{trainer.cfg.steps} steps on {trainer.device}{ranks}) → {trainer.writer.path}", file=sys.stderr)
    try:
        path = trainer.run()
    except TrainingStopped as stop:  # a clean stop between two steps: say how to go on, once
        if trainer.rank == 0:
            store_flag = f" --store {store}" if a.store else ""
            print(f"proxylab: {stop}; resume with: proxylab train{store_flag} --resume {trainer.name}",
                  file=sys.stderr)
        return stop.exit_code
    if trainer.rank == 0:
        print(path)
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from .store import list_runs

    runs = list_runs(store_dir(a.store))
    if not runs:
        print(f"no runs in {store_dir(a.store)}")
        return 0
    print(f"{'run':44s} {'status':12s} {'loss':14s} {'K':>3s} {'step':>11s}  note")
    for r in runs:
        meta = r.meta or {}
        cfg = meta.get("config", {})
        prog = meta.get("progress", {})
        step = f"{prog.get('step', '?')}/{prog.get('total_steps', '?')}" if prog else "-"
        print(f"{r.name[:44]:44s} {r.status or 'unreadable':12s} {str(cfg.get('loss', meta.get('source', '-')))[:14]:14s} "
              f"{str(cfg.get('proxies_per_class', '-')):>3s} {step:>11s}  {r.error or ''}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from .store import open_run

    run = open_run(store_dir(a.store), a.run)
    evals = run.evals()
    result = {"run": run.name, "status": run.status, "step": None, "metrics": {}}
    if len(evals):
        last = int(evals["step"].max())
        rows = evals[evals["step"] == last]
        result["step"] = last
        for split, group in rows.groupby("split"):
            result["metrics"][split] = {m: float(v) for m, v in zip(group["metric"], group["value"])}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{run.name} ({run.status}), step {result['step']}")
        for split, metrics in result["metrics"].items():
            print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .export import export_run
    from .store import open_run

    run = open_run(store_dir(a.store), a.run)
    out = Path(a.out) if a.out else Path(run.path) / f"export-{a.format}"
    written = export_run(run, out, a.format)
    print(f"wrote {len(written)} files to {out}")
    return 0


def cmd_dashboard(a: argparse.Namespace) -> int:
    from .serve import serve_dashboard

    serve_dashboard(store_dir(a.store), a.port, a.host)  # replaces this process; returns only by raising
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo, start_umap_in_background
    from .serve import check_port, serve_dashboard

    if not a.no_dashboard:
        check_port(a.port)  # before a minute of training, not after
    store = store_dir(a.store)
    run_demo(store)
    if a.no_dashboard:
        return 0
    start_umap_in_background(store)
    serve_dashboard(store, a.port)  # replaces this process; returns only by raising
    return 0


COMMANDS = {"train": cmd_train, "list": cmd_list, "eval": cmd_eval, "export": cmd_export,
            "dashboard": cmd_dashboard, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if getattr(a, "plugin", None):
            return importlib.import_module(a.plugin).run(a)
        return COMMANDS[a.command](a)
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one process speaks
            print("proxylab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, TrainingError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"proxylab: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
