"""Numpy-only quantities the pages show that the trainer does not log directly (computed on a snapshot).

Everything here is a pure function of arrays: no Streamlit, no torch, so it is unit-tested directly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from proxylab import geometry
from proxylab.geometry import (  # noqa: F401  (defined once in the core; the pages use them from here)
    DEAD_SHARE, dead_sub_proxies, nearest_proxy, sub_proxy_share, unit_rows as normalize_rows, welch_floor)


def proxy_labels(num_classes: int, proxies_per_class: int) -> list[str]:
    """Row names of the flattened (C·K) proxy matrix, in the order the store flattens vectors."""
    if proxies_per_class == 1:
        return [f"c{c}" for c in range(num_classes)]
    return [f"c{c}·k{k}" for c in range(num_classes) for k in range(proxies_per_class)]


def proxy_gram(proxies: np.ndarray) -> np.ndarray:
    """Cosine Gram matrix (n, n) of the n = C·K normalised proxies."""
    c, k, d = proxies.shape
    p = normalize_rows(proxies.reshape(c * k, d))
    return p @ p.T


def off_diagonal_cosines(proxies: np.ndarray) -> pd.DataFrame:
    """One row per unordered proxy pair: its cosine and whether both belong to the same class."""
    c, k, _ = proxies.shape
    gram = proxy_gram(proxies)
    i, j = np.triu_indices(c * k, k=1)
    same = (i // k) == (j // k)
    return pd.DataFrame({
        "proxy_a": i, "proxy_b": j, "cos": gram[i, j],
        "pair": np.where(same, "same class (sub-proxies)", "different classes"),
    })


def mean_sq_off_diagonal_cos(proxies: np.ndarray) -> float:
    """Mean squared off-diagonal cosine: R_SO divided by the number of ordered pairs (scope 'all')."""
    n = proxies.shape[0] * proxies.shape[1]
    if n < 2:
        return 0.0
    gram = proxy_gram(proxies)
    return float(((gram ** 2).sum() - np.trace(gram ** 2)) / (n * (n - 1)))


#: the largest split whose nearest neighbours the player's payload computes (N² work per step)
NEIGHBOUR_LIMIT = 10_000
NOT_COMPUTED = 255


def neighbour_same_class(embeddings: np.ndarray, labels: np.ndarray, split: np.ndarray,
                         block: int = 2048) -> np.ndarray:
    """For each sample, whether its nearest neighbour by cosine — among the other samples of its split, ties to the
    lower index, as the retrieval metrics rank — has its class: uint8 (N,), 1 yes, 0 no, NOT_COMPUTED for a sample
    alone in its split or in a split of more than NEIGHBOUR_LIMIT samples. Where 1, the sample's R@1 is 1 (the mean
    over a split's queries is that split's R@1)."""
    x = normalize_rows(np.asarray(embeddings, dtype=np.float64))
    out = np.full(len(x), NOT_COMPUTED, np.uint8)
    for part in np.unique(split):
        rows = np.flatnonzero(split == part)
        if len(rows) < 2 or len(rows) > NEIGHBOUR_LIMIT:
            continue
        xs, ys = x[rows], labels[rows]
        for start in range(0, len(rows), block):
            sims = xs[start:start + block] @ xs.T  # (b, n)
            sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # the query itself
            out[rows[start:start + block]] = ys[sims.argmax(axis=1)] == ys[start:start + block]
    return out


def mode_coverage(embeddings: np.ndarray, labels: np.ndarray, modes: np.ndarray,
                  proxies: np.ndarray) -> pd.DataFrame:
    """:func:`proxylab.geometry.mode_coverage` as a table, one row per mode: mode, class, samples, best_cos_own,
    best_sub_proxy, nearest_proxy_class, covered (empty when the modes are unknown)."""
    cov = geometry.mode_coverage(embeddings, labels, modes, proxies)
    return pd.DataFrame({"mode": cov["mode_ids"], "class": cov["mode_labels"], "samples": cov["mode_sizes"],
                         "best_cos_own": cov["per_mode_best_cos"], "best_sub_proxy": cov["best_proxy"],
                         "nearest_proxy_class": cov["nearest_class"], "covered": cov["covered"]})


def mode_assignments(embeddings: np.ndarray, labels: np.ndarray, modes: np.ndarray,
                     proxies: np.ndarray) -> pd.DataFrame:
    """Per ground-truth mode: its unit centre, the own-class sub-proxy it is assigned to (most similar) and
    that proxy's unit vector, the cosine between them, and whether the mode is covered (nearest proxy overall
    is of its own class). Columns: mode, class, best_cos_own, best_sub_proxy, covered, centre, proxy."""
    cov = mode_coverage(embeddings, labels, modes, proxies)
    if cov.empty:
        return cov.assign(centre=[], proxy=[])
    x = normalize_rows(embeddings)
    p = normalize_rows(proxies)
    cov["centre"] = [normalize_rows(x[modes == m].mean(axis=0)) for m in cov["mode"]]
    cov["proxy"] = [p[c, k] for c, k in zip(cov["class"], cov["best_sub_proxy"])]
    return cov


def _flatten(config: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_diff(configs: dict[str, dict]) -> pd.DataFrame:
    """The config keys (nested ones dotted, e.g. ``loss_params.margin``) whose values differ between runs:
    one row per key, one column per run; a key a run does not set shows as "–"."""
    flat = {run: _flatten(cfg or {}) for run, cfg in configs.items()}
    keys = sorted(set().union(*flat.values())) if flat else []
    rows = []
    for key in keys:
        shown = {run: str(values[key]) if key in values else "–" for run, values in flat.items()}
        if len(set(shown.values())) > 1:
            rows.append({"setting": key, **shown})
    return pd.DataFrame(rows, columns=["setting", *configs])
