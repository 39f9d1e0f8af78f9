"""Shared helpers: machine description, interleaved timing, fresh-subprocess workers, JSON output, fits."""
from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent


# -- machine and versions ---------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("torch", "numpy", "umap", "sklearn", "pytorch_metric_learning", "streamlit", "plotly", "numba",
                "playwright", "proxylab"):
        try:
            m = __import__(mod)
            v = getattr(m, "__version__", None)
            if v is None and mod == "playwright":
                from importlib.metadata import version

                v = version("playwright")
            out[mod] = str(v)
        except Exception as e:  # noqa: BLE001 - a missing optional package is just reported
            out[mod] = f"not available ({type(e).__name__})"
    try:
        import faiss  # noqa: F401

        out["faiss"] = str(faiss.__version__)
    except Exception:  # noqa: BLE001
        out["faiss"] = "not installed"
    return out


def source_state() -> dict[str, Any]:
    """Which code was measured: git HEAD (read-only), whether the tree differs from it, and a digest of the
    measured sources (proxylab/, dashboard/, bench/) as they were when the suite finished."""
    import hashlib

    out: dict[str, Any] = {}
    try:
        out["git_head"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                         text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "proxylab", "dashboard"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        out["uncommitted_changes_in_measured_code"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        out["git_head"] = ""
    # a copy of the tree without .git (a lent GPU machine): the commit it was copied at, if the caller says so
    out["git_head"] = out["git_head"] or os.environ.get("BENCH_GIT_HEAD", "unknown")
    digest = hashlib.sha1()
    for folder in ("proxylab", "dashboard", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    out["sources_sha1"] = digest.hexdigest()[:12]
    return out


def machine() -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    info = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "device": device,
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def command_line() -> str:
    return "python -m bench " + " ".join(sys.argv[1:])


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def write_result(out_dir: Path, suite: str, payload: dict[str, Any], started: str, load_start: list[float],
                 quick: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "suite": suite,
        "command": command_line(),
        "quick": quick,
        "started": started,
        "finished": now(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "machine": machine(),
        "versions": versions(),
        "source": source_state(),
        **payload,
    }
    path = out_dir / f"{suite}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=_json_default))
    os.replace(tmp, path)
    return path


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


# -- timing -------------------------------------------------------------------------------------------
def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, min_run_time: float,
                setup_globals: dict | None = None) -> dict[str, dict[str, float]]:
    """Median time per call of each function, measured in alternating rounds (A B C, A B C, ...).

    Each round measures every function once with ``torch.utils.benchmark.Timer.blocked_autorange``
    (``min_run_time`` seconds); the result per function is the median over rounds of the per-round
    medians, plus the spread (min/max of round medians) and the number of timed calls. Alternating
    keeps slow drifts of machine load from favouring one implementation.
    """
    from torch.utils import benchmark

    per_round: dict[str, list[float]] = {k: [] for k in fns}
    calls: dict[str, int] = {k: 0 for k in fns}
    names = list(fns)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            timer = benchmark.Timer(stmt="fn()", globals={"fn": fns[name]}, num_threads=_threads())
            m = timer.blocked_autorange(min_run_time=min_run_time)
            per_round[name].append(m.median)
            calls[name] += m.number_per_run * len(m.times)
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "rounds": len(v),
                "calls": calls[k], "round_medians_s": v} for k, v in per_round.items()}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def paired_ratio(per_round_a: list[float], per_round_b: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(per_round_a, per_round_b))


# -- fresh subprocesses ---------------------------------------------------------------------------------
def run_worker(module: str, spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run ``python -m <module> --worker '<json spec>'`` in a fresh interpreter; its last stdout line is JSON."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, "--worker", json.dumps(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"worker exit {proc.returncode}: " + " | ".join(tail), "process_wall_s": wall}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1])
    out["process_wall_s"] = wall
    return out


def maxrss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes(pid: int | None = None) -> int:
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss_bytes(pid: int) -> int:
    """RSS of a process and its descendants (streamlit may fork)."""
    total = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    try:
        total += current_rss_bytes(pid)
    except OSError:
        return 0
    for c in children:
        total += tree_rss_bytes(int(c))
    return total


# -- fits -------------------------------------------------------------------------------------------------
def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): y ∝ x^slope. None with fewer than two distinct x."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y and y > 0]
    if len({p[0] for p in pts}) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    return sxy / sxx


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def write_mixture_run(store: Path, name: str, n: int, d: int, snapshots: int = 1) -> None:
    """A run of n points × d written directly (no training): 12 classes × 3 modes whose centres drift apart over
    `snapshots` snapshots (steps 0, 10, …), proxies (12, 3, d) on the modes, half train / half test, PCA cached —
    what a user's import of that size looks like to the dashboard."""
    import numpy as np

    from proxylab.projection import project_run
    from proxylab.store import RunWriter, open_run

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(36, d)).astype(np.float32)
    modes = rng.integers(0, 36, n)
    noise = rng.normal(size=(n, d)).astype(np.float32)
    meta = {"config": {"loss": "mpa", "proxies_per_class": 3, "embedding_dim": d},
            "dataset": {"class_names": [f"class {c}" for c in range(12)]}}
    with RunWriter.create(store, name, meta) as writer:
        for s in range(snapshots):
            spread = 0.3 + s / max(1, snapshots - 1)
            writer.write_snapshot(10 * s, embeddings=spread * centres[modes] + noise, labels=modes // 3, modes=modes,
                                  split=(np.arange(n) % 2).astype(np.int8), index=np.arange(n) // 2,
                                  grad_norm=np.full(n, np.nan, np.float32),
                                  proxies=(spread * centres).reshape(12, 3, d).astype(np.float32))
        writer.set_status("finished")
    run = open_run(store, name)
    project_run(run, run.snapshot_steps(), "pca", 2)
