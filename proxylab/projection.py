"""2-D / 3-D projections of a run's snapshots, aligned across steps, with an on-disk cache.

Embeddings and proxies are L2-normalised first (the losses work in cosine geometry) and projected
together, so proxies land in the same coordinates as the points. Methods:

``pca``
    One PCA basis fitted once on the stacked snapshots (``params["fit_on"] = "all"``, default) or
    on the last one (``"last"``), applied to every step: aligned by construction, instant.
``umap``
    UMAP aligned across steps; ``params["alignment"]`` picks how (measured below):
    ``"joint"`` (default) one fit over the stacked snapshots; ``"init"`` one fit per step,
    initialised from the previous step's layout; ``"independent"`` one unaligned fit per step
    (the baseline the others are compared with).
``umap_aligned``
    umap-learn's ``AlignedUMAP`` over the steps (identity relations between consecutive steps).
``native``
    No projection: the normalised coordinates themselves, for d <= 3 (output has d columns).

Cost is bounded by ``params["max_fit_points"]`` (default 6000 for the joint fit, 4000 per step
otherwise): beyond it UMAP is fitted on a random subset — the same point ids at every step — and
every other point is placed at the softmax(cosine / 0.02)-weighted mean of its 10 nearest fitted
neighbours (same step), a cheap numpy stand-in for ``UMAP.transform``.

Measured on a fake run (``write_fake_run``: 2,000 points x 32-d, C=8, M=3, K=3, 8 snapshots at
steps 0..140), umap-learn 0.5.12, shared 2-core machine (other jobs running, so times are
rough), after numba's first compile (``import umap`` 4 s, first fit 33 s). *motion* = mean
displacement of a point between consecutive steps / the layout's RMS radius, averaged over the 7
step pairs (PCA's value is the real motion of the data seen linearly; more than that is layout
jitter); *knn* = fraction of each point's 10 nearest neighbours (cosine, 32-d) kept among its 10
nearest in 2-D, averaged over steps:

======================================  ======  ======  =====
method                                  time s  motion  knn
======================================  ======  ======  =====
pca (stacked fit)                         1.2    0.21   0.05
umap joint (one fit, 6,000 pts stacked)  96      0.26   0.18
umap init (previous step's layout)       69      0.70   0.22
umap independent (no alignment)          57      1.04   0.21
umap_aligned (AlignedUMAP)              111      0.35   0.19
======================================  ======  ======  =====

So ``joint`` is the default alignment: the only UMAP option whose motion is close to the data's
own (PCA) motion, at a cost bounded by ``max_fit_points`` whatever the number of steps.
``init`` barely helps (umap re-optimises 200-500 epochs from the seed and drifts away), and
AlignedUMAP is both slowest and less stable here. The price of ``joint``: each step's layout is
fitted on a subsample (750 points per step here) and early, unstructured steps share the map with
late ones, so neighbourhoods are kept a little less well (knn 0.18 vs 0.21). Times doubled when the
machine was busier (joint: 173 s on a rerun), so compare them with each other, not as absolutes.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .store import Run, RunError
from .store.atomic import atomic_write
from .store.layout import PROJECTION_DIR

#: bump when a change to this module changes the coordinates it produces (invalidates caches).
CODE_VERSION = 2
METHODS = ("pca", "umap", "umap_aligned", "native")
UMAP_ALIGNMENTS = ("joint", "init", "independent")
DEFAULT_UMAP_ALIGNMENT = "joint"
_EXTEND_NEIGHBOURS = 10
_EXTEND_TEMPERATURE = 0.02

#: default and allowed parameters per method (anything else is an error naming the method).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "pca": {"fit_on": "all", "max_fit_points": 50000, "seed": 0},
    "umap": {"alignment": DEFAULT_UMAP_ALIGNMENT, "n_neighbors": 15, "min_dist": 0.1, "n_epochs": None,
             "max_fit_points": None, "seed": 0},
    "umap_aligned": {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": None, "alignment_regularisation": 0.01,
                     "alignment_window_size": 3, "max_fit_points": 4000, "seed": 0},
    "native": {},
}

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class Projection:
    """Coordinates of one snapshot.

    Attributes
    ----------
    step : int
        The snapshot's step.
    points : ndarray of shape (N, dims), float32
        One row per snapshot point, in the snapshot's order.
    proxies : ndarray of shape (C*K, dims), float32
        Proxy (c, k) is row ``c*K + k``; zero rows when the snapshot has no proxies.
    """

    step: int
    points: np.ndarray
    proxies: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.points.shape[1])


# -- parameters and cache keys --------------------------------------------------------------------
def _check_method(method: object) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method  # type: ignore[return-value]


def resolve_params(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of ``method`` updated with ``params``; unknown keys or bad values raise ValueError."""
    method = _check_method(method)
    merged = dict(DEFAULT_PARAMS[method])
    for key, value in (params or {}).items():
        if key not in merged:
            valid = ", ".join(sorted(DEFAULT_PARAMS[method])) or "none"
            raise ValueError(f"params for method {method!r} got an unknown key {key!r}; valid: {valid}")
        merged[key] = value
    checks = {
        "fit_on": lambda v: v in ("all", "last"),
        "alignment": lambda v: v in UMAP_ALIGNMENTS,
        "n_neighbors": lambda v: _is_int(v) and v >= 2,
        "min_dist": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
        "n_epochs": lambda v: v is None or (_is_int(v) and v >= 1),
        "max_fit_points": lambda v: v is None or (_is_int(v) and v >= 10),
        "seed": _is_int,
        "alignment_regularisation": lambda v: isinstance(v, (int, float)) and v >= 0,
        "alignment_window_size": lambda v: _is_int(v) and v >= 1,
    }
    for key, value in merged.items():
        if not checks[key](value):
            raise ValueError(f"params[{key!r}] for method {method!r} is invalid, got {value!r}")
    return merged


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_request(run: Run, steps: Iterable[int], n_components: int) -> list[int]:
    if not _is_int(n_components) or n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    try:
        wanted = sorted({int(s) for s in steps})
    except (TypeError, ValueError):
        raise ValueError(f"steps must be an iterable of ints, got {steps!r}") from None
    if not wanted:
        raise ValueError("steps must name at least one snapshot step, got none")
    available = set(run.snapshot_steps())
    missing = [s for s in wanted if s not in available]
    if missing:
        raise RunError(f"run {run.name} has no snapshot at step(s) {missing}; available: {sorted(available)}")
    return wanted


