"""The dashboard in headless Chromium (Playwright): time to first chart on a run whose PCA projection is cached,
step-slider redraw latency at 5k and 50k points, and the streamlit server's memory (RSS of its process tree).

Store: the demo's runs (``proxylab demo``: the target is about "a cached demo run"; measured on
``demo-multi-proxy``, 1,000 points, PCA cached), and fake runs from ``proxylab.store.write_fake_run`` (n = 5,000 and 50,000 points, 6 classes × 3 modes,
K = 4, d = 16, 100 steps, 15 snapshots), PCA projection precomputed (``project_run``) so the page only reads
the cache. ``write_fake_run`` computes its fake eval metrics with an N×N numpy matrix (35k × 35k float64 at
n = 50k, ~10 GB); the benchmark replaces that helper with one that evaluates a 3,000-point subset while
writing the store (it only changes the fake eval metrics, not the snapshots the page draws).

Per size, on a fresh ``streamlit run`` server: *first chart (cold server)* = the first page load after the
server starts (``goto /embedding?run=...`` until the Plotly chart has data); *first chart (fresh browser)* =
further loads, each in a new browser profile with an empty HTTP cache (median), so Streamlit's and Plotly's scripts
(4.7 MB for the Plotly chunk alone) are fetched and compiled every time; *first chart (browser cache)* = loads in
new pages of one profile that has opened the page once (a returning visitor: scripts from the HTTP cache);
*slider redraw* = keyboard Home / End on the step slider until the chart title shows the new step (median over
alternating presses); RSS sampled after each phase.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, tree_rss_bytes

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CHART = ".js-plotly-plot .main-svg"
VIEWPORT = {"width": 1400, "height": 1000}
FULL = {"N": (5000, 50000), "loads": 4, "slides": 6}
QUICK = {"N": (5000,), "loads": 2, "slides": 2}


def _subsampled_fake_retrieval(limit: int = 3000):
    import numpy as np

    from proxylab.store import fake

    original = fake._retrieval

    def retrieval(emb, labels, ks=(1, 2, 4, 8)):
        if len(labels) > limit:
            idx = np.random.default_rng(0).choice(len(labels), limit, replace=False)
            emb, labels = emb[idx], labels[idx]
        return original(emb, labels, ks)

    return retrieval


DEMO_RUN, DEMO_POINTS = "demo-multi-proxy", 1000  # a run of `proxylab demo`, as the demo leaves it (PCA cached)


def build_demo_run(store: Path) -> list[int]:
    """Train the demo's teaching runs into `store` and cache their PCA, as `proxylab demo` does."""
    from proxylab.demo import precompute_projections, train_demo_runs
    from proxylab.store import open_run

    t0 = time.perf_counter()
    train_demo_runs(store)
    precompute_projections(store)
    steps = open_run(store, DEMO_RUN).snapshot_steps()
    log(f"dashboard: demo runs trained + PCA cached in {time.perf_counter() - t0:.0f} s")
    return steps


def build_store(store: Path, sizes) -> dict[int, tuple[str, int]]:
    from proxylab.projection import project_run
    from proxylab.store import fake, open_run, write_fake_run

    fake._retrieval = _subsampled_fake_retrieval()
    out = {}
    for n in sizes:
        name = f"fake-{n // 1000}k"
        t0 = time.perf_counter()
        write_fake_run(store, name, n=n, steps=100, classes=6, modes_per_class=3, k=4, d=16, seed=1)
        run = open_run(store, name)
        steps = run.snapshot_steps()
        project_run(run, steps, "pca", 2)
        log(f"dashboard: fake run {name} ({len(steps)} snapshots) written + PCA cached in "
            f"{time.perf_counter() - t0:.0f} s")
        out[n] = (name, steps)
    return out


def _start_server(store: Path, log_path: Path):
    from proxylab.serve import start_dashboard

    logf = open(log_path, "wb")
    t0 = time.perf_counter()
    proc, url = start_dashboard(store, logf, timeout_s=120)
    return proc, url, logf, time.perf_counter() - t0


