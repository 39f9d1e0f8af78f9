"""The player's camera and selection shape in the URL: short, URL-safe texts, and the selection a shape makes.

A lasso or box travels as its polygon, not as the thousands of sample ids it may hold: the player reports the
polygon in the pane's payload coordinate codes (integers; the data span 0..65535, a lasso drawn beyond them reaches
at most ±2^20; at most 64 vertices) and selects exactly the
samples whose codes at the shown step lie inside it by the even-odd rule below, in integer arithmetic;
:func:`polygon_contains` is the same rule, so a shared link selects the same samples. Everything here is pure
(no Streamlit), and parsing never raises: a malformed or oversized text reads as None.

Texts (only unreserved URL characters, so nothing is percent-encoded):

- shape: ``<kind><pane>.<step>.<x1>.<y1>.<x2>.<y2>...``, kind ``l`` (lasso) or ``b`` (box), coordinates in base 36
  (``-`` before a negative one);
- camera: ``<x>_<y>_<distance>[_<yaw>_<pitch>_<roll>]`` (wire.json's camera keys, in that order), each number
  with 4 significant digits, as the player reports it.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

#: the player's wire format (the camera's keys), read here without importing the player (Streamlit, Plotly)
WIRE = json.loads((Path(__file__).parent / "player" / "wire.json").read_text(encoding="utf-8"))

MAX_CODE = 65535
#: how far beyond the data's codes a lasso vertex may lie (the player clamps it there)
VERTEX_LIMIT = 2**20
KINDS = {"l": "lasso", "b": "box"}
_SHAPE = re.compile(r"([lb])([0-9]{1,2})\.([0-9]{1,12})((?:\.-?[0-9a-z]{1,4}){6,128})")
_NUMBER = re.compile(r"-?[0-9]{1,7}(?:\.[0-9]{1,7})?(?:e-?[0-9]{1,3})?")
MAX_VERTICES = WIRE["selection_shape_max_vertices"]
CAMERA_KEYS = tuple(WIRE["camera"])  # x, y, distance, then the 3-D view's angles
PLANE_KEYS = tuple(k for k, spec in WIRE["camera"].items() if spec["required"])
CAMERA_LIMIT = 1e6


def polygon_contains(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which integer `points` (N, 2) lie inside integer `polygon` (V, 2) by the even-odd rule, exactly.

    For each edge from vertex i to the previous vertex j, a point (px, py) with ``(yi > py) != (yj > py)`` toggles
    when ``(px - xi)(yj - yi) < (xj - xi)(py - yi)`` (edges going up) or ``>`` (edges going down): the point lies
    left of the edge's crossing. All products fit int64 exactly, as they fit float64 in the browser.
    """
    px, py = (np.asarray(points, dtype=np.int64)[:, a] for a in (0, 1))  # (N,)
    poly = np.asarray(polygon, dtype=np.int64)
    inside = np.zeros(len(px), bool)
    for i in range(len(poly)):
        (xi, yi), (xj, yj) = poly[i], poly[i - 1]
        crosses = (yi > py) != (yj > py)
        lhs, rhs = (px - xi) * (yj - yi), (xj - xi) * (py - yi)
        inside ^= crosses & ((lhs < rhs) if yj > yi else (lhs > rhs))
    return inside


def _b36(v: int) -> str:
    if v < 0:
        return "-" + _b36(-v)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        v, r = divmod(v, 36)
        out = digits[r] + out
        if v == 0:
            return out


def shape_to_text(shape: dict[str, Any]) -> str | None:
    """The URL text of a reported selection shape (``{pane, kind, step, points}``), or None if it is not one."""
    parsed = _valid_shape(shape)
    if parsed is None:
        return None
    kind = next(k for k, v in KINDS.items() if v == parsed["kind"])
    coords = ".".join(_b36(int(c)) for point in parsed["points"] for c in point)
    return f"{kind}{parsed['pane']}.{parsed['step']}.{coords}"


def shape_from_text(text: str | None) -> dict[str, Any] | None:
    """The shape a URL text describes, or None when it is malformed."""
    if not text or len(text) > 1200:
        return None
    match = _SHAPE.fullmatch(text)
    if match is None:
        return None
    values = [int(v, 36) for v in match[4][1:].split(".")]
    if len(values) % 2:
        return None
    return _valid_shape({"kind": KINDS[match[1]], "pane": int(match[2]), "step": int(match[3]),
                         "points": [values[i:i + 2] for i in range(0, len(values), 2)]})


def _valid_shape(shape: Any) -> dict[str, Any] | None:
    if not isinstance(shape, dict):
        return None
    kind, pane, step, points = (shape.get(k) for k in ("kind", "pane", "step", "points"))
    if kind not in KINDS.values() or not _whole(pane, 0, 9) or not _whole(step, 0, 10**12 - 1):
        return None
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_VERTICES:
        return None
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(_whole(c, -VERTEX_LIMIT, VERTEX_LIMIT) for c in p)
               for p in points):
        return None
    return {"kind": kind, "pane": int(pane), "step": int(step), "points": [[int(x), int(y)] for x, y in points]}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and low <= value <= high


def _number(v: float) -> str:
    text = f"{v:.4g}".replace("e+", "e")
    return "0" if text in ("-0", "0") else text


def camera_to_text(camera: dict[str, Any] | None) -> str | None:
    """The URL text of a reported camera (``{x, y, distance[, yaw, pitch]}``), or None if it is not one."""
    parsed = _valid_camera(camera)
    if parsed is None:
        return None
    return "_".join(_number(parsed[k]) for k in CAMERA_KEYS if k in parsed)


def camera_from_text(text: str | None) -> dict[str, float] | None:
    """The camera a URL text describes, or None when it is malformed."""
    if not text or len(text) > 80:
        return None
    parts = text.split("_")
    if len(parts) not in (len(PLANE_KEYS), len(CAMERA_KEYS)) or not all(_NUMBER.fullmatch(p) for p in parts):
        return None
    return _valid_camera(dict(zip(CAMERA_KEYS, (float(p) for p in parts))))


def _valid_camera(camera: Any) -> dict[str, float] | None:
    if not isinstance(camera, dict):
        return None
    turned = [k for k in CAMERA_KEYS if k not in PLANE_KEYS and camera.get(k) is not None]
    keys = CAMERA_KEYS if turned else PLANE_KEYS
    values = {}
    for key in keys:
        v = camera.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > CAMERA_LIMIT:
            return None
        values[key] = float(v)
    return values if values["distance"] > 0 else None


def selection_from_shape(payloads: list[bytes], text: str | None) -> list[int] | None:
    """The sample ids a shared shape selects: the samples of pane `pane` whose coordinate codes at step `step` lie
    inside the polygon (what the player selected when it reported the shape); None when the text is malformed or
    names a pane or step these payloads do not have, or a pane that is not 2-D."""
    from dashboard.player.payload import decode_payload

    shape = shape_from_text(text)
    if shape is None or shape["pane"] >= len(payloads):
        return None
    header, arrays = decode_payload(payloads[shape["pane"]])
    steps = list(header["steps"])
    codes = arrays.get("points")
    if shape["step"] not in steps or codes is None or codes.ndim != 3 or codes.shape[2] != 2:
        return None
    inside = polygon_contains(codes[steps.index(shape["step"])], np.array(shape["points"]))
    return np.flatnonzero(inside).tolist()
