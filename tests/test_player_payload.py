"""The player's payload: encode → decode gives the original back within the quantisation step, compactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.player import decode_payload, encode_payload, link_payloads, palettes, unlink_payloads, with_view
from dashboard.player.payload import COORD_LEVELS, GRAD_COLOURS, GRAD_LEVELS


def _run(seed=0, steps=4, n=300, c=3, k=2):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(steps, n, 2)) * [3.0, 0.5] + [10.0, -2.0]  # unequal spans, off-centre
    proxies = rng.normal(size=(steps, c, k, 2)) * 4.0
    grad = rng.gamma(2.0, size=(steps, n))
    grad[:, ::7] = np.nan  # test points: not computed
    labels = rng.integers(0, c, n)
    return dict(steps=[10 * i for i in range(steps)], points=points, labels=labels, modes=labels * 2 + rng.integers(0, 2, n),
                split=rng.integers(0, 2, n), index=rng.permutation(n), grad_norm=grad, proxies=proxies)


def test_round_trip_within_the_quantisation_step():
    run = _run()
    header, arrays = decode_payload(encode_payload(**run))
    every = np.concatenate([run["points"].reshape(-1, 2), run["proxies"].reshape(-1, 2)])
    lo, hi = every.min(axis=0), every.max(axis=0)
    half_step = (hi - lo) / COORD_LEVELS / 2  # per axis, computed here, not read from the payload
    assert np.all(np.abs(arrays["points_xy"] - run["points"]) <= half_step * (1 + 1e-9))
    proxies = run["proxies"].reshape(len(run["steps"]), -1, 2)
    assert np.all(np.abs(arrays["proxies_xy"] - proxies) <= half_step * (1 + 1e-9))
    assert header["steps"] == run["steps"]

    grad = run["grad_norm"]
    known = np.isfinite(grad)
    assert np.array_equal(np.isnan(arrays["grad_norm_value"]), ~known)
    for s, row in enumerate(grad):  # per step: a log scale of its own positive norms
        positive = np.isfinite(row) & (row > 0)
        lo, hi = np.log10(row[positive].min()), np.log10(row[positive].max())
        bound = 10 ** ((hi - lo) / GRAD_LEVELS / 2) - 1  # half a step of the log scale, computed here
        assert np.all(np.abs(arrays["grad_norm_value"][s][positive] / row[positive] - 1) <= bound * (1 + 1e-6))

    for name in ("labels", "modes", "split", "index"):
        assert np.array_equal(arrays[name], run[name]), name
    assert np.array_equal(arrays["proxy_class"], np.repeat(np.arange(3), 2))
    assert np.array_equal(arrays["proxy_k"], np.tile(np.arange(2), 3))


def test_payload_is_compact():
    s, n = 20, 5000
    run = _run(steps=s, n=n)
    blob = encode_payload(**run)
    # 2 × uint16 per point per step, a uint16 gradient norm per point per step, ~14 bytes of fixed attributes
    assert len(blob) <= s * n * (4 + 2) + n * 15 + 4096
    assert len(blob) < run["points"].astype(np.float32).nbytes  # smaller than the float32 coordinates alone


def test_view_options_leave_the_arrays_alone():
    blob = encode_payload(**_run())
    header, arrays = decode_payload(blob)
    viewed_header, viewed = decode_payload(with_view(blob, {"step": 10, "selected": [1, 2, 3]}))
    assert viewed_header["view"] == {"step": 10, "selected": [1, 2, 3]}
    assert viewed_header["id"] == header["id"]
    for name, values in arrays.items():
        assert np.array_equal(viewed[name], values, equal_nan=True), name


def test_linked_payloads_round_trip_each_aligned():
    blobs = [encode_payload(**_run(seed)) for seed in (0, 1, 2)]
    blobs[1] = blobs[1] + b"x"  # an odd length: the next payload must still start 8-aligned
    linked = link_payloads(blobs)
    assert unlink_payloads(linked) == blobs
    assert unlink_payloads(blobs[0]) == [blobs[0]]  # a single payload is a list of one
    at = 8 + 4 * len(blobs)
    for blob in blobs:  # the layout the JavaScript reads: each payload at the next multiple of 8
        at += -at % 8
        assert linked[at:at + len(blob)] == blob
        at += len(blob)
    with pytest.raises(ValueError, match="payload 1 must start with b'PXPL'"):
        link_payloads([blobs[0], b"nope"])
    with pytest.raises(ValueError, match="at least one payload"):
        link_payloads([])


def test_a_run_without_proxies_and_constant_axes():
    run = _run()
    run["proxies"] = None
    run["points"][..., 1] = 4.0  # one axis does not move at all
    header, arrays = decode_payload(encode_payload(**run))
    assert header["n_proxies"] == 0 and arrays["proxies_xy"].shape == (4, 0, 2)
    assert np.all(arrays["points_xy"][..., 1] == 4.0)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(points=r["points"][:, :, :1]), "points must have shape (steps, N, 2|3)"),
    (lambda r: r.update(proxies=np.zeros((4, 3, 2, 3))), "proxies must have shape (4, C, K, 2)"),
    (lambda r: r.update(steps=r["steps"][:2]), "points must have one entry per step"),
    (lambda r: r.update(labels=r["labels"][:-1]), "labels must have shape (300,), got (299,)"),
    (lambda r: r.update(grad_norm=r["grad_norm"][:1]), "grad_norm must have shape (4, 300), got (1, 300)"),
    (lambda r: r.update(proxies=r["proxies"][:2]), "proxies must have shape (4, C, K, 2)"),
    (lambda r: r["points"].__setitem__((0, 0, 0), np.nan), "must be finite"),
    (lambda r: r.update(nearest_proxy=np.zeros((4, 299), int)), "nearest_proxy must have shape (4, 300), got (4, 299)"),
    (lambda r: r.update(nearest_proxy=np.full((4, 300), 6)), "nearest_proxy must index the 6 proxies"),
    (lambda r: r.update(images=np.zeros((300, 8, 8, 2), np.uint8)), "images must be uint8 shaped (300, H, W, 1|3)"),
    (lambda r: r.update(images=np.zeros((300, 8, 8, 1))), "images must be uint8 shaped (300, H, W, 1|3)"),
])
def test_bad_input_is_named(change, message):
    run = _run()
    change(run)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        encode_payload(**run)


def test_palettes_give_each_mode_a_shade_of_its_class():
    labels = np.array([0, 0, 0, 1, 1, 1])
    modes = np.array([0, 1, 1, 2, -1, 2])
    colours, mode_colour = palettes(labels, modes, n_classes=2)
    assert mode_colour[4] == 0 and colours["mode"][0] == "#d3d3d3"  # unknown mode: grey
    assert len({colours["mode"][i] for i in mode_colour[[0, 1, 3]]}) == 3  # three modes, three colours
    assert colours["mode"][mode_colour[3]].lower() == colours["label"][1].lower()  # the first mode of a class wears its colour
    assert len(colours["grad_norm"]) == GRAD_COLOURS + 1  # one per bin of the log scale, then "not computed"


def test_nearest_proxy_and_thumbnails_travel_exactly():
    run = _run()
    rng = np.random.default_rng(5)
    nearest = rng.integers(0, 6, (4, 300))
    images = rng.integers(0, 256, (300, 8, 8, 1), dtype=np.uint8)
    header, arrays = decode_payload(encode_payload(**run, nearest_proxy=nearest, images=images))
    assert arrays["nearest_proxy"].dtype == np.uint8 and np.array_equal(arrays["nearest_proxy"], nearest)
    assert np.array_equal(arrays["images"], images) and header["arrays"]["images"]["shape"] == [300, 8, 8, 1]
    plain_header, plain = decode_payload(encode_payload(**run))
    assert "nearest_proxy" not in plain and "images" not in plain  # optional: absent unless given


def test_thumbnails_over_the_budget_are_strided_to_fit(monkeypatch):
    from dashboard.player import payload

    monkeypatch.setattr(payload, "IMAGE_BUDGET_BYTES", 300 * 10 * 10 * 3)  # room for 10×10 RGB, given 32×32
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    fitted = payload.fit_images(images, 300)
    assert fitted.shape == (300, 8, 8, 3)  # stride 4: 32 -> 8 (stride 3 gives 11 x 11, over the budget)
    assert np.array_equal(fitted, images[:, ::4, ::4])
    _, arrays = decode_payload(encode_payload(**_run(), images=images))
    assert arrays["images"].shape == (300, 8, 8, 3)


def test_3d_round_trip_within_the_quantisation_step():
    rng = np.random.default_rng(2)
    run = _run()
    run["points"] = rng.normal(size=(4, 300, 3)) * [1.0, 2.0, 0.5]
    run["proxies"] = rng.normal(size=(4, 3, 2, 3))
    header, arrays = decode_payload(encode_payload(**run))
    assert header["dims"] == 3 and arrays["points"].shape == (4, 300, 3) and arrays["proxies"].shape == (4, 6, 3)
    every = np.concatenate([run["points"].reshape(-1, 3), run["proxies"].reshape(-1, 3)])
    half_step = (every.max(axis=0) - every.min(axis=0)) / COORD_LEVELS / 2
    assert np.all(np.abs(arrays["points_xy"] - run["points"]) <= half_step * (1 + 1e-9))
    assert np.all(np.abs(arrays["proxies_xy"] - run["proxies"].reshape(4, 6, 3)) <= half_step * (1 + 1e-9))


def _links(run, modes=5, seed=3):
    rng = np.random.default_rng(seed)
    s, p = len(run["steps"]), run["proxies"].shape[1] * run["proxies"].shape[2]
    return {"centres": rng.normal(size=(s, modes, 2)) * 20.0,  # beyond the points: the bounds must grow
            "proxy": rng.integers(0, p, (s, modes)), "covered": rng.integers(0, 2, (s, modes)).astype(bool)}


def test_mode_links_round_trip_and_share_the_coordinate_bounds():
    run = _run()
    links = _links(run)
    header, arrays = decode_payload(encode_payload(**run, mode_links=links))
    every = np.concatenate([run["points"].reshape(-1, 2), run["proxies"].reshape(-1, 2), links["centres"].reshape(-1, 2)])
    half_step = (every.max(axis=0) - every.min(axis=0)) / COORD_LEVELS / 2
    assert np.all(np.abs(arrays["mode_centres_xy"] - links["centres"]) <= half_step * (1 + 1e-9))
    assert np.all(np.abs(arrays["points_xy"] - run["points"]) <= half_step * (1 + 1e-9))
    assert np.array_equal(arrays["mode_proxy"], links["proxy"])
    assert np.array_equal(arrays["mode_covered"].astype(bool), links["covered"])
    assert "mode_centres" not in decode_payload(encode_payload(**run))[1]  # only when asked for


@pytest.mark.parametrize("change, message", [
    (lambda l: l.pop("covered"), "keys centres, proxy, covered"),
    (lambda l: l.update(centres=l["centres"][:, :, :1]), r"centres must have shape \(4, M, 2\)"),
    (lambda l: l.update(proxy=l["proxy"][:-1]), "mode_links proxy must have shape"),
    (lambda l: l.update(proxy=l["proxy"] + 6), "must index the 6 proxies"),
])
def test_bad_mode_links_are_named(change, message):
    run = _run()
    links = _links(run)
    change(links)
    with pytest.raises(ValueError, match=message):
        encode_payload(**run, mode_links=links)



@pytest.mark.parametrize("decades", [0, 1, 13, 40, 83])  # 83: float32's whole positive range, subnormals included
def test_gradients_read_back_within_0_2_percent_over_any_float32_range(decades):
    from dashboard.player.payload import GRAD_MISSING, decode_grad, encode_grad, grad_colour

    rng = np.random.default_rng(decades)
    grad = 10.0 ** rng.uniform(-decades / 2, decades / 2, size=(4, 500))
    grad[0, :3] = [0.0, np.nan, 0.0]
    grad[1] = np.nan  # a step without any gradient
    grad[2] = 3.5  # one value only: lo == hi
    codes, bounds = encode_grad(grad)
    back = decode_grad(codes, bounds)
    assert bounds[1] is None and np.isnan(back[1]).all() and (codes[1] == GRAD_MISSING).all()
    assert back[0, 0] == 0 and back[0, 2] == 0 and np.isnan(back[0, 1])
    positive = np.isfinite(grad) & (grad > 0)
    half_step = 10 ** (decades / GRAD_LEVELS / 2) - 1  # of the log scale, computed here
    assert np.max(np.abs(back[positive] / grad[positive] - 1)) <= min(half_step * (1 + 1e-6) + 1e-12, 2e-3)
    # the colour is monotone in the value within a step, zero first, "not computed" last
    order = np.argsort(grad[3])
    assert np.all(np.diff(grad_colour(codes[3][order])) >= 0)
    assert grad_colour(codes)[0, 1] == GRAD_COLOURS and grad_colour(codes)[0, 0] == 0


def test_a_negative_gradient_norm_is_refused():
    from dashboard.player.payload import encode_grad

    with pytest.raises(ValueError, match="grad_norm must be >= 0"):
        encode_grad(np.array([[0.5, -1.0]]))


def test_the_javascript_fixture_is_what_python_writes():
    """dashboard/player/frontend/test/fixture holds a payload and its Python decoding; `npm test` (CI) reads it in
    JavaScript. Regenerate it with `python tests/player_fixture.py` after a change of the wire format."""
    import json

    from player_fixture import FIXTURE, build, build_full, build_polygons

    assert json.loads((FIXTURE / "polygons.json").read_text()) == build_polygons()
    blob, expected = build()
    assert (FIXTURE / "payload.bin").read_bytes() == blob
    assert (FIXTURE / "full.bin").read_bytes() == build_full()
    committed = json.loads((FIXTURE / "expected.json").read_text())
    # Decoded values come from exp/log, whose last bit differs between libm builds: floats agree to 1e-12, the
    # codes, colours and shapes exactly.
    assert _same(committed, json.loads(json.dumps(expected)))


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_bundle_users_get_has_no_test_api():
    """The browser tests' and the benchmark's view of the player's state lives in dist/player.test.js only."""
    from dashboard.player import BUNDLE, TEST_BUNDLE

    shipped, test = BUNDLE.read_text(), TEST_BUNDLE.read_text()
    for name in ("playerApi", "paneCycles", "tipOf", "screenPositions"):
        assert name not in shipped and name in test, name


