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
alternating presses); RSS sampled after each phase. These are the Plotly view (``chart=plotly``), the path every
step took before the embedding player.

The player (the Embedding page's default 2-D view) on the same server and run: *first draw* = page load until the
player has drawn a step (fresh browser profile), and in the page, from the payload's arrival (decoding included)
to its first frame; *step change* = Home / End on the player's step slider until the first frame at the new step
(``redrawMs``, the player's own clock) and until the 250 ms transition has settled (``transitionEndMs``); no
Python rerun is involved. *Autoplay*: a 100,000-point run with 20 snapshots, played at the fastest speed for a
fixed time: steps drawn per second, frames per second, and whether the canvas element and its WebGL context
stayed the same. WebGL contexts are counted by wrapping ``HTMLCanvasElement.getContext`` before the page loads.

Chromium renders WebGL in software here (SwiftShader, no GPU): both Plotly's and the player's WebGL are slower
than on a user's GPU, and frame rates are a floor, not what a laptop shows.
"""
from __future__ import annotations

import itertools
import math
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log, tree_rss_bytes

CHROMIUM = "/usr/bin/chromium"
# software WebGL (SwiftShader) for both charts: the player needs a WebGL context, and one renderer keeps the ratio fair
ARGS = ["--no-sandbox", "--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# the other software path: WebGL in the renderer process, no GPU process (step changes measured again with it)
ARGS_NO_GPU_PROCESS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                       "--disable-component-update", "--disable-sync"]
CHART = ".js-plotly-plot .main-svg"
VIEWPORT = {"width": 1400, "height": 1000}
FULL = {"N": (5000, 50000), "loads": 4, "slides": 6, "autoplay_n": 100_000, "autoplay_snapshots": 20,
        "autoplay_s": 8.0, "autoplay_plays": 5, "import_n": 1_000_000, "import_d": 128, "pan_s": 4.0}
QUICK = {"N": (5000,), "loads": 2, "slides": 2, "autoplay_n": 20_000, "autoplay_snapshots": 20, "autoplay_s": 3.0,
         "autoplay_plays": 3, "import_n": 100_000, "import_d": 128, "pan_s": 2.0}
API = "document.querySelector('.pxl-player')?.playerApi"
# counts the WebGL contexts a page creates (one per canvas that asks for one), before any page script runs
COUNT_CONTEXTS = """(() => {
  const original = HTMLCanvasElement.prototype.getContext;
  const seen = new WeakSet();
  window.__webglContexts = 0;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    const ctx = original.call(this, kind, ...rest);
    if (ctx && /webgl/.test(String(kind)) && !seen.has(this)) { seen.add(this); window.__webglContexts += 1; }
    return ctx;
  };
})();"""


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


def build_store(store: Path, sizes, snapshots: int | None = None) -> dict[int, tuple[str, int]]:
    from proxylab.projection import project_run
    from proxylab.store import fake, open_run, write_fake_run

    fake._retrieval = _subsampled_fake_retrieval()
    out = {}
    for n in sizes:
        name = f"fake-{n // 1000}k" + (f"-{snapshots}snap" if snapshots else "")
        t0 = time.perf_counter()
        write_fake_run(store, name, n=n, steps=100, classes=6, modes_per_class=3, k=4, d=16, seed=1,
                       snapshot_every=None if snapshots is None else max(1, 100 // (snapshots - 1)))
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
    proc, url = start_dashboard(store, logf, timeout_s=120, test_api=True)  # the player's own timings
    return proc, url, logf, time.perf_counter() - t0


def _stop_server(proc, logf) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    logf.close()


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


def _open_player(browser, url: str) -> tuple[float, Any]:
    """A fresh browser profile opens `url`; seconds until the player has drawn a step."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(COUNT_CONTEXTS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => {API}?.drawnStep != null", timeout=300_000)
    return time.perf_counter() - t0, page


