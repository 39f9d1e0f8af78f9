"""``proxylab reproduce``: the papers' claims at small scale, measured honestly.

Six experiments (multi-centre classes, class-wise vs data-wise gradients, soft orthogonality, ProxyNCA vs triplet
convergence, nDCG@k vs Recall@k stability, digits zero-shot), ≥ 3 seeds each, every run in the run store
(``repro-<experiment>-<variant>-s<seed>``), and a report (``reports/reproduce.md`` + PNG figures +
``reproduce.json``) whose every number is traced to the runs (:mod:`.measures`). Modules: :mod:`.plan` (the run
grid per scale), :mod:`.runner` (training, two runs at a time), :mod:`.measures` (leaf measurements + ledger),
:mod:`.analysis` (the report), :mod:`.bootstrap` (intervals over seeds), :mod:`.figures` (matplotlib PNGs), :mod:`.cli`.
"""
from __future__ import annotations

from .plan import EXPERIMENTS, SCALES, RunSpec, Scale, build_plan

__all__ = ["EXPERIMENTS", "SCALES", "RunSpec", "Scale", "build_plan", "reproduce", "rerender"]


def reproduce(store, out, scale: str | Scale = "quick", seeds: int | None = None, workers: int = 2,
              experiments=EXPERIMENTS, retrain: bool = False, progress: bool = True):
    """Train (or reuse) every run, then write the report; returns the report's path."""
    import dataclasses
    import time
    from pathlib import Path

    from .analysis import Report
    from .runner import run_plan

    sc = SCALES[scale] if isinstance(scale, str) else scale
    if seeds is not None:
        sc = dataclasses.replace(sc, seeds=seeds)
    specs = build_plan(sc, tuple(experiments))
    t0 = time.perf_counter()
    info = run_plan(Path(store), specs, workers=workers, retrain=retrain, progress=progress)
    info["train_seconds"] = time.perf_counter() - t0
    report = Report(Path(store), specs, sc, Path(out)).write(info)
    info["total_seconds"] = time.perf_counter() - t0
    return report, info


def rerender(out):
    """Write ``out/reproduce.md`` and ``out/reproduce.json`` again with the current analysis, from the measurements
    that ``out/reproduce.json`` stores: no run store, no training; the figures already in ``out`` are kept (their
    curves are not in the JSON). Returns the report's path; ValueError when the JSON is missing, or lacks a run
    or a measurement that the analysis needs."""
    import dataclasses
    import json
    from pathlib import Path

    from .analysis import Report
    from .measures import Ledger

    path = Path(out) / "reproduce.json"
    if not path.is_file():
        raise ValueError(f"re-rendering needs {path}, which does not exist")
    data = json.loads(path.read_text())
    sc = SCALES[data["scale"]]
    sc = dataclasses.replace(sc, seeds=1 + max(int(name.rpartition("-s")[2]) for name in data["runs"]))
    recorded = set(data["runs"])
    specs = [s for s in build_plan(sc) if s.name in recorded]
    if [s.name for s in specs] != data["runs"]:
        missing = sorted(recorded - {s.name for s in specs})
        raise ValueError(f"{path}: its runs are not those of the {sc.name!r} plan (e.g. {missing[:2]}); re-render "
                         "it with the proxylab version that wrote it")
    report = Report(None, specs, sc, Path(out), ledger=Ledger.from_leaves(data["leaves"]), draw_figures=False)
    return report.write(data["run_info"])
