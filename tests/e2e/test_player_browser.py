"""The embedding player in a real browser (Debian chromium via Playwright) on a 5,000-point, 15-snapshot run.

Checks what only a browser shows: the step moves points without remounting the canvas, a lasso returns exactly
the ids inside it (computed here from the payload) and reports its shape, the ids exactly those inside it (the
rule Python applies), autoplay advances, the colour switch changes the pixels,
and no request leaves 127.0.0.1. Prints the payload size and the step → redrawn time.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BIG = "big-5k"
IMAGES = "thumbs-300"
API = "document.querySelector('.pxl-player')?.playerApi"
SERVED_STORE: list[Path] = []  # the store the module's server serves (a shared shape's ids are computed from it)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    sys.path.insert(0, str(REPO / "tests"))
    from serving import serving, write_browser_store

    from proxylab.store import write_eval_images, write_fake_run

    store = write_browser_store(tmp_path_factory.mktemp("player_store"))
    # a run with a thumbnail per sample (as image data has): 8×8 grey pictures, each one different
    write_fake_run(store, IMAGES, n=300, steps=40, k=2, classes=4, modes_per_class=2, d=8, seed=7)
    pictures = np.random.default_rng(1).integers(0, 256, (300, 8, 8, 1), dtype=np.uint8)
    write_eval_images(store / IMAGES, pictures)
    _write_wide_gradients(store)
    SERVED_STORE[:] = [store]
    with serving(store, tmp_path_factory.mktemp("player_log")) as url:
        yield url, store


WIDE = "grads-wide"


def _write_wide_gradients(store: Path) -> None:
    """A run whose per-sample gradient norms span 13 decades at every step, with exact zeros and test points without
    a gradient: what a trained run holds (on demo-multi-proxy 74 % of the training points sat below 1e-8 of the
    largest norm, and a linear uint8 scale read them all as the same value)."""
    from proxylab.store import RunWriter

    rng = np.random.default_rng(3)
    n = 240
    labels, split = np.arange(n) % 4, (np.arange(n) % 3 == 0).astype(np.int8)
    with RunWriter.create(store, WIDE, {"config": {"loss": "proxy_anchor"}}) as w:
        for step in (0, 50, 100):
            grad = (10.0 ** rng.uniform(-12, 1, n)).astype(np.float32)
            grad[split == 1] = np.nan
            grad[5] = 0.0
            w.write_snapshot(step, embeddings=rng.normal(size=(n, 4)).astype(np.float32), labels=labels, split=split,
                             grad_norm=grad, proxies=rng.normal(size=(4, 1, 4)).astype(np.float32))
        w.set_status("finished")


@pytest.fixture(scope="module")
def page(served):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # software WebGL (SwiftShader): the player needs a WebGL context, not a GPU
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})
        tab.errors, tab.requests = [], []
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on("request", lambda r: tab.requests.append(r.url))
        tab.goto(f"{served[0]}/embedding?run={BIG}")
        tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
        yield tab
        browser.close()


def _payload(store: Path):
    """The payload the page sent, rebuilt from the store the same way (the page's cached builder)."""
    from dashboard.player import decode_payload, run_payload
    from proxylab.store import open_run

    run = open_run(store, BIG)
    snap = run.snapshot(run.snapshot_steps()[-1])
    return decode_payload(run_payload(str(store), BIG, tuple(run.snapshot_steps()), "pca",
                                      tuple(snap.proxies.shape[:2]), None))


def _positions(page) -> np.ndarray:
    return np.array(page.evaluate(f"() => {API}.screenPositions()"), dtype=float)


def _wait_drawn(page, step: int) -> None:
    # drawn, and the transition over (positions stop changing)
    page.wait_for_function(f"() => {API}.drawnStep === {step}", timeout=30_000)
    page.wait_for_timeout(600)


def _set_step(page, index: int) -> None:
    page.evaluate(f"""() => {{ const s = document.querySelector('.pxl-step'); s.value = {index};
                               s.dispatchEvent(new Event('input')); }}""")


def test_step_moves_points_in_the_same_canvas(page, served):
    header, _ = _payload(served[1])
    steps = header["steps"]
    assert page.evaluate(f"() => {API}.step") == steps[-1]
    before = _positions(page)
    page.evaluate(f"() => {{ window.__canvas = {API}.canvas(); }}")
    start = time.perf_counter()
    _set_step(page, 0)
    _wait_drawn(page, steps[0])
    after = _positions(page)
    redraw_ms, settled_ms = page.evaluate(f"() => [{API}.redrawMs, {API}.transitionEndMs]")
    assert before.shape == after.shape == (5000, 2)
    assert np.abs(after - before).max() > 20  # pixels: the points moved
    assert page.evaluate(f"() => window.__canvas === {API}.canvas() && window.__canvas.isConnected")
    assert page.locator(".pxl-player canvas").count() == 1
    print(f"\nplayer: step change → first frame {redraw_ms:.0f} ms, transition (250 ms) over {settled_ms:.0f} ms "
          f"(wall incl. 600 ms settle {1000 * (time.perf_counter() - start):.0f} ms)")


def _rectangle(page, served):
    """A rectangle over the middle of the shown step (canvas CSS px) and the sample ids inside it, computed from the
    payload: exactly inside, surely inside (1.5 px in from every edge) and maybe inside (1.5 px out)."""
    header, arrays = _payload(served[1])
    index = header["steps"].index(page.evaluate(f"() => {API}.step"))
    data_xy = arrays["points_xy"][index]
    screen = _positions(page)
    # the drawn positions are the payload's, through one affine map per axis (fit here, checked to < 1 px)
    fits = [np.polyfit(data_xy[:, a], screen[:, a], 1) for a in range(2)]
    mapped = np.column_stack([np.polyval(fits[a], data_xy[:, a]) for a in range(2)])
    assert np.abs(mapped - screen).max() < 1.0
    assert abs(abs(fits[0][0]) - abs(fits[1][0])) < 1e-3 * abs(fits[0][0])  # one scale: aspect kept

    cx, cy = np.median(mapped, axis=0)
    x0, x1, y0, y1 = cx - 90, cx + 60, cy - 70, cy + 80

    def within(pad):  # ids inside the rectangle grown (pad > 0) or shrunk (pad < 0) by pad pixels
        return set(np.flatnonzero((mapped[:, 0] > x0 - pad) & (mapped[:, 0] < x1 + pad)
                                  & (mapped[:, 1] > y0 - pad) & (mapped[:, 1] < y1 + pad)).tolist())

    inside, surely_in, maybe_in = within(0), within(-1.5), within(1.5)
    assert 50 < len(inside) < 4000 and len(maybe_in - surely_in) < 0.1 * len(inside)
    return (x0, y0, x1, y1), inside, surely_in, maybe_in


def _drag(page, points, press_at=None) -> None:
    """Press at `press_at` (default: the first point; canvas CSS px), move through the points in small steps,
    release."""
    box = page.locator(".pxl-player canvas").bounding_box()
    press_at = press_at or points[0]
    page.mouse.move(box["x"] + press_at[0], box["y"] + press_at[1])
    page.mouse.down()
    if press_at != points[0]:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        for t in np.linspace(0, 1, 12)[1:]:
            page.mouse.move(box["x"] + ax + (bx - ax) * t, box["y"] + ay + (by - ay) * t)
            page.wait_for_timeout(15)
    page.wait_for_timeout(50)  # regl-scatterplot samples the drag at most every 10 ms: let it take the last point
    page.mouse.move(box["x"] + points[-1][0], box["y"] + points[-1][1])
    page.mouse.up()


def _selected_in_url(page, before: str | None = None) -> set[int]:
    """The ids of the selection once the page has put a new one into the URL: its ids (`sel=`), or, for a selection
    too large to list, the samples inside its shape (`shape=`), as a shared link selects them."""
    from dashboard.neighbours import ids_from_text
    from dashboard.view_url import polygon_contains, shape_from_text

    page.wait_for_function("() => (location.search.includes('sel=') || location.search.includes('shape='))"
                           f" && location.search !== {json.dumps(before)}", timeout=60_000)
    query = parse_qs(urlparse(page.url).query)
    if "sel" in query:
        return set(ids_from_text(query["sel"][0], 5000))
    shape = shape_from_text(query["shape"][0])
    header, arrays = _payload(SERVED_STORE[0])
    codes = arrays["points"][header["steps"].index(shape["step"])]
    return set(np.flatnonzero(polygon_contains(codes, np.array(shape["points"]))).tolist())


def _inside_shape(codes: np.ndarray, polygon: list) -> set[int]:
    """The ids of the samples whose codes (N, 2) lie inside `polygon` (integer vertices) by the even-odd rule of
    wire.json "selection_shape", in int64 here (what the Python side computes from a reported shape)."""
    px, py = codes[:, 0].astype(np.int64), codes[:, 1].astype(np.int64)
    result = np.zeros(len(px), bool)
    vertices = np.asarray(polygon, dtype=np.int64)
    for i in range(len(vertices)):
        (xi, yi), (xj, yj) = vertices[i], vertices[i - 1]
        lhs, rhs = (px - xi) * (yj - yi), (xj - xi) * (py - yi)
        result ^= ((yi > py) != (yj > py)) & ((lhs < rhs) if yj > yi else (lhs > rhs))
    return set(np.flatnonzero(result).tolist())


def _check_shape(page, header, arrays, kind: str) -> set[int]:
    """The selection report's ids are exactly the samples inside its shape at its step, recomputed here from the
    payload's codes; regl-scatterplot highlights those ids."""
    report = page.evaluate(f"() => {API}.reports.selection")
    shape = report["shape"]
    assert shape["pane"] == 0 and shape["kind"] == kind
    assert 3 <= len(shape["points"]) <= 64 and all(isinstance(v, int) for p in shape["points"] for v in p)
    assert report["step"] == page.evaluate(f"() => {API}.step")
    codes = arrays["points"][header["steps"].index(report["step"])]
    assert set(report["ids"]) == _inside_shape(codes, shape["points"])
    assert report["ids"] == sorted(report["ids"])
    assert sorted(page.evaluate(f"() => {API}.pane(0).selectedPoints()")) == report["ids"]  # the highlight
    return set(report["ids"])


def test_lasso_returns_exactly_the_ids_inside(page, served):
    header, arrays = _payload(served[1])
    (x0, y0, x1, y1), inside, surely_in, maybe_in = _rectangle(page, served)
    _drag(page, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)])
    page.get_by_text("samples selected").wait_for(timeout=60_000)
    got = _selected_in_url(page)
    assert _check_shape(page, header, arrays, "lasso") == got  # the ids are the shape's, as Python can recompute them
    # exactly the ids inside, up to the points within 1.5 px of an edge (the lasso is sampled mouse positions)
    assert surely_in <= got <= maybe_in, (len(surely_in - got), len(got - maybe_in))
    print(f"\nlasso: {len(got)} ids returned, {len(inside)} inside the rectangle, "
          f"{len(maybe_in - surely_in)} within 1.5 px of an edge, {len(got ^ inside)} of those differ")
    assert page.get_by_text(f"{len(got)} samples selected", exact=False).count() >= 1
    # kept across steps: move the step, the browser still holds the same ids
    _set_step(page, 3)
    _wait_drawn(page, header["steps"][3])
    assert page.evaluate(f"() => {API}.selection") == sorted(got)


