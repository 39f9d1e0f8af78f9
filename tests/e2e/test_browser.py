"""The real dashboard in a real browser: `streamlit run` on a fake store, driven by Debian chromium via Playwright.

Saves a screenshot of every page under test-artifacts/ and prints two timings (time to first chart on a run
whose projection is cached; step-slider redraw at 5,000 points). Needs `apt-get install chromium`.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHART = ".js-plotly-plot .main-svg"
BIG = "big-5k"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sys.path.insert(0, str(REPO / "tests"))
    from serving import serving, write_browser_store

    store = write_browser_store(tmp_path_factory.mktemp("e2e_store"))
    with serving(store, tmp_path_factory.mktemp("e2e_log")) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.errors, tab.requests = errors, []
        tab.on("request", lambda r: tab.requests.append(r.url))
        yield tab
        browser.close()


def _open(page, url: str, wait: str = CHART) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(wait, timeout=60_000)
    return time.perf_counter() - start


def _settle_and_shoot(page, name: str) -> None:
    page.wait_for_timeout(500)
    assert page.locator("[data-testid='stException']").count() == 0, f"exception box on {name}"
    # Streamlit scrolls inside its own container, so only a tall window gets the whole page in the picture
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.wait_for_timeout(700)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


def _first_trace_x(page) -> list[float]:
    # _fullData: plotly.js's decoded traces (data keeps numpy arrays as base64 typed-array specs)
    return page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].x).slice(0, 20)")


def _chart_title(page) -> str:
    return page.evaluate("() => document.querySelector('.js-plotly-plot').layout.title.text")


def test_every_page_renders_without_errors(server, page):
    _open(page, f"{server}/runs", wait="[data-testid='stDataFrame']")
    assert page.get_by_text("Start a new run").count() == 1
    _settle_and_shoot(page, "runs")
    for name, query in [("proxies", "run=mpa-k4&other=pa-k1"), ("orthogonality", "run=mpa-k4"),
                        ("gradients", "run=mpa-k4"), ("metrics", "runs=mpa-k4,pa-k1"),
                        ("compare", "runs=mpa-k4,pa-k1,mpa-dw")]:
        _open(page, f"{server}/{name}?{query}")
        assert page.locator(".js-plotly-plot").count() >= 1
        _settle_and_shoot(page, name)
    assert not page.errors, page.errors
    # every page, its scripts, fonts and favicon included, is served by the dashboard itself
    outside = [u for u in page.requests
               if urlparse(u).scheme not in ("blob", "data") and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not outside, outside
    assert len(page.requests) > 20  # the recorder saw the pages load


# What every chart on the page draws: trace coordinates and colours, the axes' types and ranges (a JS expression).
_FINGERPRINT_JS = """JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => [
    (g._fullData || []).map(t => [t.x, t.y, t.z, t.marker && t.marker.color].map(
        v => v && v.length !== undefined ? Array.from(v).slice(0, 200) : v)),
    ['xaxis', 'yaxis'].map(a => g._fullLayout && g._fullLayout[a] && [g._fullLayout[a].type, g._fullLayout[a].range])]))"""


def _press_first_slider(page, key="Home"):
    page.get_by_role("slider").first.press(key)


def _click_checkbox(label):
    return lambda page: page.get_by_text(label, exact=True).first.click()


@pytest.mark.parametrize("name, query, change", [
    ("proxies", "run=mpa-k4&other=pa-k1", _press_first_slider),
    ("orthogonality", "run=mpa-k4", _press_first_slider),
    ("gradients", "run=mpa-k4", _click_checkbox("log scale")),
    ("metrics", "runs=mpa-k4,pa-k1", _press_first_slider),
    ("compare", "runs=mpa-k4,pa-k1,mpa-dw", _click_checkbox("log scale")),
])
def test_each_page_redraws_its_chart_when_its_control_changes(server, page, name, query, change):
    _open(page, f"{server}/{name}?{query}")
    page.wait_for_timeout(1500)  # let every chart of the page arrive
    before = page.evaluate("() => " + _FINGERPRINT_JS)
    change(page)
    page.wait_for_function("before => " + _FINGERPRINT_JS + " !== before", arg=before, timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.errors, page.errors


def test_embedding_slider_projection_and_selection(server, page, record_property):
    first_chart = _open(page, f"{server}/embedding?run={BIG}&chart=plotly")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')?.data?.length > 0")
    assert f"{BIG} — step 80" in _chart_title(page)
    n_points = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData"
                             ".filter(t => t.customdata && t.customdata.length && t.customdata[0][0] >= 0)"
                             ".reduce((n, t) => n + t.x.length, 0)")
    assert n_points == 5000
    _settle_and_shoot(page, "embedding")

    # step slider: keyboard on the thumb (Home = first snapshot), then wait for the chart to change
    before = _first_trace_x(page)
    start = time.perf_counter()
    page.get_by_role("slider").first.press("Home")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')?.layout?.title?.text?.includes('step 0 ')",
                           timeout=60_000)
    redraw = time.perf_counter() - start
    assert _first_trace_x(page) != before
    assert "step=0" in page.url
    _settle_and_shoot(page, "embedding_step0")

    # lasso-free box selection: switch the chart to box select, drag over its centre
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    page.locator(".modebar-btn[data-attr='dragmode'][data-val='select']").first.click()
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 120, cy - 120)
    page.mouse.down()
    page.mouse.move(cx, cy, steps=8)
    page.mouse.move(cx + 120, cy + 120, steps=8)
    page.mouse.up()
    page.get_by_text("samples selected").wait_for(timeout=60_000)
    assert page.get_by_text("nearest neighbours").count() >= 1
    greyed = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.some(t => Array.isArray("
                           "t.marker.color) && t.marker.color.includes('rgba(170,170,170,0.25)'))")
    assert greyed, "unselected points should be greyed out, not hidden"
    _settle_and_shoot(page, "embedding_selection")

    # projection switch on a d = 3 run: PCA → the native sphere (a 3-D chart)
    _open(page, f"{server}/embedding?run=sphere-d3&chart=plotly")
    page.locator("[data-testid='stSelectbox']").nth(1).click()
    page.get_by_role("option", name="native circle / sphere").click()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')?.data?.some(t => t.type === 'scatter3d')",
                           timeout=60_000)
    assert "projection=native" in page.url
    _settle_and_shoot(page, "embedding_native_sphere")
    assert not page.errors, page.errors

    print(f"\ntime to first chart (cached PCA, 5,000 points): {first_chart:.2f} s; "
          f"step-slider redraw at 5,000 points: {redraw:.2f} s")
    record_property("time_to_first_chart_s", round(first_chart, 2))
    record_property("slider_redraw_s", round(redraw, 2))


def test_an_upload_over_the_limit_is_refused_before_it_is_sent(server, page, tmp_path):
    """The Runs page's uploader refuses a file over the stated limit in the browser: nothing reaches the server."""
    from proxylab.serve import UPLOAD_LIMIT_MIB

    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if "/_stcore/upload_file" in r.url else None)
    _open(page, f"{server}/runs", wait="text=Small files only")
    page.get_by_text(f"at most {UPLOAD_LIMIT_MIB} MiB each").wait_for()  # the limit the page states ...
    big = tmp_path / "big.npz"
    with open(big, "wb") as f:
        f.truncate((UPLOAD_LIMIT_MIB + 1) * 2**20)  # sparse: one MiB over the limit
    page.locator("input[type=file]").first.set_input_files(big)
    page.get_by_text("or smaller").first.wait_for(timeout=30_000)  # ... is the one the uploader enforces
    assert f"{UPLOAD_LIMIT_MIB}" in page.get_by_text("or smaller").first.inner_text()
    page.wait_for_timeout(1000)
    assert uploads == []