def test_neighbour_outcome_is_each_query_s_r_at_1_within_its_split():
    """analysis.neighbour_same_class against brute force: for each sample, the most similar other sample of its split
    (cosine, ties to the lower index); the mean over a split's samples is that split's R@1."""
    from dashboard.analysis import NOT_COMPUTED, neighbour_same_class
    from proxylab.metrics import retrieval_metrics

    rng = np.random.default_rng(5)
    n = 300
    labels = rng.integers(0, 4, n)
    emb = rng.normal(size=(n, 6)) + 0.8 * rng.normal(size=(4, 6))[labels]
    split = (np.arange(n) % 3 == 0).astype(np.int8)
    split[7] = 2  # a split of one sample: nothing to compare with
    got = neighbour_same_class(emb.astype(np.float32), labels, split, block=64)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    for i in range(n):
        others = np.flatnonzero((split == split[i]) & (np.arange(n) != i))
        if not len(others):
            assert got[i] == NOT_COMPUTED
            continue
        best = others[np.argmax(unit[others] @ unit[i])]
        assert got[i] == (labels[best] == labels[i]), i
    for part in (0, 1):
        rows = np.flatnonzero(split == part)
        r1 = retrieval_metrics(emb[rows], labels[rows], ks=(1,))["R@1"]
        assert got[rows].mean() == pytest.approx(r1, abs=1e-12)


