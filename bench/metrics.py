"""Retrieval metrics: proxylab ``retrieval_metrics`` vs pytorch-metric-learning ``AccuracyCalculator``
(precision_at_1, r_precision, mean_average_precision_at_r), time and peak memory, each case in a fresh
subprocess; plus the matmul lower bound (the N×N×d similarity product done in the same chunks, results
discarded) that any exact method has to pay.

Data: N points in d = 128, N/100 classes of 100 points (so R_q = 99 and MAP@R looks 99 deep),
class centre + Gaussian noise (continuous: no ties). PML uses faiss when it is installed; without
faiss its default ``FaissKNN`` cannot run, so it gets its torch k-NN: ``CustomKNN(CosineSimilarity())``
unbatched (one N×N matrix) and ``CustomKNN(CosineSimilarity(), batch_size=b)`` with b = the rows per
chunk proxylab uses (same memory budget). The JSON records which k-NN each PML case used.

Peak memory = the highest RSS sampled every 2 ms during the call minus the RSS just before it (after
``malloc_trim``), so it is what the metric call itself adds, not the data or the imports.

*Large* (full run only): proxylab alone at N = 450,000 x d = 128 with SOP-like labels (classes of 2-12
items plus four big classes of 500-4,000, so MAP@R looks up to 3,999 deep for some queries) and the
default ks (1, 2, 4, 8); it records the wall time and the child's whole peak RSS (``ru_maxrss``: data,
imports and all). SOP's own ks (1, 10, 100, 1000) make every query keep its top 1,000, several times
slower on CPU. Alone: ``python -m bench.metrics --worker '{"N": 450000, "impl": "large", "reps": 1}'``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from typing import Any

from .common import fit_exponent, log, run_worker

D = 128
PER_CLASS = 100
FULL = {"N": (2500, 5000, 10000, 20000, 100000), "rounds": 2, "rounds_by_N": {100000: 1}, "reps": {100000: 1},
        "default_reps": 3}
QUICK = {"N": (10000,), "rounds": 1, "rounds_by_N": {}, "reps": {}, "default_reps": 2}
PML_FULL_MATRIX_MAX_N = 20000  # an unbatched PML N×N float32 matrix: 1.6 GB at 20k, 40 GB at 100k
LARGE_N = 450_000
BIG_CLASS_SIZES = (500, 1000, 2000, 4000)


def _data(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    classes = max(2, n // PER_CLASS)
    y = np.repeat(np.arange(classes), PER_CLASS)[:n]
    y = rng.permutation(np.concatenate([y, rng.integers(0, classes, n - len(y))]))
    centres = rng.standard_normal((classes, D), dtype=np.float32)
    x = centres[y] + 2.0 * rng.standard_normal((n, D), dtype=np.float32)
    return x, y.astype(np.int64)


def sop_like_labels(n: int, seed: int = 0):
    """Labels (n,) int64 in random order: the classes of :data:`BIG_CLASS_SIZES`, then classes of 2-12 items
    (uniform sizes, like Stanford Online Products) until n items; the last class takes the remainder (>= 2)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = list(BIG_CLASS_SIZES)
    while sum(sizes) < n:
        sizes.append(int(rng.integers(2, 13)))
    sizes[-1] -= sum(sizes) - n
    if sizes[-1] < 2:  # fold a too-small remainder into the class before it
        sizes[-2] += sizes.pop()
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes)).astype(np.int64)