def _first_chart(browser, url: str) -> tuple[float, Any]:
    """Open `url` in a new page of `browser` (a Browser: a fresh profile, empty HTTP cache; or a BrowserContext:
    a returning visitor whose cache already holds Streamlit's and Plotly's scripts)."""
    page = browser.new_page(**({"viewport": VIEWPORT} if hasattr(browser, "new_context") else {}))
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(CHART, timeout=180_000)
    page.wait_for_function("() => { const p = document.querySelector('.js-plotly-plot');"
                           " return p && p.data && p.data.length > 0; }", timeout=180_000)
    return time.perf_counter() - t0, page


def _loads(browser, url: str, times: int) -> list[float]:
    """Seconds to the first chart of `times` successive page loads (see _first_chart)."""
    seconds = []
    for _ in range(times):
        t, page = _first_chart(browser, url)
        seconds.append(t)
        page.close()
    return seconds


def _points_drawn(page) -> int:
    return page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData"
                         ".filter(t => t.customdata && t.customdata.length && t.customdata[0][0] >= 0)"
                         ".reduce((n, t) => n + t.x.length, 0)")


def _slide(page, key: str, step: int) -> float:
    t0 = time.perf_counter()
    page.get_by_role("slider").first.press(key)
    page.wait_for_function(f"() => document.querySelector('.js-plotly-plot').layout.title.text"
                           f".includes('step {step} (')", timeout=180_000)
    return time.perf_counter() - t0


def measure(n: int, name: str, steps: list[int], store: Path, cfg: dict, logdir: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    proc, url, logf, startup = _start_server(store, logdir / f"streamlit-{n}.log")
    res: dict[str, Any] = {"N": n, "run": name, "snapshots": len(steps), "server_startup_s": startup,
                           "rss_idle_bytes": tree_rss_bytes(proc.pid)}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page_url = f"{url}/embedding?run={name}"
            cold, page = _first_chart(browser, page_url)
            res["first_chart_cold_server_s"] = cold
            res["points_drawn"] = _points_drawn(page)
            res["rss_after_first_chart_bytes"] = tree_rss_bytes(proc.pid)
            page.close()
            warm = _loads(browser, page_url, cfg["loads"])
            res["first_chart_warm_s"] = warm
            res["first_chart_warm_median_s"] = statistics.median(warm)
            context = browser.new_context(viewport=VIEWPORT)
            _loads(context, page_url, 1)  # fills this profile's HTTP cache
            cached = _loads(context, page_url, cfg["loads"])
            context.close()
            res["first_chart_browser_cache_s"] = cached
            res["first_chart_browser_cache_median_s"] = statistics.median(cached)
            _, page = _first_chart(browser, page_url)
            page.wait_for_timeout(500)
            slides = []
            for i in range(cfg["slides"]):
                key, step = ("Home", steps[0]) if i % 2 == 0 else ("End", steps[-1])
                slides.append(_slide(page, key, step))
                page.wait_for_timeout(300)
            res["slider_redraw_s"] = slides
            res["slider_redraw_median_s"] = statistics.median(slides)
            res["exceptions_on_page"] = page.locator("[data-testid='stException']").count()
            res["rss_after_slider_bytes"] = tree_rss_bytes(proc.pid)
            browser.close()
    finally:
        res["rss_final_bytes"] = tree_rss_bytes(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        logf.close()
    return res


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    if not os.path.exists(CHROMIUM):
        return {"error": f"{CHROMIUM} missing (apt-get install -y chromium): dashboard not measured"}
    store = Path(tempfile.mkdtemp(prefix="proxylab-bench-dash-"))
    logdir = Path(tempfile.mkdtemp(prefix="proxylab-bench-dash-logs-"))
    import shutil

    try:
        demo_steps = build_demo_run(store)
        runs = build_store(store, cfg["N"])
        log(f"dashboard: measuring {DEMO_RUN}")
        demo = measure(DEMO_POINTS, DEMO_RUN, demo_steps, store, cfg, logdir)
        rows = [{**demo, "demo": True}]
        for n in cfg["N"]:
            name, steps = runs[n]
            log(f"dashboard: measuring {name}")
            rows.append(measure(n, name, steps, store, cfg, logdir))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    from dashboard import sampling

    return {"config": {**cfg, "N": list(cfg["N"])}, "max_points_drawn": sampling.MAX_POINTS, "rows": rows,
            "chromium_args": ARGS, "logs": str(logdir)}