def test_the_neighbour_outcome_travels_in_the_payload():
    run = _run()
    s, n = len(run["steps"]), len(run["labels"])
    outcome = (np.arange(s * n).reshape(s, n) % 3).astype(np.uint8)
    outcome[outcome == 2] = 255
    _, arrays = decode_payload(encode_payload(**run, neighbour_same_class=outcome))
    assert np.array_equal(arrays["neighbour_same_class"], outcome)
    with pytest.raises(ValueError, match="neighbour_same_class must hold 0, 1 or 255"):
        encode_payload(**run, neighbour_same_class=np.full((s, n), 7, np.uint8))


# --- the wire format's one description (dashboard/player/wire.json), shared with the JavaScript ---------------------

def _full_payload() -> bytes:
    """A payload with every optional part the encoder has: nearest proxy, retrieval outcome, thumbnails, mode links,
    class names, palettes, the steps with proxies, and a view."""
    run = _run()
    s, n = len(run["steps"]), len(run["labels"])
    rng = np.random.default_rng(9)
    colours, mode_colour = palettes(run["labels"], run["modes"], 3)
    blob = encode_payload(**run, class_names=["a", "b", "c"], palettes=colours, mode_colour=mode_colour, title="all",
                          nearest_proxy=rng.integers(0, 6, (s, n)), images=rng.integers(0, 256, (n, 4, 4, 3), np.uint8),
                          sphere=False, mode_links=_links(run), proxy_steps=np.arange(s) % 2 == 0,
                          neighbour_same_class=np.zeros((s, n), np.uint8))
    return with_view(blob, {"step": 10})


