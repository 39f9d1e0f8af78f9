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
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import TrainingError

# flag → (type, what it sets); the config key is the flag with "_" for "-". build_parser adds the choices or the
# range (from TrainConfig.constraints and the registries) and the default (TrainConfig's) to each help text.
TRAIN_FLAGS = {
    "data": (str, "dataset"),
    "data-root": (str, "local folder or file of the dataset (for --data features: the .npz, .csv or .parquet file)"),
    "split": (str, "train/test split: disjoint classes (zero-shot) or the same classes on both sides (per-sample); "
                   "default: the dataset's own"),
    "test-fraction": (float, "share of every class held out for test by a per-sample split"),
    "model": (str, "embedder"),
    "embedding-dim": (int, "embedding dimension d"),
    "loss": (str, "loss"),
    "proxies-per-class": (int, "K, proxies per class (losses with proxies)"),
    "so-weight": (float, "weight of the soft-orthogonality regulariser on the proxies (0: off)"),
    "so-scope": (str, "proxy pairs the regulariser pushes apart"),
    "optimizer": (str, "optimizer"),
    "lr": (float, "learning rate (the proxies get lr x --proxy-lr-multiplier)"),
    "weight-decay": (float, "weight decay of the model (the proxies get none)"),
    "proxy-lr-multiplier": (float, "the proxies' learning rate over lr; default: the loss's own (x100 for Proxy "
                                   "Anchor and the MPA family)"),
    "lr-schedule": (str, "learning-rate schedule (step: x0.5 at 50%% and 75%% of the steps)"),
    "warmup-epochs": (float, "epochs at the start with the backbone frozen (head and proxies train)"),
    "grad-clip": (float, "gradient-norm clipping threshold (--set grad_clip=null: off)"),
    "steps": (int, "optimisation steps"),
    "classes-per-batch": (int, "P, classes per batch (more than the train classes is reduced to them, with a note)"),
    "samples-per-class": (int, "M, samples of each class per batch (drawn with replacement from smaller classes)"),
    "imbalance": (float, "ratio of the most to the least drawn class within a batch (1: balanced)"),
    "eval-every": (int, "evaluate every N steps (and after the last)"),
    "snapshot-points": (int, "points whose embeddings are snapshotted (half train, half test)"),
    "num-snapshots": (int, "snapshots, spaced dense early and sparse late"),
    "checkpoint-every": (int, "write a checkpoint every N steps (and after the last)"),
    "seed": (int, "seed of the data, the split, the initialisation and the batches"),
    "device": (str, "where to train (auto: CUDA when present)"),
    "nan-policy": (str, "on a NaN/inf loss or gradient: stop the run (failed), or skip the step"),
}
# Config keys whose choices are a registry's names: (module, attribute), imported when the choices are first used.
REGISTRY_CHOICES = {"data": ("proxylab.data", "DATASETS"), "model": ("proxylab.models", "MODELS"),
                    "loss": ("proxylab.losses", "LOSSES"), "split": ("proxylab.data", "SPLITS")}
TRAIN_EXAMPLES = """examples:
  proxylab train --preset multi-proxy --name my-run
  proxylab train --data features --data-root feats.npz --model mlp --embedding-dim 64 --loss mpa \\
      --proxies-per-class 4 --test-fraction 0.2 --steps 2000
  proxylab train --config my.toml --so-weight 0.05
"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``proxylab: error: …`` with exit code 2, like every other."""

    def error(self, message: str):
        self.exit(2, f"proxylab: error: {message} (see {self.prog} --help)\n")


class LazyChoices(Sequence):
    """The names of a registry, read on first use: the registries import torch, and the parser (built on every
    call, ``proxylab list`` included) must not. argparse only iterates them for help, usage errors and checks."""

    def __init__(self, module: str, attribute: str):
        self.module, self.attribute, self._names = module, attribute, None

    def names(self) -> list[str]:
        if self._names is None:
            found = getattr(importlib.import_module(self.module), self.attribute)
            self._names = list(found.names() if hasattr(found, "names") else found)
        return self._names

    def __getitem__(self, i):
        return self.names()[i]

    def __len__(self) -> int:
        return len(self.names())


