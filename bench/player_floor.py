"""The embedding player against its floor: regl-scatterplot alone (target: frame time ≤ 1.2× the floor's), and
autoplay at 1,000,000 points × 10 steps.

*Floor*: ``bench/player_floor/`` — a page with one regl-scatterplot on a canvas of the player's size, the player's
options (a renderer of the canvas's own size, colour by class, marker size as the player picks it, outline 1) and the
same points: the run's cached PCA projection scaled to fill the view, as the player fits it. It is bundled with
esbuild from the player's own ``node_modules`` (the same regl-scatterplot) when the suite runs, and served by a
static server. *Player*: the Embedding page (the player's 2-D PCA view) on the same one-snapshot run, in the same
browser. Both are driven by the same gestures for the same time — a pan (button held, circling around the centre)
and a zoom (wheel in and out) — and every ``draw`` event regl-scatterplot emits is counted; frame time = 1 / frames
per second (each gesture lasts 4 s, 16 s at a million points, so that at least ten frames are counted). Rounds
alternate player and floor; medians over rounds. Ratio = player frame time ÷ floor frame time.

*Autoplay*: ``bench.dashboard.measure_autoplay`` on a run of 1,000,000 points × 10 snapshots (steps per second at
the fastest speed, the median of several plays).

Chromium renders WebGL in software here (SwiftShader): absolute frame rates are a floor, the ratio is the point.
"""
from __future__ import annotations

import functools
import http.server
import itertools
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import REPO, log, write_mixture_run

FULL = {"N": (100_000, 1_000_000), "gesture_s": 4.0, "rounds": 3, "autoplay_n": 1_000_000,
        "autoplay_snapshots": 10, "autoplay_s": 8.0, "autoplay_plays": 3}
QUICK = {"N": (20_000,), "gesture_s": 2.0, "rounds": 2, "autoplay_n": 50_000, "autoplay_snapshots": 10,
         "autoplay_s": 3.0, "autoplay_plays": 1}
TARGET_RATIO = 1.2
FRONTEND = REPO / "dashboard" / "player" / "frontend"
SOURCES = Path(__file__).with_name("player_floor")


def _score_queries(store: Path, name: str) -> None:
    """Score the run's last step's queries now, so that the page's background scoring (which starts when the page
    shows a step) finds them cached and takes no CPU from the browser while frames are counted."""
    from dashboard.query_values import prefetchable, split_sizes
    from proxylab.selection import cached_snapshot_queries
    from proxylab.store import open_run

    run = open_run(store, name)
    step = run.snapshot_steps()[-1]
    if prefetchable(split_sizes(run.snapshot(step))):  # what the page scores
        cached_snapshot_queries(run, step)


def _floor_site(store: Path, name: str, folder: Path) -> Path:
    """The floor's page, its bundle and the run's last projected step as `points.bin` (n, then x y pairs in
    [-1, 1], then labels)."""
    from proxylab.projection import cached_projection
    from proxylab.store import open_run

    folder.mkdir(parents=True)
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True, capture_output=True)
    subprocess.run([str(esbuild), str(SOURCES / "bare.js"), "--bundle", "--format=esm", "--target=es2022",
                    f"--outfile={folder / 'bare.js'}"], cwd=FRONTEND, check=True, capture_output=True,
                   env={**os.environ, "NODE_PATH": str(FRONTEND / "node_modules")})
    shutil.copy(SOURCES / "index.html", folder / "index.html")
    run = open_run(store, name)
    step = run.snapshot_steps()[-1]
    points = cached_projection(run, run.snapshot_steps(), "pca", 2)[step].points.astype(np.float64)
    lo, hi = points.min(axis=0), points.max(axis=0)
    xy = (2 * (points - lo) / np.where(hi > lo, hi - lo, 1) - 1).astype(np.float32)
    labels = run.snapshot(step).labels.astype(np.uint8)
    (folder / "points.bin").write_bytes(np.array([len(xy), 0], np.uint32).tobytes() + xy.tobytes()
                                        + labels.tobytes())
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _frames_per_s(page, count_js: str, gesture_s: float, centre: tuple[float, float]) -> dict[str, float]:
    """Frames per second while panning (button held, circling) and while zooming (wheel in and out)."""
    cx, cy = centre
    ticks = itertools.count()

    def measure(gesture) -> float:
        page.wait_for_timeout(500)
        count0, t0 = page.evaluate(count_js), time.perf_counter()
        while time.perf_counter() - t0 < gesture_s:
            gesture()
        page.wait_for_timeout(100)
        return (page.evaluate(count_js) - count0) / (time.perf_counter() - t0)

    def drag():
        t = next(ticks) / 8
        page.mouse.move(cx + 120 * math.sin(t), cy + 60 * math.cos(t))

    def wheel():
        page.mouse.wheel(0, -60 if next(ticks) % 2 == 0 else 60)
        page.wait_for_timeout(16)

    page.mouse.move(cx, cy)
    page.mouse.down()
    pan = measure(drag)
    page.mouse.up()
    return {"pan_fps": pan, "zoom_fps": measure(wheel)}


