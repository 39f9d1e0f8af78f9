"""The Lessons page's scenes: which tagged runs each one needs, and the numbers it shows beside its claim.

Pure functions of snapshots and logged series (no Streamlit), so every number a scene states is unit-tested
and measured on the scene's own runs. The demo (`proxylab demo`) tags its runs with the roles named here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis import normalize_rows

REPORT = "reports/reproduce.md"


@dataclass(frozen=True)
class Scene:
    key: str
    title: str
    roles: tuple[str, ...]  # run tags (see proxylab.demo.DEMO_RUNS), in the order the scene shows them
    takeaway: str


SCENES = (
    Scene("data", "1 · Classes with several centres", ("coverage/multi",),
          "A class need not be one blob: here every class has two modes far apart on the sphere, and its second "
          "mode lies next to another class's first."),
    Scene("coverage", "2 · One proxy per class vs several", ("coverage/single", "coverage/multi"),
          "One proxy sits between its class's two modes, near neither, and many samples end up nearer another "
          "class's proxy (red); two sub-proxies land one on each mode. The data stay fixed: press ▶ to watch the "
          "proxies move."),
    Scene("usage", "3 · Sub-proxy usage and dead sub-proxies", ("usage",),
          "Give a class with two modes K = 4 sub-proxies and its samples use about two of them: the others are "
          "the most similar sub-proxy of almost none of its samples — dead weight."),
    Scene("margin", "4 · The margin decides where proxies sit", ("margin/small", "margin/large"),
          "Proxy Anchor (and the MPA family) only ask a sample's cosine to its proxy to pass the margin δ: with "
          "the default δ = 0.1 the proxies float far from their data, with δ = 0.7 they sit on it."),
    Scene("orthogonality", "5 · Soft orthogonality and its geometric limit", ("so/off", "so/on"),
          "Soft orthogonality pushes the proxies apart until the mean squared cosine meets the Welch floor: "
          "24 unit vectors in 8 dimensions cannot all be orthogonal."),
    Scene("gradients", "6 · Class-wise vs data-wise gradients", ("gradients/class-wise", "gradients/data-wise"),
          "Class-wise Proxy Anchor (mpa) shares a bounded gradient among a class's samples, so a few hard "
          "samples carry most of it; data-wise mpa_dw bounds each sample's gradient, so it spreads out."),
    Scene("convergence", "7 · Proxies vs triplets: a fair race", ("convergence/proxy", "convergence/triplet"),
          "A proxy loss compares each sample with C proxies instead of mining triplets from the batch. Given the "
          "same model, data and steps, and each loss its own best settings, both reach a high R@1: the proxies "
          "start faster, the triplets catch up."),
)
SCENE_KEYS = tuple(s.key for s in SCENES)


def scene(key: str) -> Scene:
    return SCENES[SCENE_KEYS.index(key)]


def runs_by_role(table: pd.DataFrame) -> dict[str, str]:
    """Tag → the first openable run carrying it (the runs table's ``tags`` column holds lists)."""
    found: dict[str, str] = {}
    for name, tags, ok in zip(table["name"], table["tags"], table["openable"]):
        for tag in tags if ok and isinstance(tags, (list, tuple)) else ():
            found.setdefault(str(tag), name)
    return found


# ---------------------------------------------------------------- geometry (scenes 1, 2, 4)

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


def distinct_share(cov: pd.DataFrame) -> float:
    """Share of classes whose modes are each assigned to a different sub-proxy."""
    per_class = cov.groupby("class")["best_sub_proxy"].agg(lambda s: s.nunique() == len(s))
    return float(per_class.mean()) if len(per_class) else float("nan")


def coverage_numbers(cov: pd.DataFrame) -> dict[str, float]:
    return {"covered": float(cov["covered"].mean()), "median_cos": float(cov["best_cos_own"].median()),
            "min_cos": float(cov["best_cos_own"].min()), "distinct": distinct_share(cov)}


# ---------------------------------------------------------------- logged series (scenes 5, 6, 7)

def tail_mean(frame: pd.DataFrame, key: str, last: int = 20) -> float:
    """Mean of the last `last` logged values of `key` (NaN if not logged)."""
    if key not in frame.columns:
        return float("nan")
    return float(frame[key].dropna().tail(last).mean())


def first_step_reaching(evals: pd.DataFrame, metric: str, target: float, split: str = "test") -> float:
    """First evaluated step at which `metric` on `split` is ≥ target; NaN if it never is."""
    rows = evals[(evals["split"] == split) & (evals["metric"] == metric)].sort_values("step")
    hit = rows[rows["value"] >= target - 1e-12]
    return float(hit["step"].iloc[0]) if len(hit) else float("nan")


def first_value(evals: pd.DataFrame, metric: str, split: str = "test") -> float:
    rows = evals[(evals["split"] == split) & (evals["metric"] == metric)].sort_values("step")
    return float(rows["value"].iloc[0]) if len(rows) else float("nan")


def loss_setting(config: dict) -> str:
    """A run's loss as the convergence scene names it, from its config (so the sentence follows the runs): e.g.
    "proxy_nca, lr 0.003" or "triplet (mining semi_hard, margin 0.2), lr 0.01"."""
    params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in (config.get("loss_params") or {}).items())
    return f"{config.get('loss')}{f' ({params})' if params else ''}, lr {config.get('lr'):g}"


def final_value(evals: pd.DataFrame, metric: str, split: str = "test") -> float:
    rows = evals[(evals["split"] == split) & (evals["metric"] == metric)].sort_values("step")
    return float(rows["value"].iloc[-1]) if len(rows) else float("nan")
