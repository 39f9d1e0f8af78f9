"""Leaf measurements of one stored run, named by a spec string, and the ledger that traces every reported number
back to them.

A spec names what is read from the run store and how it is reduced, e.g. ``eval/test/R@1/last`` (the last
evaluation), ``eval/test/R@1/0`` (step 0), ``scalar/proxy/mean_sq_cos/tail20`` (mean of the last 20 logged steps),
``vector/proxy_grad/gini`` (Gini over proxies, averaged over steps), ``conv/R@1/0.9/steps`` (first evaluated step
reaching 90 % of the final test R@1), ``elasticity/sample`` (slope of log per-sample gradient vs log class count in
the batch). Every number in the report is an expression over such leaves (:class:`Ledger`), so a test can
recompute it from the store.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..summary import first_step_reaching, metric_curve
from .bootstrap import mean_interval, rank_corr, tau_gain_interval

# -- leaves ---------------------------------------------------------------------------------------------------
def measure(run, spec: str) -> float:
    """The value of ``spec`` on ``run`` (a :class:`proxylab.store.Run`); NaN when the run lacks it."""
    kind, _, rest = spec.partition("/")
    if kind == "eval":
        split, metric, at = _split3(rest)
        ev = run.evals()
        rows = ev[(ev["split"] == split) & (ev["metric"] == metric)].sort_values("step")
        if not len(rows):
            return float("nan")
        if at == "last":
            return float(rows["value"].iloc[-1])
        rows = rows[rows["step"] == int(at)]
        return float(rows["value"].iloc[0]) if len(rows) else float("nan")
    if kind == "scalar":
        key, _, red = rest.rpartition("/")
        col = run.scalars([key])[key].dropna()
        if not len(col):
            return float("nan")
        if red.startswith("tail"):
            return float(col.tail(int(red[4:])).mean())
        if red.startswith("head"):
            return float(col.head(int(red[4:])).mean())
        if red == "mean":
            return float(col.mean())
        if red == "max":
            return float(col.max())
        if red == "sum":
            return float(col.sum())
        raise ValueError(f"unknown scalar reduction {red!r} in {spec!r}")
    if kind == "vector":
        key, _, stat = rest.rpartition("/")
        _, values = run.vectors(key)  # (T, n)
        if not len(values):
            return float("nan")
        per_step = [_vector_stat(v[np.isfinite(v)], stat) for v in values]
        return float(np.nanmean(per_step))
    if kind == "conv":
        metric, frac, what = _split3(rest)
        return convergence(run, metric, float(frac), what)
    if kind == "reach":  # ``reach/R@1/0.876543/steps``: first evaluated step with test R@1 >= the value (NaN: never)
        metric, value, what = _split3(rest)
        return reach(run, metric, float(value), what)
    if kind == "elasticity":
        return gradient_elasticity(run, rest)
    if kind == "config":
        value = run.config
        for part in rest.split("."):  # ``config/eval_ks.2``: an item of a list
            value = value[int(part)] if isinstance(value, list) else value[part]
        return float(value)
    if kind == "time":  # ``time/created`` or ``time/updated``: the run's timestamps, as POSIX seconds
        from datetime import datetime

        return datetime.fromisoformat(run.meta[rest]).timestamp()
    if kind == "dataset":  # ``dataset/num_classes``: classes of the training split
        info = run.meta.get("dataset", {})
        return float(info.get("num_train_classes", len(info.get("class_names", []))))
    raise ValueError(f"unknown measure {spec!r}")


def _split3(rest: str) -> tuple[str, str, str]:
    a, _, tail = rest.partition("/")
    b, _, c = tail.rpartition("/")
    return a, b, c


def _vector_stat(v: np.ndarray, stat: str) -> float:
    if v.size == 0 or v.sum() <= 0:
        return float("nan")
    if stat == "gini":
        s = np.sort(v.astype(np.float64))
        n = s.size
        return float(2 * np.sum(np.arange(1, n + 1) * s) / (n * s.sum()) - (n + 1) / n)
    if stat == "top10":
        top = max(1, int(round(0.1 * v.size)))
        return float(np.sort(v)[::-1][:top].sum() / v.sum())
    if stat == "cv":
        return float(v.std() / v.mean())
    raise ValueError(f"unknown vector statistic {stat!r}")


def convergence(run, metric: str, fraction: float, what: str) -> float:
    """First evaluated step (``steps``) — or the training seconds up to it (``seconds``, the sum of the logged
    ``time/step``, evaluation excluded) — at which the test ``metric`` reaches ``fraction`` × its final value
    (``of=final``) … ``what`` may end in ``_gain``: reach ``fraction`` of the way from step 0 to the end."""
    steps, vals = metric_curve(run.evals(), metric)
    if not len(vals):
        return float("nan")
    final = vals[-1]
    if what.endswith("_gain"):
        start = vals[steps == 0][0] if (steps == 0).any() else vals[0]
        target = start + fraction * (final - start)
    else:
        target = fraction * final
    hit = first_step_reaching(steps, vals, target)  # the final value always reaches it
    if what.startswith("steps"):
        return float(hit)
    t = run.scalars(["time/step"])["time/step"]
    return float(t[t.index <= hit].sum())


def reach(run, metric: str, target: float, what: str) -> float:
    """First evaluated step (``steps``) or training seconds up to it (``seconds``) at which the test ``metric``
    reaches ``target``; NaN when it never does within the run."""
    hit = first_step_reaching(*metric_curve(run.evals(), metric), target)
    if math.isnan(hit) or what == "steps":
        return float(hit)
    t = run.scalars(["time/step"])["time/step"]
    return float(t[t.index <= hit].sum())


def batch_class_counts(run) -> np.ndarray:
    """(steps, C) per-class sample counts of every training batch, rebuilt from the run's config (the sampler is a
    function of the seed)."""
    from ..data import ClassBalancedSampler, make_dataset

    cfg = run.config
    data = make_dataset(cfg["data"], root=cfg.get("data_root"), split=cfg.get("split"), seed=cfg["seed"],
                        **cfg.get("data_params", {}))
    labels = np.asarray(data.train.labels)
    c = len(data.train.class_names)
    sampler = ClassBalancedSampler(labels, min(cfg["classes_per_batch"], c), cfg["samples_per_class"],
                                   num_batches=cfg["steps"], seed=cfg["seed"], imbalance=cfg["imbalance"])
    return np.stack([np.bincount(labels[np.asarray(b)], minlength=c) for b in sampler])


def gradient_elasticity(run, which: str) -> float:
    """Least-squares slope of log(gradient) on log(n_c), n_c = class c's count in the batch, pooled over steps and
    present classes. ``sample``: the class's mean per-sample ‖∂L/∂f(x)‖ (vector ``class_grad`` / n_c);
    ``proxy``: the summed gradient norm of the class's proxies (vector ``proxy_grad``). Slope 0 = independent of
    how many same-class samples the batch holds, -1 = shared (∝ 1/n_c), +1 = additive (∝ n_c)."""
    counts = batch_class_counts(run)  # (T, C)
    key = "class_grad" if which == "sample" else "proxy_grad"
    steps, values = run.vectors(key)  # steps are 1-based
    if not len(steps):
        return float("nan")
    n = counts[steps - 1].astype(np.float64)  # (T, C)
    g = values.astype(np.float64).reshape(len(steps), n.shape[1], -1).sum(-1)  # (T, C)
    if which == "sample":
        g = g / np.where(n > 0, n, np.nan)
    ok = (n > 0) & np.isfinite(g) & (g > 0)
    x, y = np.log(n[ok]), np.log(g[ok])
    if x.size < 3 or np.ptp(x) == 0:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


# -- the ledger ---------------------------------------------------------------------------------------------------
class Q:
    """A number with the expression it was computed from (``["leaf", run, spec]`` or ``[op, *args]``)."""

    __slots__ = ("value", "expr")

    def __init__(self, value: float, expr: list):
        self.value = float(value)
        self.expr = expr

    def __repr__(self) -> str:
        return f"Q({self.value:.4g})"


def _nanmean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def _nanstd(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else float("nan")


OPS: dict[str, Callable[..., float]] = {
    "mean": lambda *xs: _nanmean(xs),
    "std": lambda *xs: _nanstd(xs),
    "min": lambda *xs: float(np.nanmin(xs)),
    "max": lambda *xs: float(np.nanmax(xs)),
    "mul": lambda a, b: a * b,
    "hypot": lambda a, b: math.hypot(0.0 if math.isnan(a) else a, 0.0 if math.isnan(b) else b),
    "ratio": lambda a, b: a / b if b else float("nan"),
    "diff": lambda a, b: a - b,
    "count_ge": lambda t, *xs: float(sum(x >= t - 1e-12 for x in xs)),
    "count": lambda *xs: float(len(xs)),
}


def _interval_bound(interval: Callable[..., tuple[float, float]]) -> Callable[..., float]:
    """An interval function as an op: its first argument picks the bound, ``"lo"`` or ``"hi"``."""
    return lambda bound, *args: interval(*args)[("lo", "hi").index(bound)]


# ops whose arguments are nested lists of numbers or plain parameters (strings), not just numbers
STRUCTURED: dict[str, Callable[..., float]] = {
    "kendall": lambda a, b: rank_corr("kendall", a, b),
    "spearman": lambda a, b: rank_corr("spearman", a, b),
    "boot_mean": _interval_bound(mean_interval),  # bound, [per-seed values], level, seed, resamples
    "boot_tau_gain": _interval_bound(tau_gain_interval),  # bound, [better groups], [worse groups], level, seed, …
}


def _map_tree(fn: Callable, tree):
    """``fn`` applied to every item of a nested list that is not a list (or, in an expression tree, to every
    sub-expression: a list that starts with an op name); strings given as plain parameters are kept."""
    if isinstance(tree, list) and not (tree and isinstance(tree[0], str)):
        return [_map_tree(fn, x) for x in tree]
    return tree if isinstance(tree, str) else fn(tree)


def evaluate_expr(expr: list, leaf: Callable[[str, str], float]) -> float:
    """Recompute an expression; ``leaf(run, spec)`` supplies the leaves."""
    op = expr[0]
    if op == "leaf":
        return leaf(expr[1], expr[2])
    if op == "const":
        return float(expr[1])
    if op in STRUCTURED:
        return STRUCTURED[op](*[_map_tree(lambda e: evaluate_expr(e, leaf), a) for a in expr[1:]])
    return OPS[op](*[evaluate_expr(e, leaf) for e in expr[1:]])


class Ledger:
    """Reads leaves from the store (cached) and records every number written into the report."""

    def __init__(self, store, leaves: dict[str, dict[str, float]] | None = None):
        from ..store import open_run

        self.store = store
        self._open = open_run
        self._runs: dict[str, Any] = {}
        self.leaves: dict[str, dict[str, float]] = {run: dict(specs) for run, specs in (leaves or {}).items()}
        self.numbers: list[dict[str, Any]] = []

    @classmethod
    def from_leaves(cls, leaves: dict[str, dict[str, float]]) -> "Ledger":
        """A ledger that reads nothing from a store: only the given measurements (a ``reproduce.json``'s
        ``leaves``); asking for another one raises ValueError."""
        return cls(None, leaves)

    def run(self, name: str):
        if self.store is None:
            raise ValueError(f"run {name} is not readable: this report is rendered from stored measurements only")
        if name not in self._runs:
            self._runs[name] = self._open(self.store, name)
        return self._runs[name]

    def leaf(self, run: str, spec: str) -> Q:
        cache = self.leaves.setdefault(run, {})
        if spec not in cache:
            if self.store is None:
                raise ValueError(f"the stored measurements lack {spec!r} of run {run}; rendering this report needs "
                                 "the run store")
            cache[spec] = measure(self.run(run), spec)
        return Q(cache[spec], ["leaf", run, spec])

    def op(self, op: str, *args: Q) -> Q:
        return Q(OPS[op](*[a.value for a in args]), [op, *[a.expr for a in args]])

    def mean(self, qs: list[Q]) -> Q:
        return self.op("mean", *qs)

    def std(self, qs: list[Q]) -> Q:
        return self.op("std", *qs)

    def structured(self, op: str, *args) -> Q:
        """A :data:`STRUCTURED` op over nested lists of quantities (plain strings pass through as parameters)."""
        return Q(STRUCTURED[op](*[_map_tree(lambda q: q.value, a) for a in args]),
                 [op, *[_map_tree(lambda q: q.expr, a) for a in args]])

    def const(self, value: float, why: str) -> Q:
        """A protocol parameter (a threshold the analysis uses), not a result; listed in the report's appendix."""
        return Q(value, ["const", value, why])

    def fmt(self, q: Q, spec: str = ".3f") -> str:
        """The text of ``q`` as written in the report (recorded with its expression)."""
        text = "n/a" if math.isnan(q.value) else format(q.value, spec)
        self.numbers.append({"text": text, "fmt": spec, "value": q.value, "expr": q.expr})
        return text

    def pm(self, qs: list[Q], spec: str = ".3f") -> str:
        """``mean ± std`` over seeds."""
        return f"{self.fmt(self.mean(qs), spec)} ± {self.fmt(self.std(qs), spec.replace('+', ''))}"