def _player_step(page, key: str, step: int) -> dict[str, float]:
    """Home / End on the player's slider: wall time until drawn at `step`, and the player's own clocks."""
    page.evaluate(f"() => {{ const api = {API}; api.redrawMs = null; api.transitionEndMs = null; }}")
    t0 = time.perf_counter()
    page.locator(".pxl-step").press(key)
    page.wait_for_function(f"() => {API}.drawnStep === {step} && {API}.transitionEndMs != null", timeout=60_000)
    wall = time.perf_counter() - t0
    first, settled = page.evaluate(f"() => [{API}.redrawMs, {API}.transitionEndMs]")
    return {"wall_s": wall, "first_frame_s": first / 1000, "settled_s": settled / 1000}


def _alternate(page, steps: list[int], cfg: dict, change) -> list:
    """cfg["slides"] alternating Home / End presses, each measured by `change(page, key, step)`."""
    page.wait_for_timeout(500)
    out = []
    for i in range(cfg["slides"]):
        key, step = ("Home", steps[0]) if i % 2 == 0 else ("End", steps[-1])
        out.append(change(page, key, step))
        page.wait_for_timeout(300)
    return out


def _plotly_slides(page, steps: list[int], cfg: dict) -> list[float]:
    return _alternate(page, steps, cfg, _slide)


def _player_steps(page, steps: list[int], cfg: dict) -> list[dict[str, float]]:
    return _alternate(page, steps, cfg, _player_step)


def _measure_player(browser, url: str, steps: list[int], cfg: dict) -> dict[str, Any]:
    loads, first_frames = [], []
    for _ in range(cfg["loads"]):
        t, page = _open_player(browser, url)
        loads.append(t)
        first_frames.append(page.evaluate(f"() => {API}.firstDrawMs") / 1000)
        page.context.close()
    _, page = _open_player(browser, url)
    api = page.evaluate(f"() => ({{ n: {API}.nPoints, bytes: {API}.payloadBytes }})")
    page.evaluate(f"() => {{ window.__canvas = {API}.canvas(); }}")
    changes = _player_steps(page, steps, cfg)
    same_canvas = page.evaluate(f"() => window.__canvas === {API}.canvas() && window.__canvas.isConnected")
    out = {"first_draw_fresh_browser_s": loads, "first_draw_fresh_browser_median_s": statistics.median(loads),
           "data_to_first_frame_s": first_frames, "data_to_first_frame_median_s": statistics.median(first_frames),
           "points": api["n"], "payload_bytes": api["bytes"], "step_change": changes,
           "step_first_frame_median_s": statistics.median(c["first_frame_s"] for c in changes),
           "step_settled_median_s": statistics.median(c["settled_s"] for c in changes),
           "step_wall_median_s": statistics.median(c["wall_s"] for c in changes),
           "same_canvas": bool(same_canvas), "webgl_contexts": page.evaluate("() => window.__webglContexts"),
           "page_errors": list(page.errors)}
    page.context.close()
    return out


def _first_draw(page, ready_s: float) -> dict[str, Any]:
    """What a player page reports once drawn: points, payload bytes, data → first frame; with the load time."""
    return {"first_draw_s": ready_s, "points": page.evaluate(f"() => {API}.nPoints"),
            "payload_bytes": page.evaluate(f"() => {API}.payloadBytes"),
            "data_to_first_frame_s": page.evaluate(f"() => {API}.firstDrawMs") / 1000}