def test_box_select_returns_exactly_the_ids_inside(page, served):
    """Box selection: a drag from one corner to the other selects the ids inside the rectangle."""
    header, _ = _payload(served[1])
    _set_step(page, 7)
    _wait_drawn(page, header["steps"][7])
    (x0, y0, x1, y1), inside, surely_in, maybe_in = _rectangle(page, served)
    before = page.evaluate("() => location.search")
    page.locator(".pxl-mouse").select_option("box")
    # regl-scatterplot starts a lasso where the pointer first moves past a few pixels from the press: press just
    # outside the corner, so that the box starts at the corner itself
    _drag(page, [(x0, y0), (x1, y1)], press_at=(x0 - 5, y0 - 5))
    got = _selected_in_url(page, before)
    assert surely_in <= got <= maybe_in, (len(surely_in - got), len(got - maybe_in))
    header, arrays = _payload(served[1])
    assert _check_shape(page, header, arrays, "box") == got
    assert len(page.evaluate(f"() => {API}.reports.selection.shape.points")) == 4  # a box: its 4 corners
    assert page.evaluate(f"() => {API}.selection") == sorted(got)
    page.locator(".pxl-mouse").select_option("lasso")
    # Python clears it (the page's button): the browser hears it, although the page opened with no selection too
    page.get_by_role("button", name="Clear selection").click()
    page.wait_for_function(f"() => {API}.selection.length === 0", timeout=30_000)


