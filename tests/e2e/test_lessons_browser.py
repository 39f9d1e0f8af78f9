"""The Lessons page in a real browser on the demo's runs: presenter mode at 1280×720 keeps the player above the
fold, ▶ plays training (the proxies move over the fixed data), a clicker's keys and the arrow keys walk the deck
without console errors, nothing is fetched from off the machine; screenshots of every scene at two sizes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dashboard.scenes import SCENE_KEYS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHART = ".js-plotly-plot .main-svg"
PLAYER = ".pxl-player canvas"
API = "document.querySelector('.pxl-player')?.playerApi"
PLAYER_SCENES = ("data", "coverage")  # the embedding scenes play in the embedding player


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
        # software WebGL (SwiftShader): the player needs a WebGL context, not a GPU
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _tab(browser, width, height):
    tab = browser.new_page(viewport={"width": width, "height": height})
    tab.errors, tab.requests = [], []
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("request", lambda r: tab.requests.append(r.url))
    return tab


def test_presenter_mode_at_1280x720_has_the_player_above_the_fold_and_play_advances(server, browser):
    tab = _tab(browser, 1280, 720)
    tab.goto(f"{server}/?scene=coverage&present=1")
    tab.wait_for_function(f"() => {API}?.pane(1)?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(1000)
    box = tab.locator(".pxl-player").first.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box  # the whole player on one screen
    assert tab.locator("[data-testid='stSidebar']").count() == 0 or not tab.locator(
        "[data-testid='stSidebar']").first.is_visible()
    assert tab.get_by_text("Deploy").count() == 0
    assert not tab.locator(".pxl-colour").is_visible() and tab.locator(".pxl-play").is_visible()  # play-only bar
    # markers for the back of the room; the last two sizes are the categories of proxies at a step that stored none,
    # which are never drawn (size 0, transparent)
    assert min(tab.evaluate(f"() => {API}.pointSize.slice(0, -2)")) >= 9
    tab.screenshot(path=str(ARTIFACTS / "lessons-present-1280.png"))
    # the data stay fixed; ▶ moves the proxies, and each sample is green or red as its most similar proxy is of its
    # own class or not (the colouring the scene opens on)
    assert tab.evaluate(f"() => {API}.colour") == "proxy_outcome"
    last = tab.evaluate(f"() => {API}.step")
    points = f"() => JSON.stringify({API}.screenPositions(5))"
    proxies = f"() => JSON.stringify({API}.pane(0).proxyPositions())"
    seen, pictures, moved = set(), {tab.evaluate(points)}, {tab.evaluate(proxies)}
    tab.locator(".pxl-play").click()
    for _ in range(20):
        tab.wait_for_timeout(150)
        seen.add(tab.evaluate(f"() => {API}.step"))
        pictures.add(tab.evaluate(points))
        moved.add(tab.evaluate(proxies))
    assert len(seen - {last}) >= 2, seen  # the step moved through several snapshots ...
    assert len(moved) >= 3, len(moved)  # ... and the proxies with it ...
    assert len(pictures) == 1, len(pictures)  # ... while the samples stayed where they are
    tab.locator(".pxl-play").click()
    assert not tab.errors, tab.errors
    tab.close()


@pytest.mark.slow  # at 1280×720 (presenter mode) test_every_scene_fits_a_lecture_screen checks the same
@pytest.mark.parametrize("width, height", [(1920, 1080)])
def test_every_scene_renders_and_nothing_leaves_the_machine(server, browser, width, height):
    tab = _tab(browser, width, height)
    for key in SCENE_KEYS:
        tab.goto(f"{server}/?scene={key}")
        tab.wait_for_selector(PLAYER if key in PLAYER_SCENES else CHART, timeout=60_000)
        tab.wait_for_timeout(800)
        assert tab.locator("[data-testid='stException']").count() == 0, key
        tab.screenshot(path=str(ARTIFACTS / f"lessons-{key}-{width}.png"))
    outside = [u for u in tab.requests if not u.startswith((server, "data:", "blob:"))]
    assert not outside, outside[:5]
    assert not tab.errors, tab.errors
    tab.close()


def test_clicker_and_arrow_keys_move_through_the_deck_without_console_errors(server, browser):
    """What a presentation clicker sends (PageDown / PageUp) and the arrow keys walk the whole deck both ways, with the
    controls hidden and after a click in the player (focus there); no console error on any scene change."""
    tab = _tab(browser, 1280, 720)
    console = []
    tab.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    tab.goto(f"{server}/?scene=data&present=1&controls=0")
    tab.wait_for_selector(PLAYER, timeout=60_000)
    tab.locator(".pxl-play").first.click()  # focus inside the player
    tab.locator(".pxl-play").first.click()

    def scene_after(key):
        before = tab.url
        tab.keyboard.press(key)
        tab.wait_for_function(f"() => location.href !== {before!r}", timeout=30_000)
        tab.wait_for_selector(f"{PLAYER}, {CHART}", timeout=60_000)
        tab.wait_for_timeout(600)
        return tab.url.split("scene=")[1].split("&")[0]

    keys = ["PageDown", "ArrowRight", "ArrowDown"] * 2
    assert [scene_after(k) for k in keys] == list(SCENE_KEYS[1:])
    keys = ["PageUp", "ArrowLeft", "ArrowUp"] * 2
    assert [scene_after(k) for k in keys] == list(SCENE_KEYS[:-1])[::-1]
    assert not console, console[:5]
    tab.close()


def test_every_scene_fits_a_lecture_screen(server, browser):
    """Presenter mode at 1280×720, every scene: each chart and the player end above the fold, Plotly's text (ticks,
    legends, titles, cell texts) is at least 18 px, no run-name chip breaks across lines, no error shows, and nothing
    is fetched from off the machine."""
    tab = _tab(browser, 1280, 720)
    for key in SCENE_KEYS:
        tab.goto(f"{server}/?scene={key}&present=1")
        tab.wait_for_selector(PLAYER if key in PLAYER_SCENES else CHART, timeout=60_000)
        tab.wait_for_timeout(1500)
        seen = tab.evaluate("""() => ({
          fonts: [...document.querySelectorAll('.js-plotly-plot text')].filter((t) => t.textContent.trim())
            .map((t) => [parseFloat(getComputedStyle(t).fontSize), t.textContent]),
          bottoms: [...document.querySelectorAll('.js-plotly-plot, .pxl-player')]
            .map((e) => e.getBoundingClientRect().bottom),
          chips: [...document.querySelectorAll('.lesson-number code, .lesson-takeaway code')]
            .map((c) => [c.textContent, c.getClientRects().length]),
        })""")
        assert seen["bottoms"] and max(seen["bottoms"]) <= 720, (key, seen["bottoms"])
        small = [f for f in seen["fonts"] if f[0] < 18]
        assert not small, (key, small[:5])
        assert all(lines == 1 for _, lines in seen["chips"]), (key, seen["chips"])
        assert tab.locator("[data-testid='stException']").count() == 0, key
        tab.screenshot(path=str(ARTIFACTS / f"lessons-present-{key}-1280.png"))
    outside = [u for u in tab.requests if not u.startswith((server, "data:", "blob:"))]
    assert not outside, outside[:5]  # nothing is fetched from off the machine
    tab.close()


def test_proxies_page_marks_each_mode_as_its_coverage_bars_count_it(server, browser, demo_store):
    """The Proxies page's linked panes (the demo's coverage pair): each mode joined to a proxy as drawn, ✓/✗ exactly
    where proxylab.geometry.mode_coverage says covered / not at the shown step (the first, where both are mixed)."""
    from proxylab.geometry import mode_coverage
    from proxylab.store import open_run

    tab = _tab(browser, 1280, 900)
    tab.goto(f"{server}/proxies?step=0")
    tab.wait_for_function(f"() => {API}?.pane(1)?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(1000)
    for pane in (0, 1):
        name = tab.evaluate(f"() => {API}.pane({pane}).title").split(" (")[0].split(" · ")[-1]
        run = open_run(demo_store, name)
        snap = run.snapshot(tab.evaluate(f"() => {API}.pane({pane}).drawnStep"))
        expected = mode_coverage(snap.embeddings, snap.labels, snap.modes, snap.proxies)["covered"]
        assert not expected.all(), name  # the marks can tell ✓ from ✗ here
        marks = tab.evaluate(f"() => {API}.pane({pane}).modeMarks()")
        proxies = np.array(tab.evaluate(f"() => {API}.pane({pane}).proxyPositions()"), dtype=float)
        assert [m["covered"] for m in marks] == expected.tolist(), name
        for mark in marks:
            assert mark["text"] == ("✓" if mark["covered"] else "✗")
            assert np.min(np.linalg.norm(proxies - np.array(mark["proxy"]), axis=1)) < 1.5, mark
    assert not tab.errors, tab.errors
    tab.close()
