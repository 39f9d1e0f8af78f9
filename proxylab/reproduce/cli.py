"""``proxylab reproduce [--quick] [--out reports/] [--seeds N]`` (the parser; nothing heavy imported here)."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "reproduce", help="reproduce the papers' claims at small scale and write reports/reproduce.md",
        description="Train the reproduction's runs (≥3 seeds each, stored as repro-* runs) and write a report with "
                    "figures and, per claim, whether it held here. Default: the full run (≤ 60 min on 2 cores).")
    p.add_argument("--quick", action="store_true", help="shorter runs (≤ 10 min on 2 idle cores)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the test's smoke scale
    p.add_argument("--out", default="reports", help="report directory (default: reports/)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per variant (default: 3 quick, 5 full; ≥ 2)")
    p.add_argument("--workers", type=int, default=2, help="runs trained in parallel, one core each (default: 2)")
    p.add_argument("--only", action="append", default=None, metavar="EXPERIMENT",
                   help="restrict to an experiment (multicentre, gradients, so, convergence, zeroshot); repeatable")
    p.add_argument("--retrain", action="store_true", help="retrain runs even when a matching finished run exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite the report from <out>/reproduce.json's stored measurements with the current analysis "
                        "(no store, no training; figures kept)")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..cli import store_dir
    from . import EXPERIMENTS, rerender, reproduce

    if args.render_only:
        print(rerender(Path(args.out)))
        return 0
    scale = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.seeds is not None and args.seeds < 2:
        raise ValueError(f"--seeds must be >= 2 (seed spread is part of every result), got {args.seeds}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    only = tuple(args.only) if args.only else EXPERIMENTS
    bad = sorted(set(only) - set(EXPERIMENTS))
    if bad:
        raise ValueError(f"--only must be one of {', '.join(EXPERIMENTS)}, got {bad[0]!r}")
    report, info = reproduce(store_dir(args.store), Path(args.out), scale, seeds=args.seeds, workers=args.workers,
                             experiments=only, retrain=args.retrain, progress=not args.no_progress)
    print(f"{len(info['trained'])} runs trained, {len(info['reused'])} reused, in {info['train_seconds']:.0f} s; "
          f"report written in {info['total_seconds']:.0f} s in all → {report}", file=sys.stderr)
    print(report)
    return 0