def _check_arrays_against_the_schema(header: dict) -> None:
    from dashboard.player.payload import WIRE

    sizes = {"S": len(header["steps"]), "N": header["n_points"], "P": header["n_proxies"], "D": header["dims"]}
    for name, spec in header["arrays"].items():
        schema = WIRE["arrays"][name]
        assert spec["dtype"] in schema["dtype"], (name, spec["dtype"])
        assert len(spec["shape"]) == len(schema["shape"]), (name, spec["shape"], schema["shape"])
        for symbol, size in zip(schema["shape"], spec["shape"]):
            assert sizes.setdefault(symbol, size) == size, (name, symbol, sizes[symbol], size)  # one size per symbol


def test_a_payload_with_every_optional_part_has_exactly_the_schema_s_keys_and_arrays():
    """A header key or an array added in payload.py and not in wire.json (or the other way round) fails here; the
    JavaScript's types are generated from wire.json (npm test checks them), so the two sides cannot drift."""
    from dashboard.player.payload import WIRE

    header, _ = decode_payload(_full_payload())
    assert set(header) == set(WIRE["header"])
    assert set(header["arrays"]) == set(WIRE["arrays"])
    for spec in header["arrays"].values():
        assert set(spec) == set(WIRE["array_spec"])
    _check_arrays_against_the_schema(header)