def measure_autoplay(name: str, steps: list[int], store: Path, cfg: dict, logdir: Path) -> dict[str, Any]:
    """Play `name` at the fastest speed for cfg["autoplay_s"] seconds, cfg["autoplay_plays"] times (pausing between):
    steps drawn per second and frames per second (the median play, and each), and whether the canvas and its WebGL
    context stayed the same (no remount). One play on a shared 2-core VM moves by ±20 %, hence several."""
    from playwright.sync_api import sync_playwright

    proc, url, logf, startup = _start_server(store, logdir / "streamlit-autoplay.log")
    res: dict[str, Any] = {"run": name, "snapshots": len(steps), "server_startup_s": startup}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ready, page = _open_player(browser, f"{url}/embedding?run={name}")
            res.update(_first_draw(page, ready))
            speeds = page.locator(".pxl-speed option").evaluate_all("os => os.map(o => o.value)")
            fastest = max(speeds, key=float)
            page.locator(".pxl-speed").select_option(fastest)
            page.wait_for_timeout(500)
            contexts_before = page.evaluate("() => window.__webglContexts")
            page.evaluate(f"() => {{ window.__canvas = {API}.canvas(); }}")
            plays = []
            for _ in range(cfg["autoplay_plays"]):
                page.locator(".pxl-play").click()
                # sample in the page: every animation frame, note the drawn step (changes = steps shown)
                played = page.evaluate(f"""(seconds) => new Promise((done) => {{
                    const api = {API}; const t0 = performance.now(); const frames0 = api.drawCount;
                    let last = api.drawnStep, changes = 0;
                    const tick = () => {{
                      const s = api.drawnStep; if (s !== last) {{ changes += 1; last = s; }}
                      const t = performance.now() - t0;
                      if (t < seconds * 1000) requestAnimationFrame(tick);
                      else done({{ changes, seconds: t / 1000, frames: api.drawCount - frames0, playing: api.playing }});
                    }};
                    requestAnimationFrame(tick);
                }})""", cfg["autoplay_s"])
                page.locator(".pxl-play").click()
                page.wait_for_timeout(500)
                plays.append({"seconds": played["seconds"], "steps_drawn": played["changes"],
                              "steps_per_s": played["changes"] / played["seconds"],
                              "frames_per_s": played["frames"] / played["seconds"], "still_playing": played["playing"]})
            median = sorted(plays, key=lambda play: play["steps_per_s"])[len(plays) // 2]  # odd counts: the median
            res.update(speed=float(fastest), period_ms=700 / float(fastest), played_s=median["seconds"],
                       steps_drawn=median["steps_drawn"], steps_per_s=median["steps_per_s"],
                       frames_per_s=median["frames_per_s"], still_playing=all(p["still_playing"] for p in plays),
                       plays=plays,
                       same_canvas=bool(page.evaluate(f"() => window.__canvas === {API}.canvas()"
                                                      " && window.__canvas.isConnected")),
                       webgl_contexts_before=contexts_before,
                       webgl_contexts_after=page.evaluate("() => window.__webglContexts"),
                       page_errors=list(page.errors))
            browser.close()
    finally:
        _stop_server(proc, logf)
    return res


def build_import(store: Path, n: int, d: int) -> tuple[str, dict[str, float]]:
    """A generated n x d embedding file (12 classes x 3 modes) imported as a run, with its PCA cached: the
    path a user's million-point export takes. Returns the run name and the seconds of each stage."""
    import numpy as np

    from proxylab.importing import import_run, read_embeddings
    from proxylab.projection import project_run
    from proxylab.store import open_run

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(36, d)).astype(np.float32)
    modes = rng.integers(0, 36, n)
    emb = centres[modes] + 0.6 * rng.normal(size=(n, d)).astype(np.float32)
    path = store.parent / f"{store.name}-embeddings.npz"
    np.savez(path, embeddings=emb, labels=modes // 3, modes=modes % 3)
    del emb
    times = {}
    t0 = time.perf_counter()
    data = read_embeddings(path)
    times["read_s"] = time.perf_counter() - t0
    name = f"import-{n // 1000}k"
    t0 = time.perf_counter()
    import_run(store, name, data)
    times["import_s"] = time.perf_counter() - t0  # writes the snapshot, scores 20,000 queries against all n
    del data
    path.unlink()
    run = open_run(store, name)
    t0 = time.perf_counter()
    project_run(run, run.snapshot_steps(), "pca", 2)
    times["pca_s"] = time.perf_counter() - t0
    log(f"dashboard: {name} ({n:,} x {d}) read {times['read_s']:.0f} s, imported {times['import_s']:.0f} s, "
        f"PCA {times['pca_s']:.0f} s")
    log(f"dashboard: first draw and pan/zoom on {name}")
    return name, times


def _recorded(measurement) -> dict[str, Any]:
    """The measurement's result, or its error (one failing part must not lose the suite's other numbers)."""
    try:
        return measurement()
    except Exception as e:  # noqa: BLE001
        log(f"dashboard: FAILED {type(e).__name__}: {e}")
        return {"error": f"{type(e).__name__}: {e}"}


def measure_million(name: str, times: dict, *, store: Path, cfg: dict, logdir: Path) -> dict[str, Any]:
    """One snapshot of cfg["import_n"] points: page load → first draw, data → first frame, and frames per second
    while panning (drag in pan mode) and zooming (wheel), counted by the player's draw events."""
    from playwright.sync_api import sync_playwright

    proc, url, logf, startup = _start_server(store, logdir / "streamlit-million.log")
    res: dict[str, Any] = {"run": name, "N": cfg["import_n"], "d": cfg["import_d"], **times}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ready, page = _open_player(browser, f"{url}/embedding?run={name}")
            res.update(_first_draw(page, ready), rss_server_bytes=tree_rss_bytes(proc.pid))
            page.locator(".pxl-mouse").select_option("panZoom")
            box = page.locator(".pxl-player canvas").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

            def frames_while(gesture) -> float:
                page.wait_for_timeout(500)
                count0, t0 = page.evaluate(f"() => {API}.drawCount"), time.perf_counter()
                while time.perf_counter() - t0 < cfg["pan_s"]:
                    gesture()
                page.wait_for_timeout(100)
                return (page.evaluate(f"() => {API}.drawCount") - count0) / (time.perf_counter() - t0)

            ticks = itertools.count()

            def drag():  # circles around the centre, button held: a pan every event
                t = next(ticks) / 8
                page.mouse.move(cx + 120 * math.sin(t), cy + 60 * math.cos(t))

            def wheel():  # in and out again, so the view stays on the data
                page.mouse.wheel(0, -60 if next(ticks) % 2 == 0 else 60)
                page.wait_for_timeout(16)

            page.mouse.move(cx, cy)
            page.mouse.down()
            res["pan_fps"] = frames_while(drag)
            page.mouse.up()
            res["zoom_fps"] = frames_while(wheel)
            res["page_errors"] = list(page.errors)
            browser.close()
    finally:
        _stop_server(proc, logf)
    return res


def measure(n: int, name: str, steps: list[int], store: Path, cfg: dict, logdir: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    proc, url, logf, startup = _start_server(store, logdir / f"streamlit-{n}.log")
    res: dict[str, Any] = {"N": n, "run": name, "snapshots": len(steps), "server_startup_s": startup,
                           "rss_idle_bytes": tree_rss_bytes(proc.pid)}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page_url = f"{url}/embedding?run={name}&chart=plotly"
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
            slides = _plotly_slides(page, steps, cfg)
            res["slider_redraw_s"] = slides
            res["slider_redraw_median_s"] = statistics.median(slides)
            res["exceptions_on_page"] = page.locator("[data-testid='stException']").count()
            res["rss_after_slider_bytes"] = tree_rss_bytes(proc.pid)
            page.close()
            res["player"] = _measure_player(browser, f"{url}/embedding?run={name}", steps, cfg)
            browser.close()
            # the same two step changes with WebGL in the renderer process
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS_NO_GPU_PROCESS)
            _, page = _first_chart(browser, page_url)
            slides = _plotly_slides(page, steps, cfg)
            page.close()
            _, page = _open_player(browser, f"{url}/embedding?run={name}")
            changes = _player_steps(page, steps, cfg)
            res["no_gpu_process"] = {"slider_redraw_median_s": statistics.median(slides),
                                     "player_step_first_frame_median_s":
                                         statistics.median(c["first_frame_s"] for c in changes),
                                     "player_step_settled_median_s": statistics.median(c["settled_s"] for c in changes)}
            browser.close()
    finally:
        res["rss_final_bytes"] = tree_rss_bytes(proc.pid)
        _stop_server(proc, logf)
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
        big = build_store(store, (cfg["autoplay_n"],), snapshots=cfg["autoplay_snapshots"])
        name, steps = big[cfg["autoplay_n"]]
        log(f"dashboard: autoplay on {name}")
        autoplay = _recorded(lambda: measure_autoplay(name, steps, store, cfg, logdir))
        million = _recorded(lambda: measure_million(*build_import(store, cfg["import_n"], cfg["import_d"]),
                                                    store=store, cfg=cfg, logdir=logdir))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    from dashboard import sampling

    return {"config": {**cfg, "N": list(cfg["N"])}, "max_points_drawn": sampling.MAX_POINTS, "rows": rows,
            "autoplay": autoplay, "million": million, "chromium_args": ARGS,
            "chromium_args_no_gpu_process": ARGS_NO_GPU_PROCESS, "logs": str(logdir)}
