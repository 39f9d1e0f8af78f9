"""A run's evaluations: the last one as numbers (``proxylab eval``) and as the short table ``train`` and ``import``
print; one metric's curve over the steps, and when it first reaches a value (the reproduce report's convergence and
the Lessons page's race)."""
from __future__ import annotations

import re

import numpy as np

#: the table's columns, in this order, where a split has them (nDCG@k: the largest k evaluated).
TABLE_METRICS = ("R@1", "MAP@R", "RP", "nDCG@*", "NMI", "mode_coverage")
SPLIT_ORDER = ("test", "train")


def final_metrics(run) -> tuple[int | None, dict[str, dict[str, float]]]:
    """The last evaluated step of ``run`` (a :class:`proxylab.store.Run`) and its metrics.

    Returns
    -------
    step : int or None
        None when the run has no evaluation.
    metrics : dict
        ``{split: {metric: value}}`` at that step.
    """
    evals = run.evals()
    if not len(evals):
        return None, {}
    step = int(evals["step"].max())
    rows = evals[evals["step"] == step]
    return step, {split: {m: float(v) for m, v in zip(group["metric"], group["value"])}
                  for split, group in rows.groupby("split")}


def _columns(metrics: dict[str, dict[str, float]]) -> list[str]:
    present = {m for values in metrics.values() for m in values}
    columns = []
    for name in TABLE_METRICS:
        if name == "nDCG@*":
            ks = [int(m[5:]) for m in present if re.fullmatch(r"nDCG@\d+", m)]
            columns += [f"nDCG@{max(ks)}"] if ks else []
        elif name in present:
            columns.append(name)
    return columns


def metrics_table(metrics: dict[str, dict[str, float]]) -> list[str]:
    """Lines of a table with one row per split (test first) and a column per metric of :data:`TABLE_METRICS`.

    A metric a split lacks (``mode_coverage`` without proxies or modes) shows as ``-``; no metrics, no lines.
    """
    columns = _columns(metrics)
    if not columns:
        return []
    splits = sorted(metrics, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))
    widths = [max(len(c), 6) for c in columns]
    lines = ["split  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    for split in splits:
        cells = [f"{metrics[split][c]:.4f}" if c in metrics[split] else "-" for c in columns]
        lines.append(f"{split[:5]:5s}  " + "  ".join(v.rjust(w) for v, w in zip(cells, widths)))
    return lines


def metric_curve(evals, metric: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `metric` on `split` in step order, from a run's ``evals()`` frame (step, split, metric,
    value); empty arrays when it was not evaluated."""
    rows = evals[(evals["split"] == split) & (evals["metric"] == metric)].sort_values("step")
    return rows["step"].to_numpy(), rows["value"].to_numpy(dtype=float)


def first_step_reaching(steps: np.ndarray, values: np.ndarray, target: float) -> float:
    """The first step whose value is >= `target` (up to 1e-12); NaN when none is."""
    ok = values >= target - 1e-12
    return float(steps[np.argmax(ok)]) if ok.any() else float("nan")