def test_a_minimal_payload_has_only_the_schema_s_keys_and_all_required_ones():
    from dashboard.player.payload import WIRE

    run = _run()
    run["proxies"] = None
    header, _ = decode_payload(encode_payload(**run))
    required = {k for k, v in WIRE["header"].items() if v["required"]}
    assert required <= set(header) <= set(WIRE["header"])
    assert "view" not in header
    required_arrays = {k for k, v in WIRE["arrays"].items() if v["required"]}
    assert set(header["arrays"]) == required_arrays  # nothing optional unless asked for
    _check_arrays_against_the_schema(header)


def test_the_constants_are_the_schema_s():
    from dashboard.player import payload

    wire = payload.WIRE
    assert (payload.MAGIC, payload.LINKED_MAGIC) == (wire["magic"].encode(), wire["linked_magic"].encode())
    assert (payload.VERSION, payload.COORD_LEVELS, payload._ALIGN) == (wire["version"], wire["coord_levels"], wire["align"])
    assert (payload.GRAD_ZERO, payload.GRAD_MISSING, payload.GRAD_LEVELS, payload.GRAD_COLOURS) == tuple(
        wire["grad"][k] for k in ("zero", "missing", "levels", "colours"))
    assert decode_payload(encode_payload(**_run()))[0]["version"] == wire["version"]