def cache_key(run: Run, steps: Iterable[int], method: str, n_components: int = 2,
              params: Mapping[str, Any] | None = None) -> str:
    """sha1 of (steps, each snapshot file's size and mtime, method, n_components, params, code version)."""
    wanted = _check_request(run, steps, n_components)
    resolved = resolve_params(method, params)
    files = []
    for s in wanted:
        st = os.stat(run.snapshot_path(s))
        files.append([s, st.st_size, st.st_mtime_ns])
    blob = json.dumps({"snapshots": files, "method": method, "n_components": n_components,
                       "params": resolved, "code_version": CODE_VERSION}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def cache_path(run: Run, key: str) -> Path:
    return run.path / PROJECTION_DIR / f"{key}.npz"


def _save_cache(path: Path, projections: dict[int, Projection], info: dict[str, Any]) -> bool:
    arrays: dict[str, np.ndarray] = {"steps": np.array(sorted(projections), np.int64),
                                     "info": np.array(json.dumps(info))}
    for step, proj in projections.items():
        arrays[f"points_{step}"] = proj.points
        arrays[f"proxies_{step}"] = proj.proxies
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return True
    except OSError:
        return False  # a read-only store still gets its projection, just not cached


def _load_cache(path: Path, wanted: list[int]) -> dict[int, Projection] | None:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return None
        with loaded as npz:
            steps = npz["steps"]
            if steps.dtype.kind not in "iu" or steps.tolist() != wanted:
                return None
            out = {}
            for s in wanted:
                points, proxies = npz[f"points_{s}"], npz[f"proxies_{s}"]
                if (points.ndim != 2 or proxies.ndim != 2 or points.dtype != np.float32
                        or proxies.dtype != np.float32 or proxies.shape[1] != points.shape[1]
                        or not np.isfinite(points).all()):
                    return None
                out[s] = Projection(s, points, proxies)
            return out
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing or corrupt cache: recompute


def cached_projection(run: Run, steps: Iterable[int], method: str, n_components: int = 2,
                      params: Mapping[str, Any] | None = None) -> dict[int, Projection] | None:
    """The cached result of :func:`project_run` for these arguments, or None; never computes."""
    wanted = _check_request(run, steps, n_components)
    return _load_cache(cache_path(run, cache_key(run, wanted, method, n_components, params)), wanted)


# -- geometry helpers -----------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class _Cloud:
    """Normalised points and proxies of one step, stacked as rows ``[points; proxies]``."""

    step: int
    x: np.ndarray
    n_points: int

    def split(self, coords: np.ndarray) -> Projection:
        coords = coords.astype(np.float32)
        return Projection(self.step, coords[: self.n_points], coords[self.n_points:])


def _load_clouds(run: Run, steps: list[int], progress: ProgressFn, share: float) -> list[_Cloud]:
    clouds = []
    for i, s in enumerate(steps):
        progress(share * i / len(steps), f"loading snapshot {s}")
        snap = run.snapshot(s)
        proxies = snap.proxies.reshape(-1, snap.dim) if snap.proxies is not None else np.zeros((0, snap.dim))
        x = np.concatenate([snap.embeddings, proxies]).astype(np.float64)
        if not np.isfinite(x).all():
            raise RunError(f"{run.snapshot_path(s)}: embeddings or proxies hold NaN/inf; cannot project step {s}")
        clouds.append(_Cloud(s, _unit(x), snap.num_points))
    return clouds


def _extend_layout(x_all: np.ndarray, fit_idx: np.ndarray, fit_coords: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Layout for all rows of ``x_all`` given coordinates of the rows ``fit_idx``.

    Rows outside ``fit_idx`` get the softmax(cosine / 0.02)-weighted mean of the coordinates of their
    ``_EXTEND_NEIGHBOURS`` most cosine-similar fitted rows (chunked: never an N x N matrix).
    """
    out = np.empty((x_all.shape[0], fit_coords.shape[1]))
    out[fit_idx] = fit_coords
    rest = np.setdiff1d(np.arange(x_all.shape[0]), fit_idx)
    ref = x_all[fit_idx]
    k = min(_EXTEND_NEIGHBOURS, len(fit_idx))
    for start in range(0, len(rest), chunk):
        rows = rest[start:start + chunk]
        sim = x_all[rows] @ ref.T
        nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sim, nn, axis=1)
        # Softmax over cosine / 0.02: a near-duplicate of a fitted row lands on it, a point among
        # equally close neighbours lands at their mean.
        w = np.exp((near - near.max(axis=1, keepdims=True)) / _EXTEND_TEMPERATURE)
        out[rows] = (w[:, :, None] * fit_coords[nn]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    return out


def _fit_subset(n_rows: int, n_points: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Row ids to fit on: all proxies plus at most ``limit`` points (all rows when under the limit)."""
    if limit is None or n_points <= limit:
        return np.arange(n_rows)
    pts = np.sort(rng.choice(n_points, size=limit, replace=False))
    return np.concatenate([pts, np.arange(n_points, n_rows)])


# -- methods --------------------------------------------------------------------------------------
def _native(clouds: list[_Cloud], n_components: int) -> list[np.ndarray]:
    d = clouds[0].x.shape[1]
    if d > 3:
        raise ValueError(f"method 'native' needs an embedding dimension <= 3, got d={d}; use 'pca' or 'umap'")
    return [c.x for c in clouds]


def _pca(clouds: list[_Cloud], n_components: int, p: dict[str, Any]) -> list[np.ndarray]:
    d = clouds[0].x.shape[1]
    if n_components > d:
        raise ValueError(f"n_components must be <= the embedding dimension {d} for PCA, got {n_components}")
    rng = np.random.default_rng(p["seed"])
    fit = np.concatenate([c.x for c in clouds]) if p["fit_on"] == "all" else clouds[-1].x
    if fit.shape[0] > p["max_fit_points"]:
        fit = fit[rng.choice(fit.shape[0], p["max_fit_points"], replace=False)]
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    basis = vt[:n_components]
    # Deterministic signs: the largest-magnitude loading of every axis is positive.
    signs = np.sign(basis[np.arange(n_components), np.abs(basis).argmax(axis=1)])
    basis = basis * np.where(signs == 0, 1, signs)[:, None]
    if basis.shape[0] < n_components:  # fewer distinct directions than asked (tiny data): pad with zeros
        basis = np.vstack([basis, np.zeros((n_components - basis.shape[0], d))])
    return [(c.x - mean) @ basis.T for c in clouds]


def import_umap():
    """umap-learn, imported lazily, with numba's on-disk cache turned on for all of its compiled functions.

    umap-learn compiles most of its numba functions without ``cache=True``, so every new process compiled them
    again: ≈ 20 s before its first fit, in each dashboard server, background projection job and CLI call. With the
    cache on, only the very first process compiles; later ones load the machine code from numba's cache
    (``__pycache__`` beside umap's sources, or ``NUMBA_CACHE_DIR``). A function numba cannot cache is compiled as
    before (numba warns and goes on); numba internals that differ just leave it off. pynndescent's neighbour search
    is one numba cannot cache (it takes the distance function as an argument): proxylab does not call it up to
    ``EXACT_KNN_MAX_ROWS`` rows (see ``_umap_fit``).
    """
    import sys

    import umap

    try:
        import warnings

        from numba.core.dispatcher import Dispatcher
        from numba.core.errors import NumbaWarning

        # what numba cannot cache it compiles as before; its warning about that is ours to silence, not the user's
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=NumbaWarning)
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(("umap.", "pynndescent.")):
                continue
            for obj in list(vars(module).values()):
                if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                    obj.enable_caching()
    except (ImportError, AttributeError):  # a numba whose dispatcher differs: compile every process, as before
        pass
    return umap


# umap-learn finds neighbours with pynndescent from 4,096 rows on, and numba cannot cache pynndescent's search (it
# takes the distance function as an argument): ~17 s of compilation in every new process. Up to this many rows the
# exact neighbours cost less than that compilation alone (on 2 cores: 6,000 rows × 128 in ~1 s, 20,000 × 16 in ~6 s).
EXACT_KNN_MAX_ROWS = 20_000


def exact_knn(x: np.ndarray, k: int, max_block_elements: int = 8_000_000) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of every row of ``x`` (euclidean, the row itself first), by brute force in blocks.

    Parameters
    ----------
    x : ndarray of shape (n, d)
    k : int
        Neighbours per row, itself included (umap-learn's convention), ``1 <= k <= n``.
    max_block_elements : int, default 8,000,000
        Distances per block (rows per block × n): a block's float64 distances take at most 64 MB (with a few
        temporaries of that size), whatever n.

    Returns
    -------
    indices : ndarray of shape (n, k), int32
        Row ``i`` lists ``i`` first, then its neighbours by distance (ties in index order).
    distances : ndarray of shape (n, k), float32
        The matching euclidean distances (0 for the row itself).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    squared = np.einsum("ij,ij->i", x, x)  # (n,)
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)
    rows = max(1, max_block_elements // n)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        d2 = squared[start:stop, None] + squared[None, :] - 2.0 * (x[start:stop] @ x.T)  # (b, n)
        np.maximum(d2, 0.0, out=d2)
        own = np.arange(start, stop)
        d2[own - start, own] = -1.0  # the row itself first, even beside an exact duplicate
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1:k]  # (b, 1): the k-th smallest distance of each row
        # every candidate up to it, ties at the k-th included, ordered by row, distance, index: the first k per row
        row, col = np.nonzero(d2 <= kth)
        order = np.lexsort((col, d2[row, col], row))
        first = np.searchsorted(row[order], np.arange(stop - start))[:, None] + np.arange(k)  # (b, k)
        pick = order[first]
        indices[start:stop] = col[pick]
        distances[start:stop] = np.sqrt(np.maximum(d2[row[pick], col[pick]], 0.0))
    return indices, distances