def _screen_map(page, header, arrays):
    """The affine map (one per axis) from payload coordinates to the canvas's CSS pixels, fitted on the samples."""
    index = header["steps"].index(page.evaluate(f"() => {API}.step"))
    data_xy, screen = arrays["points_xy"][index], _positions(page)
    fits = [np.polyfit(data_xy[:, a], screen[:, a], 1) for a in range(2)]
    assert max(np.abs(np.polyval(fits[a], data_xy[:, a]) - screen[:, a]).max() for a in range(2)) < 1.0
    return lambda xy: np.column_stack([np.polyval(fits[a], xy[..., a]) for a in range(2)])


def test_the_payload_travels_once(page, served):
    """Reruns the player causes itself (the step it stopped on, a selection) send Streamlit's reference to the
    payload the browser holds, not the payload again: counted on the page's websocket."""
    header, _ = _payload(served[1])
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    received = []
    tab.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(len(frame))))
    tab.goto(f"{served[0]}/embedding?run={BIG}")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(1000)
    payload_bytes, loaded = tab.evaluate(f"() => {API}.payloadBytes"), len(received)
    assert max(received) > payload_bytes  # it came through this websocket, in one message
    _set_step(tab, 2)  # the player reports the step once it settles: a rerun
    tab.wait_for_function(f"() => new URLSearchParams(location.search).get('step') === '{header['steps'][2]}'",
                          timeout=30_000)
    (x0, y0, x1, y1), *_ = _rectangle(tab, served)
    tab.locator(".pxl-mouse").select_option("box")
    _drag(tab, [(x0, y0), (x1, y1)])  # a selection: another rerun, with the selection's tables
    got = _selected_in_url(tab)
    tab.wait_for_timeout(1000)
    after = received[loaded:]
    print(f"\npayload {payload_bytes:,} B; after a step report and a selection of {len(got)}: {len(after)} messages, "
          f"{sum(after):,} B, the largest {max(after):,} B")
    assert max(after) < payload_bytes / 2, (sorted(after)[-3:], payload_bytes)  # a resend is one whole-payload message
    assert tab.evaluate(f"() => {API}.selection") == sorted(got)  # the reruns kept the browser's state
    assert tab.evaluate(f"() => {API}.step") == header["steps"][2]
    tab.close()


