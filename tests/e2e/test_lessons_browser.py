"""The Lessons page in a real browser on the demo's runs: presenter mode at 1280×720 keeps the chart above the
fold, ▶ plays training, nothing is fetched from off the machine; screenshots of every scene at two sizes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.scenes import SCENE_KEYS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHART = ".js-plotly-plot .main-svg"


@pytest.fixture(scope="module")
def server(demo_store, tmp_path_factory):
    from serving import serving

    with serving(demo_store, tmp_path_factory.mktemp("lessons_log")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new", "--disable-gpu",
                                                              "--disable-background-networking",
                                                              "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _tab(browser, width, height):
    tab = browser.new_page(viewport={"width": width, "height": height})
    tab.errors, tab.requests = [], []
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("request", lambda r: tab.requests.append(r.url))
    return tab


def test_presenter_mode_at_1280x720_has_the_chart_above_the_fold_and_play_advances(server, browser):
    tab = _tab(browser, 1280, 720)
    tab.goto(f"{server}/?scene=coverage&present=1")
    tab.wait_for_selector(CHART, timeout=60_000)
    tab.wait_for_timeout(1500)
    box = tab.locator(".js-plotly-plot").first.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box  # the whole chart on one screen
    assert tab.locator("[data-testid='stSidebar']").count() == 0 or not tab.locator(
        "[data-testid='stSidebar']").first.is_visible()
    assert tab.get_by_text("Deploy").count() == 0
    tab.screenshot(path=str(ARTIFACTS / "lessons-present-1280.png"))
    active = "() => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].active"
    last = tab.evaluate(active)
    tab.locator(".updatemenu-button").first.click()  # ▶ play
    # the points drawn: the first trace's first coordinates (a frame replaces the data, not only the slider)
    drawn = ("() => Array.from(document.querySelector('.js-plotly-plot')._fullData"
             ".find((t) => t.x && t.x.length > 5 && typeof t.x[0] === 'number').x).slice(0, 5)")  # not the sphere's mesh
    seen, pictures = set(), {repr(tab.evaluate(drawn))}
    for _ in range(20):
        tab.wait_for_timeout(150)
        seen.add(tab.evaluate(active))
        pictures.add(repr(tab.evaluate(drawn)))
    assert len(seen - {last}) >= 2, seen  # the step moved through several snapshots ...
    assert len(pictures) >= 3, pictures  # ... and the points moved with it
    assert not tab.errors, tab.errors
    tab.close()


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_every_scene_renders_and_nothing_leaves_the_machine(server, browser, width, height):
    tab = _tab(browser, width, height)
    for key in SCENE_KEYS:
        tab.goto(f"{server}/?scene={key}")
        tab.wait_for_selector(CHART, timeout=60_000)
        tab.wait_for_timeout(800)
        assert tab.locator("[data-testid='stException']").count() == 0, key
        tab.screenshot(path=str(ARTIFACTS / f"lessons-{key}-{width}.png"))
    outside = [u for u in tab.requests if not u.startswith((server, "data:", "blob:"))]
    assert not outside, outside[:5]
    assert not tab.errors, tab.errors
    tab.close()