def _umap_fit(x: np.ndarray, n_components: int, p: dict[str, Any], init: Any = "spectral") -> np.ndarray:
    """``umap.UMAP(...).fit_transform(x)`` with proxylab's settings; exact neighbours where pynndescent would search."""
    import warnings

    umap = import_umap()  # lazily: the first import and compile take ~25 s (then numba's cache)
    n_neighbors = min(p["n_neighbors"], x.shape[0] - 1)
    # below 4,096 rows umap-learn takes exact (cached) distances itself
    knn = exact_knn(x, n_neighbors) if 4096 <= x.shape[0] <= EXACT_KNN_MAX_ROWS else (None, None, None)
    model = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=p["min_dist"],
                      n_epochs=p["n_epochs"], init=init, random_state=p["seed"],
                      n_jobs=1,  # a seeded UMAP is single-threaded anyway; saying so silences its warning
                      metric="euclidean",  # on unit vectors euclidean ranks neighbours like cosine
                      precomputed_knn=knn)
    with warnings.catch_warnings():  # no search index: proxylab places further points itself, never via transform
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        return model.fit_transform(x)


def _umap(clouds: list[_Cloud], n_components: int, p: dict[str, Any], progress: ProgressFn) -> list[np.ndarray]:
    rng = np.random.default_rng(p["seed"])
    alignment = p["alignment"]
    if alignment == "joint":
        limit = p["max_fit_points"] or 6000
        per_step = max(10, limit // len(clouds))
        fit_ids = [_fit_subset(c.x.shape[0], c.n_points, per_step, rng) for c in clouds]
        stacked = np.concatenate([c.x[ids] for c, ids in zip(clouds, fit_ids)])
        progress(0.3, f"fitting UMAP on {stacked.shape[0]} points of {len(clouds)} steps")
        coords = _umap_fit(stacked, n_components, p)
        out, offset = [], 0
        for c, ids in zip(clouds, fit_ids):
            out.append(_extend_layout(c.x, ids, coords[offset:offset + len(ids)]))
            offset += len(ids)
        return out
    limit = p["max_fit_points"] or 4000
    out, prev, prev_ids = [], None, None
    for i, c in enumerate(clouds):
        progress(0.2 + 0.75 * i / len(clouds), f"fitting UMAP for step {c.step} ({i + 1}/{len(clouds)})")
        same_rows = prev is not None and prev.shape[0] == c.x.shape[0]
        ids = prev_ids if same_rows else _fit_subset(c.x.shape[0], c.n_points, limit, rng)
        init: Any = "spectral"
        if alignment == "init" and same_rows:
            init = prev[ids]
            init = (init - init.mean(axis=0)) / max(float(init.std()), 1e-12) * 5.0  # umap expects a modest scale
        coords = _umap_fit(c.x[ids], n_components, p, init)
        prev, prev_ids = _extend_layout(c.x, ids, coords), ids
        out.append(prev)
    return out


def _umap_aligned(clouds: list[_Cloud], n_components: int, p: dict[str, Any],
                  progress: ProgressFn) -> list[np.ndarray]:
    umap = import_umap()
    if len({c.x.shape[0] for c in clouds}) != 1:
        raise ValueError("method 'umap_aligned' needs the same points at every step; use 'umap'")
    if len(clouds) < 2:
        return _umap(clouds, n_components, {**p, "alignment": "independent",
                                            "max_fit_points": p["max_fit_points"]}, progress)
    rng = np.random.default_rng(p["seed"])
    ids = _fit_subset(clouds[0].x.shape[0], clouds[0].n_points, p["max_fit_points"], rng)
    identity = {i: i for i in range(len(ids))}
    progress(0.3, f"fitting AlignedUMAP on {len(clouds)} steps x {len(ids)} points")
    model = umap.AlignedUMAP(n_components=n_components, n_neighbors=min(p["n_neighbors"], len(ids) - 1),
                             min_dist=p["min_dist"], n_epochs=p["n_epochs"], random_state=p["seed"],
                             alignment_regularisation=p["alignment_regularisation"],
                             alignment_window_size=p["alignment_window_size"])
    model.fit([c.x[ids] for c in clouds], relations=[identity] * (len(clouds) - 1))
    return [_extend_layout(c.x, ids, np.asarray(emb)) for c, emb in zip(clouds, model.embeddings_)]


# -- entry point ----------------------------------------------------------------------------------
def project_run(run: Run, steps: Iterable[int], method: str = "pca", n_components: int = 2,
                params: Mapping[str, Any] | None = None, progress: ProgressFn | None = None,
                use_cache: bool = True) -> dict[int, Projection]:
    """Project the snapshots of ``steps`` of ``run`` into ``n_components`` aligned dimensions.

    Parameters
    ----------
    run : proxylab.store.Run
        An opened run.
    steps : iterable of int
        Snapshot steps (duplicates are dropped; the result is keyed and ordered by step).
    method : {"pca", "umap", "umap_aligned", "native"}
        See the module docstring.
    n_components : {2, 3}
        Output dimensions (``native`` returns d columns).
    params : dict, optional
        Method parameters, see ``DEFAULT_PARAMS``; part of the cache key.
    progress : callable(fraction, message), optional
        Called with a fraction in [0, 1] and a short message as work advances.
    use_cache : bool
        Read and write ``<run>/projections/<key>.npz``; a corrupt cache file is recomputed.

    Returns
    -------
    dict[int, Projection]
    """
    report: ProgressFn = progress or (lambda fraction, message: None)
    wanted = _check_request(run, steps, n_components)
    resolved = resolve_params(method, params)
    path = cache_path(run, cache_key(run, wanted, method, n_components, resolved)) if use_cache else None
    if path is not None:
        hit = _load_cache(path, wanted)
        if hit is not None:
            report(1.0, "loaded from cache")
            return hit
    start = time.perf_counter()
    clouds = _load_clouds(run, wanted, report, 0.2)
    report(0.2, f"projecting {len(clouds)} snapshot(s) with {method}")
    if method == "native":
        coords = _native(clouds, n_components)
    elif method == "pca":
        coords = _pca(clouds, n_components, resolved)
    elif method == "umap":
        coords = _umap(clouds, n_components, resolved, report)
    else:
        coords = _umap_aligned(clouds, n_components, resolved, report)
    result = {c.step: c.split(xy) for c, xy in zip(clouds, coords)}
    if path is not None:
        info = {"method": method, "n_components": n_components, "params": resolved, "steps": wanted,
                "seconds": time.perf_counter() - start, "code_version": CODE_VERSION}
        _save_cache(path, result, info)
    report(1.0, "done")
    return result


# -- quality measures (used for the numbers in the module docstring) --------------------------------
def layout_motion(projections: Mapping[int, Projection]) -> float:
    """Mean displacement of points between consecutive steps / the layout's RMS radius (mean over steps).

    Only consecutive steps with the same number of points count; NaN if there are none.
    """
    steps = sorted(projections)
    ratios = []
    for a, b in zip(steps, steps[1:]):
        pa, pb = projections[a].points.astype(np.float64), projections[b].points.astype(np.float64)
        if pa.shape != pb.shape:
            continue
        scale = 0.5 * (np.sqrt(((pa - pa.mean(0)) ** 2).sum(1).mean()) + np.sqrt(((pb - pb.mean(0)) ** 2).sum(1).mean()))
        ratios.append(np.linalg.norm(pb - pa, axis=1).mean() / max(scale, 1e-12))
    return float(np.mean(ratios)) if ratios else math.nan


def knn_preservation(x: np.ndarray, coords: np.ndarray, k: int = 10, chunk: int = 1024) -> float:
    """Fraction of each point's k nearest neighbours (cosine in x) kept among its k nearest in ``coords``."""
    x = _unit(x)
    coords = np.asarray(coords, np.float64)
    n = x.shape[0]
    k = min(k, n - 1)
    kept = 0
    sq = (coords**2).sum(1)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        sim = x[rows] @ x.T
        sim[np.arange(len(rows)), rows] = -np.inf
        dist = sq[rows, None] + sq[None, :] - 2 * coords[rows] @ coords.T
        dist[np.arange(len(rows)), rows] = np.inf
        hi = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        lo = np.argpartition(dist, k - 1, axis=1)[:, :k]
        kept += sum(len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(hi, lo))
    return kept / (n * k)
