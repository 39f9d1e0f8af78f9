"""A selection's retrieval metrics at 100,000 × 128 (target: shown within 250 ms of the lasso).

Store: one run written directly (``bench.common.write_mixture_run``), one snapshot of N points × d (12 classes ×
3 modes, proxies (12, 3, d), half train / half test), its PCA cached. Selections are lasso-like: the samples inside a disc of the PCA
view around a random point, grown to the wanted size.

*Per-query values*: :func:`proxylab.selection.snapshot_queries` (every sample scored once as a query of its split:
what the Embedding page's background thread computes when it shows a step) and reading them back from the run's
cache. *Selection from the rows* = :func:`proxylab.selection.selection_metrics` with those values (R@1, MAP@R and
mode coverage of the selected samples), against *direct* scoring of the same queries (each against its whole split,
the reference: what ``proxylab eval --queries`` computes); medians of repeats.

*In the browser*: the Embedding page's player on this run (its per-query values computed), a box drawn over the
middle of the canvas with the mouse; seconds from the mouse-up to the selection's scores on the page (the player's
selection, its report, the Streamlit fragment's rerun and the browser's drawing of it), median over boxes.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import log, write_mixture_run

FULL = {"n": 100_000, "d": 128, "sizes": (100, 1_000, 10_000, 50_000, 100_000), "repeats": 7, "direct_max": 10_000,
        "boxes": 5}
QUICK = {"n": 20_000, "d": 64, "sizes": (100, 1_000, 10_000), "repeats": 3, "direct_max": 1_000, "boxes": 2}
TARGET_MS = 250.0
# in the page: the time of the next mouse-up, then every animation frame whether the scores' sentence is drawn
WATCH = """() => {
  window.__shownMs = null;
  window.__highlightMs = null;
  const api = document.querySelector('.pxl-player').playerApi;
  document.addEventListener('mouseup', () => {
    const up = performance.now();
    const frames = api.drawCount;
    const look = () => {
      if (window.__highlightMs == null && api.drawCount > frames) window.__highlightMs = performance.now() - up;
      if (document.body.textContent.includes('selected samples as queries')) window.__shownMs = performance.now() - up;
      else requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  }, { once: true, capture: true });
}"""
RUN = "selection-bench"


def _lasso_like(points: np.ndarray, size: int, rng) -> np.ndarray:
    """The `size` samples nearest a random sample in the 2-D view (a disc grown to that size)."""
    centre = points[rng.integers(len(points))]
    return np.sort(np.argsort(((points - centre) ** 2).sum(axis=1), kind="stable")[:size])


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def _in_process(store: Path, cfg: dict) -> dict[str, Any]:
    from proxylab.projection import cached_projection
    from proxylab.selection import cached_snapshot_queries, load_snapshot_queries, selection_metrics
    from proxylab.store import open_run

    run = open_run(store, RUN)
    step = run.snapshot_steps()[-1]
    snap = run.snapshot(step)
    t0 = time.perf_counter()
    queries = cached_snapshot_queries(run, step)
    per_query_s = time.perf_counter() - t0
    read_ms = _median_ms(lambda: load_snapshot_queries(run, step), cfg["repeats"])
    points = cached_projection(run, [step], "pca", 2)[step].points
    rng = np.random.default_rng(1)
    rows = []
    for size in cfg["sizes"]:
        ids = _lasso_like(points, size, rng)
        from_rows = _median_ms(lambda: selection_metrics(snap, ids, queries), cfg["repeats"])
        direct = (_median_ms(lambda: selection_metrics(snap, ids), max(1, cfg["repeats"] // 3))
                  if size <= cfg["direct_max"] else None)
        got, want = selection_metrics(snap, ids, queries), selection_metrics(snap, ids) if direct else None
        agree = None if want is None else max(abs(got[s][k] - want[s][k]) for s in got for k in got[s])
        rows.append({"size": size, "rows_ms": from_rows, "direct_ms": direct, "largest_difference": agree})
        log(f"selection: {size:,} selected: {from_rows:.1f} ms from rows"
            + (f", {direct:.0f} ms direct" if direct else ""))
    return {"per_query_s": per_query_s, "read_cache_ms": read_ms, "selections": rows}


def _in_browser(store: Path, cfg: dict, logdir: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from .dashboard import API, ARGS, CHROMIUM, VIEWPORT, _open_player, _start_server, _stop_server

    proc, url, logf, _ = _start_server(store, logdir / "selection-server.log")
    seconds, sizes, highlight = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            _, page = _open_player(browser, f"{url}/embedding?run={RUN}&projection=pca")
            page.locator(".pxl-mouse").select_option("box")
            canvas = page.locator(".pxl-player canvas").first
            for i in range(cfg["boxes"]):
                if i:  # clear, so the next box is a new selection
                    page.get_by_role("button", name="Clear selection").click()
                    page.wait_for_selector("text=Nothing selected", timeout=60_000)
                canvas.scroll_into_view_if_needed()
                box = canvas.bounding_box()  # the page moves as the tables below come and go
                cx, cy = box["x"] + box["width"] * (0.35 + 0.06 * i), box["y"] + box["height"] * 0.5
                w, h = box["width"] * 0.12, box["height"] * 0.2
                page.mouse.move(cx - w, cy - h)
                page.mouse.down()
                for f in (0.05, 0.3, 0.6, 1.0):
                    page.mouse.move(cx - w + 2 * w * f, cy - h + 2 * h * f)
                page.evaluate(WATCH)  # the page's own clock: from the mouse-up to the scores on screen
                page.mouse.up()
                page.wait_for_function("() => window.__shownMs != null", timeout=120_000)
                seconds.append(page.evaluate("() => window.__shownMs") / 1000)
                highlight.append(page.evaluate("() => window.__highlightMs"))
                count = len(page.evaluate(f"() => {API}.reports.selection.ids"))
                assert page.get_by_text(f"The {count:,} selected samples as queries").count() == 1
                sizes.append(count)
                log(f"selection: box {i + 1}: {sizes[-1]:,} selected, highlight drawn after {highlight[-1]} ms, scores "
                    f"shown after {seconds[-1]:.2f} s")
            browser.close()
    finally:
        _stop_server(proc, logf)
    return {"seconds": seconds, "selected": sizes, "median_s": statistics.median(seconds), "viewport": VIEWPORT,
            "highlight_ms": highlight}


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="proxylab-bench-selection-"))
    try:
        log(f"selection: writing a run of {cfg['n']:,} x {cfg['d']}")
        write_mixture_run(folder / "store", RUN, cfg["n"], cfg["d"])
        in_process = _in_process(folder / "store", cfg)
        browser = _in_browser(folder / "store", cfg, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"config": cfg, "target_ms": TARGET_MS, "in_process": in_process, "browser": browser}
