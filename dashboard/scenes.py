"""The numbers the Lessons page's scenes show beside their claims (the scenes themselves, their runs and claims are
registered in :mod:`proxylab.lessons`).

Pure functions of snapshots and logged series (no Streamlit), so every number a scene states is unit-tested
and measured on the scene's own runs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.analysis import normalize_rows
from proxylab.lessons import SCENE_KEYS, SCENES, scene  # noqa: F401  (the page reads the registry from here)
from proxylab.summary import first_step_reaching, metric_curve

REPORT = "reports/reproduce.md"


def runs_by_role(table: pd.DataFrame) -> dict[str, str]:
    """Tag → the first openable run carrying it (the runs table's ``tags`` column holds lists)."""
    found: dict[str, str] = {}
    for name, tags, ok in zip(table["name"], table["tags"], table["openable"]):
        for tag in tags if ok and isinstance(tags, (list, tuple)) else ():
            found.setdefault(str(tag), name)
    return found


# ---------------------------------------------------------------- geometry (scene 1)

def mode_centre_cosines(embeddings: np.ndarray, labels: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Cosine between every pair of a class's mode centres (unit mean embedding of each mode), all classes."""
    x = normalize_rows(embeddings)
    out = []
    for cls in np.unique(labels):
        ids = np.unique(modes[(labels == cls) & (modes >= 0)])
        centres = normalize_rows(np.stack([x[modes == m].mean(axis=0) for m in ids])) if len(ids) else None
        if centres is not None and len(ids) > 1:
            gram = centres @ centres.T
            out.extend(gram[np.triu_indices(len(ids), k=1)])
    return np.asarray(out, dtype=float)


# ---------------------------------------------------------------- logged series (scenes 5, 6, 7)

def tail_mean(frame: pd.DataFrame, key: str, last: int = 20) -> float:
    """Mean of the last `last` logged values of `key` (NaN if not logged)."""
    if key not in frame.columns:
        return float("nan")
    return float(frame[key].dropna().tail(last).mean())


def first_evaluation(evals: pd.DataFrame, metric: str, split: str = "test") -> tuple[float, float]:
    """(step, value) of the first evaluation of `metric` on `split`; NaNs when there is none."""
    steps, values = metric_curve(evals, metric, split)
    return (float(steps[0]), float(values[0])) if len(values) else (float("nan"), float("nan"))


def loss_setting(config: dict) -> str:
    """A run's loss as the convergence scene names it, from its config (so the sentence follows the runs): e.g.
    "proxy_nca, lr 0.003" or "triplet (mining semi_hard, margin 0.2), lr 0.01"."""
    params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in (config.get("loss_params") or {}).items())
    return f"{config.get('loss')}{f' ({params})' if params else ''}, lr {config.get('lr'):g}"


def steps_to_own_final(evals: pd.DataFrame, metric: str, fraction: float, split: str = "test") -> tuple[float, float]:
    """(first evaluated step at which `metric` reaches `fraction` of the run's own final value, that final value);
    NaNs when it was not evaluated."""
    steps, values = metric_curve(evals, metric, split)
    if not len(values):
        return float("nan"), float("nan")
    return first_step_reaching(steps, values, fraction * values[-1]), float(values[-1])