def test_hover_names_the_nearest_proxy_and_shows_the_thumbnail(page, served):
    """Hovering a sample (the real mouse) shows its thumbnail, pixel for pixel, and its most similar proxy in the
    embedding space, computed here from the snapshot (cosine), not read from the payload."""
    import base64
    from io import BytesIO

    from PIL import Image

    from proxylab.store import open_run

    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run={IMAGES}")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(800)
    run = open_run(served[1], IMAGES)
    step = tab.evaluate(f"() => {API}.step")
    snap = run.snapshot(step)
    screen = _positions(tab)
    gaps = np.sort(np.linalg.norm(screen[:, None] - screen[None], axis=-1), axis=1)[:, 1]
    i = int(np.argmax(gaps))  # the most isolated sample: the pointer cannot land on a neighbour
    box = tab.locator(".pxl-player canvas").bounding_box()
    tab.mouse.move(box["x"] + screen[i, 0] + 0.5, box["y"] + screen[i, 1] + 0.5)
    tab.wait_for_function(f"() => {API}.pane(0).tip?.startsWith('sample {i} ')", timeout=10_000)
    tip = tab.evaluate(f"() => {API}.pane(0).tip")
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    c, k, d = snap.proxies.shape
    best = int((unit(snap.proxies.reshape(c * k, d)) @ unit(snap.embeddings[i])).argmax())
    own = "own class" if best // k == snap.labels[i] else "another class"
    assert f"nearest proxy: class {best // k} #{best % k} ({own})" in tip, tip
    url = tab.evaluate(f"() => {API}.pane(0).tipPicture")
    shown = np.asarray(Image.open(BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"))
    assert np.array_equal(shown, run.eval_images()[i, :, :, 0])
    tab.close()


def test_proxy_trajectories_follow_the_proxies_and_the_camera(page, served):
    header, arrays = _payload(served[1])
    steps, proxies = header["steps"], arrays["proxies_xy"]  # (S, P, 2)
    _set_step(page, 5)
    _wait_drawn(page, steps[5])
    assert page.evaluate(f"() => {API}.trail(0)") is None  # off by default
    page.locator(".pxl-trails-box").check()
    page.wait_for_function(f"() => {API}.trail(0) !== null")

    def check(to_screen):
        for j in range(proxies.shape[1]):
            drawn = np.array(page.evaluate(f"() => {API}.trail({j})"))
            assert drawn.shape == (6, 2)  # steps 0..5: the path so far
            assert np.abs(drawn - to_screen(proxies[:6, j])).max() < 1.0

    check(_screen_map(page, header, arrays))
    before = np.array(page.evaluate(f"() => {API}.trail(0)"))
    box = page.locator(".pxl-player canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)  # zoom in: the trajectories follow the camera
    page.wait_for_timeout(800)
    check(_screen_map(page, header, arrays))
    assert np.abs(np.array(page.evaluate(f"() => {API}.trail(0)")) - before).max() > 5
    page.locator(".pxl-reset").click()
    page.locator(".pxl-trails-box").uncheck()
    page.wait_for_function(f"() => {API}.trail(0) === null")


def test_autoplay_advances_the_step(page, served):
    header, _ = _payload(served[1])
    _set_step(page, 0)
    _wait_drawn(page, header["steps"][0])
    page.locator(".pxl-play").click()
    page.wait_for_timeout(2500)  # 0.7 s per step at 1×
    playing_at = page.evaluate(f"() => {API}.step")
    page.locator(".pxl-play").click()
    assert not page.evaluate(f"() => {API}.playing")
    assert header["steps"].index(playing_at) >= 2


def test_colour_switch_changes_the_picture(page, served):
    canvas = page.locator(".pxl-player canvas")
    page.wait_for_timeout(800)
    before = canvas.screenshot()
    page.locator(".pxl-colour").select_option("split")
    page.wait_for_function(f"() => {API}.colour === 'split'")
    page.wait_for_timeout(800)
    after = canvas.screenshot()
    assert before != after
    # the number of distinct colours of the sample points falls to (about) the two splits + proxies + background
    from io import BytesIO

    from PIL import Image

    def colours(png):
        pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB")).reshape(-1, 3)
        values, counts = np.unique(pixels, axis=0, return_counts=True)
        return {tuple(v) for v, c in zip(values, counts) if c > 30}

    assert colours(before) != colours(after)


def test_no_request_leaves_localhost(page):
    page.wait_for_timeout(500)
    outside = [u for u in page.requests
               if urlparse(u).scheme not in ("blob", "data") and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not outside, outside
    assert not page.errors, page.errors


def test_compare_links_the_panes_step_and_camera(page, served):
    """Compare's linked panes: one step control moves both runs, a zoom in one pane moves the other's camera."""
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/compare?runs=mpa-k4,pa-k1")
    tab.wait_for_function(f"() => {API}?.panes === 2 && {API}.pane(0).drawnStep != null"
                          f" && {API}.pane(1).drawnStep != null", timeout=60_000)
    assert tab.locator(".pxl-player canvas").count() == 2
    last = tab.evaluate(f"() => {API}.step")
    assert tab.evaluate(f"() => [{API}.pane(0).drawnStep, {API}.pane(1).drawnStep]") == [last, last]
    before = [np.array(tab.evaluate(f"() => {API}.pane({i}).screenPositions()")) for i in (0, 1)]
    _set_step(tab, 0)
    tab.wait_for_function(f"() => {API}.pane(0).drawnStep === 0 && {API}.pane(1).drawnStep === 0", timeout=30_000)
    tab.wait_for_timeout(600)
    after = [np.array(tab.evaluate(f"() => {API}.pane({i}).screenPositions()")) for i in (0, 1)]
    assert all(np.abs(a - b).max() > 5 for a, b in zip(after, before))  # both runs moved with the one slider
    assert tab.evaluate(f"() => {API}.pane(0).title").startswith("mpa-k4")
    assert tab.evaluate(f"() => {API}.pane(1).title").startswith("pa-k1")
    start = np.array(tab.evaluate(f"() => {API}.pane(1).cameraView()"))
    canvas = tab.locator(".pxl-player canvas").first
    canvas.scroll_into_view_if_needed()
    tab.wait_for_timeout(300)
    box = canvas.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.wheel(0, -400)
    tab.wait_for_timeout(800)
    views = [np.array(tab.evaluate(f"() => {API}.pane({i}).cameraView()")) for i in (0, 1)]
    assert np.abs(views[0] - start).max() > 1e-3, views  # the zoomed pane's camera moved ...
    assert np.abs(views[1] - start).max() > 1e-3  # ... and so did the other's ...
    np.testing.assert_allclose(views[1], views[0], atol=1e-6)  # ... to the same view
    tab.close()


def test_a_sphere_run_plays_in_3d_and_a_drag_rotates_it(page, served):
    """A d = 3 run opens on the sphere itself in the player: a drag turns it (the same canvas), and what is drawn is
    the payload's points through the rotation the player reports, up to one affine map per screen axis."""
    from dashboard.player import decode_payload, run_payload
    from proxylab.store import open_run

    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run=sphere-d3")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(800)
    assert tab.evaluate(f"() => {API}.pane(0).dims") == 3
    assert tab.locator(".pxl-sphere").count() == 1  # the sphere's outline
    run = open_run(served[1], "sphere-d3")
    steps = run.snapshot_steps()
    snap = run.snapshot(steps[-1])
    header, arrays = decode_payload(run_payload(str(served[1]), "sphere-d3", tuple(steps), "native",
                                                tuple(snap.proxies.shape[:2]), None, 3))

    def check_drawn():
        rotation = np.array(tab.evaluate(f"() => {API}.pane(0).rotation")).reshape(3, 3)
        xyz = arrays["points_xy"][header["steps"].index(tab.evaluate(f"() => {API}.step"))]
        turned = xyz @ rotation.T  # (N, 3): the player's rotation applied here
        screen = _positions(tab)
        for a in range(2):
            fit = np.polyfit(turned[:, a], screen[:, a], 1)
            assert np.abs(np.polyval(fit, turned[:, a]) - screen[:, a]).max() < 1.0
        return rotation, screen

    rotation, before = check_drawn()
    tab.evaluate(f"() => {{ window.__canvas = {API}.canvas(); }}")
    box = tab.locator(".pxl-player canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(cx, cy)
    tab.mouse.down()
    for t in range(1, 11):
        tab.mouse.move(cx + 12 * t, cy + 4 * t)
        tab.wait_for_timeout(20)
    tab.mouse.up()
    tab.wait_for_timeout(600)
    turned, after = check_drawn()
    assert np.abs(turned - rotation).max() > 0.5  # ~1.2 rad of yaw: the sphere turned ...
    np.testing.assert_allclose(turned @ turned.T, np.eye(3), atol=1e-9)  # ... by a rotation
    assert np.abs(after - before).max() > 20  # and the points moved on screen
    assert tab.evaluate(f"() => window.__canvas === {API}.canvas()")  # in the same canvas
    assert tab.evaluate(f"() => {API}.selection") == []  # a rotation is not a lasso
    _set_step(tab, 0)
    _wait_drawn(tab, steps[0])
    check_drawn()  # the step moves, the rotation stays
    tab.close()


def test_every_tooltip_shows_the_stored_gradient_norm(page, served):
    """Hover every sample at every step (the tooltip code path) of a run whose norms span 13 decades: each shows the
    stored ‖∂L/∂f(x)‖ within 1 %, an exact zero as 0, a test point as '–'; the legend states the step's range."""
    import re

    from proxylab.store import open_run

    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run={WIDE}&colour=grad_norm")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    run = open_run(served[1], WIDE)
    checked = 0
    for index, step in enumerate(run.snapshot_steps()):
        _set_step(tab, index)
        _wait_drawn(tab, step)
        stored = run.snapshot(step).grad_norm
        tips = tab.evaluate(f"() => Array.from({{length: {len(stored)}}}, (_, i) => {API}.pane(0).tipOf(i))")
        for i, tip in enumerate(tips):
            shown = re.search(r"‖∂L/∂f‖ (\S+)", tip).group(1)
            if np.isnan(stored[i]):
                assert shown == "–", (step, i, tip)
            else:
                assert abs(float(shown) - float(stored[i])) <= 0.01 * float(stored[i]), (step, i, shown, stored[i])
            checked += 1
        legend = tab.locator(".pxl-legend").inner_text()
        positive = stored[np.isfinite(stored) & (stored > 0)]
        lo, hi = (float(v) for v in re.search(rf"at step {step}, log scale: (\S+)\s*(\S+?);", legend).groups())
        assert lo == pytest.approx(float(positive.min()), rel=5e-3) and hi == pytest.approx(float(positive.max()), rel=5e-3)
    assert checked == 3 * 240
    tab.close()


def test_a_hundred_panes_made_and_destroyed_leave_no_listener_and_no_heap_behind(page, served):
    """Each pane listens on `window` while it lives (3-D orbit drags); destroying it must take those listeners (and
    with them the pane and its typed arrays) away. Counted with the DevTools protocol after a forced GC."""
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run={BIG}")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    cdp = tab.context.new_cdp_session(tab)

    def window_listeners() -> int:
        window = cdp.send("Runtime.evaluate", {"expression": "window"})["result"]["objectId"]
        return len(cdp.send("DOMDebugger.getEventListeners", {"objectId": window})["listeners"])

    def heap() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        return cdp.send("Runtime.getHeapUsage")["usedSize"]

    tab.evaluate(f"() => {API}.paneCycles(2)")  # warm: code paths compiled, caches filled
    before_listeners, before_heap = window_listeners(), heap()
    tab.evaluate(f"() => {API}.paneCycles(100)")
    after_listeners, after_heap = window_listeners(), heap()
    assert tab.evaluate(f"() => {API}.panes") == 1
    assert after_listeners == before_listeners, (before_listeners, after_listeners)
    # a leaked pane of 5,000 points keeps ~0.3 MB of arrays: 100 of them would add ~30 MB
    assert after_heap - before_heap < 5 * 2**20, (before_heap, after_heap)
    tab.close()


def test_colour_by_retrieval_outcome_is_each_sample_s_own(page, served):
    """Colour by nearest neighbour: green where the sample's nearest neighbour in its split has its class (its R@1
    is 1), red where not, computed from the stored snapshot here; colour by proxy: its most similar proxy's class."""
    from dashboard.analysis import nearest_proxy, neighbour_same_class
    from proxylab.store import open_run

    run = open_run(served[1], WIDE)  # random embeddings: both outcomes occur
    step = run.snapshot_steps()[-1]
    snap = run.snapshot(step)
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    for colour in ("nn_outcome", "proxy_outcome"):
        tab.goto(f"{served[0]}/embedding?run={WIDE}&colour={colour}")
        tab.wait_for_function(f"() => {API}?.drawnStep === {step}", timeout=60_000)
        assert tab.evaluate(f"() => {API}.colour") == colour
        shown = np.array(tab.evaluate(f"() => {API}.pane(0).colourIndices()"))
        if colour == "nn_outcome":
            same = neighbour_same_class(snap.embeddings, snap.labels, snap.split)
            want = np.where(same == 1, 0, np.where(same == 0, 1, 2))
        else:
            cls, _, _ = nearest_proxy(snap.embeddings, snap.proxies)
            want = np.where(cls == snap.labels, 0, 1)
        assert np.array_equal(shown, want), (colour, int((shown != want).sum()))
        assert {0, 1} <= set(shown.tolist())  # both outcomes occur: the picture is not uniform
    tip = tab.evaluate(f"() => {API}.pane(0).tipOf(0)")
    assert "nearest neighbour: " in tip, tip
    tab.close()


def _angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """yaw, pitch, roll of R = Rz(roll) · Rx(pitch) · Ry(yaw) (wire.json "camera"), computed here."""
    return (float(np.arctan2(-rotation[2, 0], rotation[2, 2])), float(np.arcsin(np.clip(rotation[2, 1], -1, 1))),
            float(np.arctan2(-rotation[0, 1], rotation[1, 1])))


def _from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    c, s = np.cos, np.sin
    rz = np.array([[c(roll), -s(roll), 0], [s(roll), c(roll), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, c(pitch), -s(pitch)], [0, s(pitch), c(pitch)]])
    ry = np.array([[c(yaw), 0, s(yaw)], [0, 1, 0], [-s(yaw), 0, c(yaw)]])
    return rz @ rx @ ry


def _four_digits(reported: float, value: float) -> bool:
    """`reported` is `value` to 4 significant digits (one unit of the 4th digit, whichever way a tie rounds)."""
    return abs(reported - value) <= 0.51 * 10 ** (np.floor(np.log10(abs(value))) - 3) if value else reported == 0


def test_the_view_report_carries_the_camera_and_a_view_camera_restores_it(page, served):
    """A rotation and a zoom settle into a view report whose camera is the lead pane's (target, distance, and the
    rotation's yaw, pitch and roll), each to 4 significant digits; a view with that camera opens where it was, to
    the pixel; a view without one fits the camera again."""
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run=sphere-d3")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(800)
    fitted = tab.evaluate(f"() => {API}.pane(0).camera()")
    box = tab.locator(".pxl-player canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(cx, cy)
    tab.mouse.down()
    for t in range(1, 11):  # a diagonal drag: yaw and pitch about the screen's axes, so the rotation rolls too
        tab.mouse.move(cx + 10 * t, cy + 7 * t)
        tab.wait_for_timeout(20)
    tab.mouse.up()
    tab.mouse.move(cx - 60, cy + 40)
    tab.mouse.wheel(0, -300)  # zoom in about the pointer: the target moves off the centre
    tab.wait_for_function(f"""() => {{ const r = {API}.reports.view?.camera, c = {API}.pane(0).camera();
        return r && r.distance < {fitted['distance']} * 0.95 && Math.abs(r.distance - c.distance) < 1e-3 * c.distance; }}""",
                          timeout=30_000)
    camera = tab.evaluate(f"() => {API}.pane(0).camera()")
    report = tab.evaluate(f"() => {API}.reports.view")
    assert report["step"] == tab.evaluate(f"() => {API}.step")
    reported = report["camera"]
    assert set(reported) == {"x", "y", "distance", "yaw", "pitch", "roll"}
    rotation = np.array(camera["rotation"]).reshape(3, 3)
    truth = dict(zip(("x", "y", "distance"), [*camera["target"], camera["distance"]]))
    truth.update(zip(("yaw", "pitch", "roll"), _angles(rotation)))
    assert all(_four_digits(reported[k], truth[k]) for k in truth), (reported, truth)
    assert abs(reported["roll"]) > 1e-3  # the drag rolled the view: two angles would not restore it
    np.testing.assert_allclose(_from_angles(reported["yaw"], reported["pitch"], reported["roll"]), rotation, atol=2e-3)

    before = _positions(tab)
    tab.evaluate(f"() => {API}.loadView({{camera: {json.dumps(reported)}}})")  # a fresh view with this camera
    tab.wait_for_timeout(800)
    after = _positions(tab)
    assert np.abs(after - before).max() < 1.0, np.abs(after - before).max()  # the same picture, to the pixel
    restored = tab.evaluate(f"() => {API}.pane(0).camera()")
    np.testing.assert_allclose([*restored["target"], restored["distance"]],
                               [reported["x"], reported["y"], reported["distance"]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(restored["rotation"]).reshape(3, 3),
                               _from_angles(reported["yaw"], reported["pitch"], reported["roll"]), atol=1e-12)
    tab.evaluate(f"() => {API}.loadView({{camera: null}})")  # none: fitted, and turned as a 3-D view opens
    tab.wait_for_timeout(800)
    again = tab.evaluate(f"() => {API}.pane(0).camera()")
    np.testing.assert_allclose(again["distance"], fitted["distance"], rtol=1e-6)
    np.testing.assert_allclose(again["rotation"], fitted["rotation"], atol=1e-12)
    tab.close()


def test_a_pan_in_2d_is_reported_without_angles(page, served):
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run={BIG}")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    tab.wait_for_timeout(800)
    tab.locator(".pxl-mouse").select_option("panZoom")
    box = tab.locator(".pxl-player canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(cx, cy)
    tab.mouse.down()
    for t in range(1, 11):
        tab.mouse.move(cx + 8 * t, cy - 5 * t)
        tab.wait_for_timeout(20)
    tab.mouse.up()
    tab.wait_for_function(f"() => Math.abs({API}.reports.view?.camera?.x ?? 0) > 1e-3", timeout=30_000)
    reported = tab.evaluate(f"() => {API}.reports.view.camera")
    camera = tab.evaluate(f"() => {API}.pane(0).camera()")
    assert set(reported) == {"x", "y", "distance"}
    assert reported["x"] < 0 and reported["y"] < 0  # dragged right and up: the view's centre moved left and down
    for key, value in zip(("x", "y", "distance"), [*camera["target"], camera["distance"]]):
        assert _four_digits(reported[key], value), (key, reported[key], value)
    tab.close()


def test_a_copied_link_opens_the_same_view(page, served):
    """Pan, colour, step and a lasso, then open the page's URL in a new tab: the same step, colouring, camera and
    selected samples (carried as the lasso's shape when its ids are many); the URL stays within 2 KB."""
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    tab.goto(f"{served[0]}/embedding?run={BIG}")
    tab.wait_for_function(f"() => {API}?.drawnStep != null", timeout=60_000)
    header, _ = _payload(served[1])
    _set_step(tab, 5)
    _wait_drawn(tab, header["steps"][5])
    tab.locator(".pxl-colour").select_option("mode")
    tab.locator(".pxl-mouse").select_option("panZoom")
    box = tab.locator(".pxl-player canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(cx, cy)
    tab.mouse.wheel(0, -200)
    tab.wait_for_function("() => location.search.includes('cam=')", timeout=30_000)
    tab.locator(".pxl-mouse").select_option("lasso")
    w, h = box["width"], box["height"]
    before = tab.evaluate("() => location.search")
    _drag(tab, [(0.2 * w, 0.15 * h), (0.8 * w, 0.2 * h), (0.75 * w, 0.85 * h), (0.25 * w, 0.8 * h), (0.2 * w, 0.16 * h)])
    selected = _selected_in_url(tab, before)
    assert len(selected) > 200 and "shape=" in tab.url  # many ids: the link carries the lasso's shape
    tab.wait_for_timeout(1500)  # the camera's and the step's reports have settled into the URL
    url, camera = tab.url, tab.evaluate(f"() => {API}.pane(0).camera()")
    assert len(url.encode()) <= 2048, len(url)

    other = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    other.goto(url)
    other.wait_for_function(f"() => {API}?.drawnStep === {header['steps'][5]}", timeout=60_000)
    other.get_by_text(f"{len(selected)} samples selected", exact=False).first.wait_for(timeout=60_000)
    assert set(other.evaluate(f"() => {API}.selection")) == selected
    assert other.evaluate(f"() => {API}.colour") == "mode"
    again = other.evaluate(f"() => {API}.pane(0).camera()")
    np.testing.assert_allclose([*again["target"], again["distance"]], [*camera["target"], camera["distance"]],
                               rtol=1e-3, atol=1e-4)  # the URL keeps 4 significant digits
    assert other.get_by_text(f"{len(selected):,} selected samples as queries", exact=False).count() >= 1  # scored
    other.close()
    tab.close()