def _compare(store: Path, name: str, n: int, cfg: dict, folder: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from .dashboard import API, ARGS, CHROMIUM, VIEWPORT, _open_player, _start_server, _stop_server

    site = _floor_site(store, name, folder / f"floor-{n}")
    static, static_url = _serve(site)
    proc, url, logf, _ = _start_server(store, folder / f"server-{n}.log")
    rounds: list[dict[str, Any]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            _, player = _open_player(browser, f"{url}/embedding?run={name}&projection=pca")
            player.locator(".pxl-mouse").select_option("panZoom")
            canvas = player.locator(".pxl-player canvas").first
            box = canvas.bounding_box()
            size = player.evaluate(f"() => {API}.pointSize[0]")
            floor = browser.new_page(viewport=VIEWPORT)  # the page the player's canvas sits in is this size too
            floor.goto(f"{static_url}/index.html?width={int(box['width'])}&height={int(box['height'])}&size={size}")
            floor.wait_for_function("() => window.bench && window.bench.ready", timeout=300_000)
            fbox = floor.locator("canvas").bounding_box()
            gesture_s = cfg["gesture_s"] * max(1, n // 250_000)  # a million points draw ~1 frame/s: count ≥ 10
            for r in range(cfg["rounds"]):
                row = {}
                order = (("player", "floor") if r % 2 == 0 else ("floor", "player"))
                for side in order:
                    if side == "player":
                        player.bring_to_front()
                        row["player"] = _frames_per_s(player, f"() => {API}.drawCount", gesture_s,
                                                      (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
                    else:
                        floor.bring_to_front()
                        row["floor"] = _frames_per_s(floor, "() => window.bench.drawCount", gesture_s,
                                                     (fbox["x"] + fbox["width"] / 2, fbox["y"] + fbox["height"] / 2))
                rounds.append(row)
                log(f"player_floor: {n:,} points, round {r + 1}: player pan {row['player']['pan_fps']:.1f} / zoom "
                    f"{row['player']['zoom_fps']:.1f} fps, floor pan {row['floor']['pan_fps']:.1f} / zoom "
                    f"{row['floor']['zoom_fps']:.1f} fps")
            errors = list(player.errors)
            browser.close()
    finally:
        _stop_server(proc, logf)
        static.shutdown()
    out: dict[str, Any] = {"N": n, "canvas": [box["width"], box["height"]], "point_size": size, "rounds": rounds,
                           "page_errors": errors}
    for gesture in ("pan", "zoom"):
        player_fps = statistics.median(r["player"][f"{gesture}_fps"] for r in rounds)
        floor_fps = statistics.median(r["floor"][f"{gesture}_fps"] for r in rounds)
        out[gesture] = {"player_fps": player_fps, "floor_fps": floor_fps,
                        "player_frame_ms": 1e3 / player_fps, "floor_frame_ms": 1e3 / floor_fps,
                        "ratio": floor_fps / player_fps}
    return out


def run(quick: bool) -> dict[str, Any]:
    from .dashboard import measure_autoplay

    cfg = QUICK if quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="proxylab-bench-floor-"))
    store = folder / "store"
    try:
        sizes = []
        for n in cfg["N"]:
            name = f"floor-{n // 1000}k"
            log(f"player_floor: writing {name}")
            write_mixture_run(store, name, n, 8)
            _score_queries(store, name)
            sizes.append(_compare(store, name, n, cfg, folder))
        name = f"autoplay-{cfg['autoplay_n'] // 1000}k-{cfg['autoplay_snapshots']}"
        log(f"player_floor: writing {name}")
        write_mixture_run(store, name, cfg["autoplay_n"], 8, cfg["autoplay_snapshots"])
        steps = list(range(0, 10 * cfg["autoplay_snapshots"], 10))
        autoplay = measure_autoplay(name, steps, store, cfg, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"config": cfg, "target_ratio": TARGET_RATIO, "sizes": sizes, "autoplay": autoplay}