def _add_train_flags(t: argparse.ArgumentParser) -> None:
    """One option per TRAIN_FLAGS entry, its help saying what it sets, its choices or range, and its default."""
    import dataclasses

    from .params import Options, describe
    from .train import TrainConfig
    from .train.config import STR

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for flag, (typ, text) in TRAIN_FLAGS.items():
        key = flag.replace("-", "_")
        constraints = [c for c in TrainConfig.constraints[key] if c is not None]
        options = [c for c in constraints if isinstance(c, Options)]
        if key in REGISTRY_CHOICES:
            choices = LazyChoices(*REGISTRY_CHOICES[key])
        else:
            choices = list(options[0].values) if options else None
        if choices is not None:
            allowed = ["one of %(choices)s"]
        else:
            allowed = [] if constraints == [STR] else [describe(constraints)]  # any text: nothing to add
        if defaults[key] is not None:
            allowed.append(f"default {defaults[key]}")
        t.add_argument(f"--{flag}", type=typ, default=None, choices=choices, metavar=key.upper(),
                       help=text + (f" ({'; '.join(allowed)})" if allowed else ""))


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help="run store directory (default: $PROXYLAB_STORE or ./checkpoints)")


# Commands defined in their own modules: each exposes ``add_parser(subparsers) -> ArgumentParser`` and
# ``run(args) -> int``, and imports nothing heavy at module level (the parser is built on every call).
PLUGIN_COMMANDS = {
    "import": "proxylab.importing.cli",
    "reproduce": "proxylab.reproduce.cli",
    "deck": "proxylab.deck",
}


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="proxylab", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"proxylab {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train one run (preset, config file and/or flags)",
                       description="Train one run. Values come from --preset, then --config, then --set, then the "
                                   "flags (each overrides the one before).",
                       epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _store_arg(t)
    t.add_argument("--name", help="run name (letters, digits, '.', '_', '-'); default: derived from the config")
    from .train import PRESETS

    t.add_argument("--preset", choices=sorted(PRESETS), metavar="PRESET",
                   help="start from a named preset: %(choices)s (see --list-presets)")
    t.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    t.add_argument("--config", help="a .json or .toml file of TrainConfig keys (YAML is not supported)")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="any config key, value as JSON (e.g. --set 'data_params={\"classes\": 8}')")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_train_flags(t)
    t.add_argument("--light-logging", action="store_true", help="log only loss and eval metrics (no per-step stats)")

    d = sub.add_parser("demo", help="train the teaching runs, precompute projections, open the dashboard")
    _store_arg(d)
    d.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard afterwards")
    d.add_argument("--umap", action="store_true", help="with --no-dashboard: compute the teaching runs' UMAP now "
                   "(about a minute on 2 cores) instead of when the dashboard next opens")
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
    ev.add_argument("--step", type=int, help="score the snapshot of this step (default with --queries: the last)")
    ev.add_argument("--queries", metavar="IDS",
                    help="score only these sample ids of the snapshot (e.g. 0-99,120: the Embedding page's "
                         "selection), each against its whole split: R@1, MAP@R and mode coverage")

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
        from .store import RunExistsError

        try:
            trainer = Trainer(TrainConfig.from_dict(values), store, a.name, progress=not a.no_progress)
        except RunExistsError as e:  # the Python API's advice (exist_ok=True) has no flag here
            raise ValueError(f"run {e.name!r} already exists in {e.store}; choose another --name, or continue it "
                             f"with --resume {e.name} (train has no option to replace a run)") from None
    if trainer.rank == 0:  # under torchrun only rank 0 speaks (and writes)
        for note in trainer.adjustments:
            print(f"proxylab: note: {note}", file=sys.stderr)
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
        from .store import open_run
        from .summary import final_metrics, metrics_table

        step, metrics = final_metrics(open_run(store, trainer.name))
        lines = metrics_table(metrics)
        if lines:
            print(f"final metrics (step {step}):", *lines, sep="\n", file=sys.stderr)
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

    from .summary import final_metrics

    run = open_run(store_dir(a.store), a.run)
    if a.step is not None or a.queries is not None:
        return _eval_snapshot(run, a)
    step, metrics = final_metrics(run)
    result = {"run": run.name, "status": run.status, "step": step, "metrics": metrics}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{run.name} ({run.status}), step {result['step']}")
        for split, metrics in result["metrics"].items():
            print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    return 0