def large_data(n: int = LARGE_N, d: int = D, noise: float = 2.0, seed: int = 0):
    """SOP-like labels and float32 embeddings (n, d) = unit class centre + ``noise`` x N(0, I/d) per item;
    noise 2.0 gives partial retrieval, noise 0.1 separates every class (all cosines to classmates ~0.99,
    to other classes' items < 0.7)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = sop_like_labels(n, seed)
    centres = rng.standard_normal((int(y.max()) + 1, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[y]
    x += (noise / np.sqrt(d)) * rng.standard_normal((n, d), dtype=np.float32)
    return x, y


def large_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """proxylab at N = spec["N"] (default 450,000) on :func:`large_data`: time and the process's peak RSS.

    ``spec["queries"]`` (default: all N) searches only that many random queries, against the whole gallery: the
    memory is that of the full search (the gallery, its distinct rows and one chunk), the time a fraction of it."""
    import resource

    import numpy as np
    import torch

    from proxylab.metrics import retrieval_metrics

    n = spec.get("N", LARGE_N)
    x, y = large_data(n)
    counts = np.bincount(y)
    queries = spec.get("queries", n)
    rows = None if queries >= n else np.sort(np.random.default_rng(2).choice(n, queries, replace=False))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _trim()
    with _PeakSampler() as peak:
        t0 = time.perf_counter()
        if rows is None:
            values = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y))
        else:
            values = retrieval_metrics(torch.from_numpy(x[rows]), torch.from_numpy(y[rows]), gallery=torch.from_numpy(x),
                                       gallery_labels=torch.from_numpy(y), query_indices=torch.from_numpy(rows))
        seconds = time.perf_counter() - t0
    return {"N": n, "queries": queries, "d": D, "impl": "large", "classes": len(counts), "max_R": int(counts.max()) - 1,
            "median_class_size": float(np.median(counts)), "ks": [1, 2, 4, 8], "threads": torch.get_num_threads(),
            "seconds": seconds, "values": values, "peak_delta_bytes": peak.delta,
            "maxrss_before_bytes": before,
            "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


class _PeakSampler:
    def __init__(self, interval: float = 0.002):
        from .common import current_rss_bytes

        self.rss, self.interval = current_rss_bytes, interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.start = self.rss()
        self.peak = self.start
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())

    @property
    def delta(self) -> int:
        return self.peak - self.start


def _trim():
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from proxylab.metrics import retrieval_metrics
    from proxylab.metrics.neighbours import chunk_rows

    if spec["impl"] == "large":
        return large_worker(spec)
    n, impl, reps = spec["N"], spec["impl"], spec["reps"]
    x_np, y_np = _data(n)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    counts = torch.bincount(y)
    k_max = int(counts.max()) - 1  # deepest R_q
    rows = chunk_rows(n, max(k_max, 1), 4)
    info: dict[str, Any] = {"N": n, "impl": impl, "chunk_rows": rows, "max_R": k_max}
    if impl == "ours":
        def call():
            r = retrieval_metrics(x, y, ks=(1,))
            return {"precision_at_1": r["P@1"], "r_precision": r["RP"], "mean_average_precision_at_r": r["MAP@R"]}
    elif impl in ("pml", "pml_full"):
        from pytorch_metric_learning.distances import CosineSimilarity
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
        from pytorch_metric_learning.utils.inference import CustomKNN

        try:
            import faiss  # noqa: F401

            knn_func, info["knn"] = None, "FaissKNN (faiss installed)"
        except ImportError:
            if impl == "pml":
                knn_func = CustomKNN(CosineSimilarity(), batch_size=rows)
                info["knn"] = f"CustomKNN(CosineSimilarity(), batch_size={rows}) (torch, no faiss)"
            else:
                knn_func = CustomKNN(CosineSimilarity())
                info["knn"] = "CustomKNN(CosineSimilarity()) unbatched: one N x N matrix (torch, no faiss)"
        calc = AccuracyCalculator(include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
                                  k="max_bin_count", device=torch.device("cpu"), knn_func=knn_func)

        def call():
            return calc.get_accuracy(x, y)  # reference = query, query excluded
    elif impl == "matmul":
        import torch.nn.functional as F

        def call():
            xh = F.normalize(x, dim=1)
            for s in range(0, n, rows):
                _ = xh[s:s + rows] @ xh.T
            return {}
    else:
        raise ValueError(impl)
    _trim()
    with _PeakSampler() as peak:
        t0 = time.perf_counter()
        values = call()
        cold = time.perf_counter() - t0
    times = [cold]
    for _ in range(reps - 1):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    warm = times[1:] or times
    info.update({"values": {k: float(v) for k, v in values.items()}, "cold_s": cold, "times_s": times,
                 "median_s": statistics.median(warm), "peak_delta_bytes": peak.delta,
                 "nxn_float32_bytes": 4 * n * n})
    return info


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    rows = []
    for n in cfg["N"]:
        impls = ["ours", "pml", "matmul"] + (["pml_full"] if n <= PML_FULL_MATRIX_MAX_N else [])
        reps = cfg["reps"].get(n, cfg["default_reps"])
        results: dict[str, list[dict]] = {i: [] for i in impls}
        rounds = cfg["rounds_by_N"].get(n, cfg["rounds"])
        for r in range(rounds):
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                log(f"metrics N={n} {impl} (round {r + 1}/{rounds})")
                results[impl].append(run_worker("bench.metrics", {"N": n, "impl": impl, "reps": reps}))
        row: dict[str, Any] = {"N": n, "d": D, "classes": max(2, n // PER_CLASS), "reps": reps, "rounds": rounds,
                               "cases": {}}
        for impl, outs in results.items():
            ok = [o for o in outs if "error" not in o]
            if not ok:
                row["cases"][impl] = {"error": outs[0]["error"]}
                continue
            row["cases"][impl] = {
                "median_s": statistics.median(o["median_s"] for o in ok),
                "runs_s": [t for o in ok for t in o["times_s"]],
                "peak_delta_bytes": max(o["peak_delta_bytes"] for o in ok),
                "nxn_float32_bytes": ok[0]["nxn_float32_bytes"],
                "values": ok[0]["values"], "knn": ok[0].get("knn"), "chunk_rows": ok[0]["chunk_rows"],
                "max_R": ok[0]["max_R"],
            }
        c = row["cases"]
        if "median_s" in c.get("ours", {}):
            if "median_s" in c.get("pml", {}):
                row["ratio_vs_pml"] = c["ours"]["median_s"] / c["pml"]["median_s"]
                row["max_abs_value_diff"] = max(abs(c["ours"]["values"][k] - c["pml"]["values"][k])
                                                for k in c["ours"]["values"])
            if "median_s" in c.get("pml_full", {}):
                row["ratio_vs_pml_full"] = c["ours"]["median_s"] / c["pml_full"]["median_s"]
            if "median_s" in c.get("matmul", {}):
                row["ratio_vs_matmul"] = c["ours"]["median_s"] / c["matmul"]["median_s"]
            row["ours_peak_over_nxn"] = c["ours"]["peak_delta_bytes"] / c["ours"]["nxn_float32_bytes"]
        rows.append(row)
    ns = [r["N"] for r in rows]
    exps = {impl: fit_exponent(ns, [r["cases"].get(impl, {}).get("median_s") for r in rows])
            for impl in ("ours", "pml", "matmul", "pml_full")}
    out = {"config": {"N": list(cfg["N"]), "d": D, "per_class": PER_CLASS, "rounds": cfg["rounds"],
                      "rounds_by_N": {str(k): v for k, v in cfg["rounds_by_N"].items()}},
           "rows": rows, "time_exponent_in_N": exps}
    if not quick:
        log(f"metrics large N={LARGE_N}")
        out["large"] = run_worker("bench.metrics", {"N": LARGE_N, "impl": "large", "reps": 1}, timeout=4 * 3600)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    print(json.dumps(worker(json.loads(ap.parse_args().worker))))