def _mounted(monkeypatch, result: dict | None = None, **kwargs):
    """player() with Streamlit's component and session replaced: (the blob it sent, the PlayerState it returned)."""
    import streamlit as st

    import dashboard.player as player_module

    sent = {}

    def component(**mount):
        sent.update(mount)
        return result or {}

    monkeypatch.setattr(st, "session_state", {})
    monkeypatch.setattr(player_module, "_mount", lambda: component)
    state = player_module.player(encode_payload(**_run()), key="k", **kwargs)
    return sent["data"], state


def test_player_sends_the_schema_s_view_keys(monkeypatch):
    from dashboard.player.payload import WIRE

    blob, _ = _mounted(monkeypatch)
    view = decode_payload(blob)[0]["view"]
    assert set(view) == set(WIRE["view"])


def test_player_reads_every_key_of_the_browser_s_reports(monkeypatch):
    """The view and selection reports (wire.json "reports"; the JavaScript sends them typed from the same file):
    every key lands in a PlayerState field."""
    import dataclasses

    from dashboard.player import SELECTION_REPORT_FIELDS, VIEW_REPORT_FIELDS, PlayerState
    from dashboard.player.payload import WIRE

    assert set(VIEW_REPORT_FIELDS) == set(WIRE["reports"]["view"])
    assert set(SELECTION_REPORT_FIELDS) == set(WIRE["reports"]["selection"])
    fields = {f.name for f in dataclasses.fields(PlayerState)}
    assert set(VIEW_REPORT_FIELDS.values()) | set(SELECTION_REPORT_FIELDS.values()) == fields
    reports = {"view": REPORTS["view"], "selection": REPORTS["selection"]}
    for kind in reports:
        assert set(reports[kind]) == set(WIRE["reports"][kind]), kind
    _, state = _mounted(monkeypatch, reports)
    for key, field in VIEW_REPORT_FIELDS.items():
        assert getattr(state, field) == reports["view"][key], key
    for key, field in SELECTION_REPORT_FIELDS.items():
        assert getattr(state, field) == reports["selection"][key], key


#: one report of each kind as the browser sends it (keys: wire.json "reports")
REPORTS = {"view": {"step": 20, "colour": "split", "proxies": False, "trajectories": True,
                    "camera": {"x": 0.1235, "y": -0.5, "distance": 0.25, "yaw": 0.6, "pitch": 0.45, "roll": 0.0}},
           "selection": {"ids": [3, 5, 8], "seq": "abc:2", "step": 20,
                         "shape": {"pane": 0, "kind": "lasso", "points": [[0, 0], [900, 10], [450, 800]]}}}


def test_the_camera_travels_in_the_view_checked(monkeypatch):
    """player(camera=...) (a camera the view report gave: a shared link) goes to the browser in the view; anything
    that is not such a camera is refused by name."""
    from dashboard.player.payload import WIRE

    camera = {"x": 0.5, "y": -0.125, "distance": 0.3, "yaw": 1.0, "pitch": -0.25, "roll": 0.125}
    blob, _ = _mounted(monkeypatch, camera=camera)
    assert decode_payload(blob)[0]["view"]["camera"] == camera
    assert set(camera) == set(WIRE["camera"])
    blob, _ = _mounted(monkeypatch, camera={"x": 0, "y": 1, "distance": 2})  # 2-D: no angles
    assert decode_payload(blob)[0]["view"]["camera"] == {"x": 0.0, "y": 1.0, "distance": 2.0}
    assert decode_payload(_mounted(monkeypatch)[0])[0]["view"]["camera"] is None  # none: the browser fits it
    for bad, message in [({"x": 0, "y": 0}, "camera must be a dict with the keys"),
                         ({"x": 0, "y": 0, "distance": 1, "zoom": 2}, "camera must be a dict with the keys"),
                         ({"x": float("nan"), "y": 0, "distance": 1}, "camera x must be a finite number"),
                         ({"x": 0, "y": True, "distance": 1}, "camera y must be a finite number"),
                         ({"x": 0, "y": 0, "distance": 0}, "camera distance must be > 0"),
                         ([0, 0, 1], "camera must be a dict")]:
        with pytest.raises(ValueError, match=message):
            _mounted(monkeypatch, camera=bad)