def _eval_snapshot(run, a: argparse.Namespace) -> int:
    """``proxylab eval RUN --step S [--queries IDS]``: a snapshot's queries (all, or the given ones) scored now."""
    from .selection import parse_ids, selection_metrics

    steps = run.snapshot_steps()
    if not steps:
        raise ValueError(f"run {run.name} has no snapshot to score")
    step = steps[-1] if a.step is None else a.step
    if step not in steps:
        raise ValueError(f"run {run.name} has no snapshot at step {step}; its snapshots: {_short_list(steps)}")
    snap = run.snapshot(step)
    n = len(snap.labels)
    try:
        ids = parse_ids(a.queries, n) if a.queries is not None else range(n)
    except ValueError as exc:
        raise ValueError(f"--queries: {exc}") from None
    metrics = selection_metrics(snap, ids)
    if not metrics:
        raise ValueError(f"no selected sample of step {step} can be scored: each needs a split of at least 2 samples")
    if a.json:  # NaN (no selected query with a relevant candidate) is null, as JSON has no NaN
        clean = {split: {k: (None if v != v else v) for k, v in values.items()} for split, values in metrics.items()}
        print(json.dumps({"run": run.name, "step": step, "metrics": clean}, indent=2, sort_keys=True))
    else:
        print(f"{run.name}, snapshot of step {step}, {len(ids):,} of {n:,} samples as queries")
        for split, values in metrics.items():
            print(f"  {split}: " + ", ".join(f"{k}={int(v)}" if k.startswith("num_") else f"{k}={v:.4f}"
                                             for k, v in sorted(values.items())))
    return 0


def _short_list(values: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def cmd_export(a: argparse.Namespace) -> int:
    from .export import export_run
    from .store import open_run

    run = open_run(store_dir(a.store), a.run)
    out = Path(a.out) if a.out else Path(run.path) / f"export-{a.format}"
    written = export_run(run, out, a.format)
    print(f"wrote {len(written)} files to {out}")
    return 0


def cmd_dashboard(a: argparse.Namespace) -> int:
    from .demo import start_umap_in_background
    from .serve import check_port, serve_dashboard

    check_port(a.port)
    store = store_dir(a.store)
    if store.is_dir():
        start_umap_in_background(store)  # the teaching runs' UMAP a `demo --no-dashboard` left to do, if any
    serve_dashboard(store, a.port, a.host)  # replaces this process; returns only by raising
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import NO_UMAP_NOTE, compute_umap_now, run_demo, start_umap_in_background
    from .serve import check_port, serve_dashboard

    if not a.no_dashboard:
        check_port(a.port)  # before a minute of training, not after
    store = store_dir(a.store)
    run_demo(store)
    if a.no_dashboard:
        if a.umap:
            compute_umap_now(store)
        else:
            print(NO_UMAP_NOTE)
        return 0
    start_umap_in_background(store)
    serve_dashboard(store, a.port)  # replaces this process; returns only by raising
    return 0


COMMANDS = {"train": cmd_train, "list": cmd_list, "eval": cmd_eval, "export": cmd_export,
            "dashboard": cmd_dashboard, "demo": cmd_demo}


#: the longest error line the CLI prints (characters)
ERROR_LIMIT = 500


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)  # --help writes to stdout too
        if getattr(a, "plugin", None):
            code = importlib.import_module(a.plugin).run(a)
        else:
            code = COMMANDS[a.command](a)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's flush at exit
        return code
    except BrokenPipeError:
        # The reader of stdout went away (`proxylab list | head`): stop quietly like any Unix filter. stdout is
        # pointed at /dev/null so that Python's own flush at exit does not report the pipe again (Python docs,
        # "Note on SIGPIPE"); 141 = 128 + SIGPIPE, what a shell shows for a process the signal ended.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one process speaks
            print("proxylab: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, TrainingError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if len(msg) > ERROR_LIMIT:  # a message quoting a 5 MB cell stays a line a terminal shows
            msg = msg[:ERROR_LIMIT - 1] + "…"
        rank = os.environ.get("RANK", "0")  # under torchrun each failing rank says why, tagged
        print(f"proxylab: error{'' if rank == '0' else f' (rank {rank})'}: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
