"""The player's view in the URL (dashboard.view_url): the even-odd rule against exact rational arithmetic, texts
that round-trip, hostile texts that read as nothing, and a whole view within 2 KB."""
from __future__ import annotations

from fractions import Fraction
from urllib.parse import urlencode

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.view_url import (MAX_CODE, MAX_VERTICES, VERTEX_LIMIT, camera_from_text, camera_to_text, polygon_contains,
                                shape_from_text, shape_to_text)


def reference_inside(point, polygon) -> bool:
    """Crossing test with the crossing's x as an exact fraction: the point is left of it."""
    px, py = point
    inside = False
    for i in range(len(polygon)):
        (xi, yi), (xj, yj) = polygon[i], polygon[i - 1]
        if (yi > py) != (yj > py) and px < xi + Fraction((xj - xi) * (py - yi), yj - yi):
            inside = not inside
    return inside


coords = st.integers(0, MAX_CODE)
vertices = st.integers(-VERTEX_LIMIT, VERTEX_LIMIT)  # a lasso drawn beyond the data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(coords, vertices), st.one_of(coords, vertices)), min_size=3, max_size=12),
       st.integers(0, 2**32 - 1))
def test_even_odd_rule_matches_exact_arithmetic_on_any_polygon(polygon, seed):
    rng = np.random.default_rng(seed)
    poly = np.array(polygon)
    # random points, the vertices themselves and points on edges' rows: the boundary cases a rule must settle
    on_rows = np.stack([rng.integers(0, MAX_CODE + 1, len(poly)), poly[:, 1].clip(0, MAX_CODE)], axis=1)
    points = np.concatenate([rng.integers(0, MAX_CODE + 1, size=(200, 2)), poly.clip(0, MAX_CODE), on_rows])
    got = polygon_contains(points, poly)
    assert got.tolist() == [reference_inside(tuple(map(int, p)), polygon) for p in points]


def test_a_box_holds_its_inside_and_not_its_outside():
    box = np.array([[10, 10], [20, 10], [20, 20], [10, 20]])
    points = np.array([[15, 15], [5, 15], [25, 15], [15, 25], [11, 11], [19, 19]])
    assert polygon_contains(points, box).tolist() == [True, False, False, False, True, True]


def shape(n=64, kind="lasso", pane=1, step=123456):
    rng = np.random.default_rng(n)
    return {"kind": kind, "pane": pane, "step": step, "points": rng.integers(0, MAX_CODE + 1, (n, 2)).tolist()}


@pytest.mark.parametrize("n, kind, low", [(3, "lasso", 0), (4, "box", 0), (MAX_VERTICES, "lasso", 0),
                                         (MAX_VERTICES, "lasso", -VERTEX_LIMIT)])
def test_shape_text_round_trips(n, kind, low):
    s = shape(n, kind)
    s["points"] = (np.array(s["points"]) * (VERTEX_LIMIT - low) // MAX_CODE + low).tolist()
    text = shape_to_text(s)
    assert text is not None and set(text) <= set("0123456789abcdefghijklmnopqrstuvwxyz.-")
    assert shape_from_text(text) == s


@pytest.mark.parametrize("bad", [
    None, {}, {**shape(), "points": shape()["points"][:2]}, {**shape(65)}, {**shape(), "kind": "circle"},
    {**shape(), "pane": -1}, {**shape(), "step": True}, {**shape(), "points": [[0, 0], [1, 1], [2**20 + 1, 2]]},
    {**shape(), "points": [[0.5, 0], [1, 1], [2, 2]]},
])
def test_what_is_not_a_shape_has_no_text(bad):
    assert shape_to_text(bad) is None


@pytest.mark.parametrize("bad", [
    "", "l0.1", "l0.1.1.1.1.1", "x0.1.1.1.1.1.1.1", "l0.1.zzzzz.1.1.1.1.1", "l0.1." + ".1" * 129, "l0.1.1.1.1.1.1",
    "l0.².1.1.1.1.1.1", "l0.1.1.1.1.1.1.1.1", "l" + "9" * 5000, "L0.1.1.1.1.1.1.1", "l0.1.1.1.1.1.1.1<b>",
    "l0.1.mh35.1.1.1.1.1",  # 2^20 + 1: past the farthest vertex the player sends
])
def test_hostile_shape_texts_read_as_nothing(bad):
    assert shape_from_text(bad) is None


@pytest.mark.parametrize("camera", [{"x": 0.5, "y": -1.25, "distance": 2.0},
                                    {"x": 1234.0, "y": 0.0001234, "distance": 1e-5, "yaw": -3.1, "pitch": 1.2,
                                     "roll": 0.25}])
def test_camera_text_round_trips(camera):
    text = camera_to_text(camera)
    assert text is not None and set(text) <= set("0123456789.-e_")
    assert camera_from_text(text) == camera


@pytest.mark.parametrize("bad", ["", "1_2", "1_2_0", "1_2_-1", "1_2_3_4", "1_2_3_4_5", "nan_1_1", "inf_1_1",
                                 "1e9_1_1", "1_2_3_4_5_6_7", "²_1_1", "1_2_3" + "0" * 100, "0x1_1_1"])
def test_hostile_camera_texts_read_as_nothing(bad):
    assert camera_from_text(bad) is None


def test_the_whole_view_fits_a_2_kb_url():
    params = {"run": "a" * 100, "projection": "umap", "dims": "2", "chart": "player", "step": "123456789",
              "colour": "proxy_outcome", "proxies": "1", "trails": "1", "present": "1",
              "cam": camera_to_text({"x": -1234.5, "y": -0.0012345, "distance": 12345.6, "yaw": -3.14159,
                                     "pitch": -1.5708, "roll": -0.00012345}),
              "shape": shape_to_text({"kind": "lasso", "pane": 1, "step": 123456789,
                                      "points": [[-VERTEX_LIMIT, -VERTEX_LIMIT]] * MAX_VERTICES}),
              "sel": "1-2,4-5,7-8,10-11,13-14,16-17,19-20,22-23,25-26,28-29" * 5}
    url = "http://localhost:8501/embedding?" + urlencode(params)
    assert len(url.encode()) <= 2048, len(url)
