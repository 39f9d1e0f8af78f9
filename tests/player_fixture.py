"""The payload fixture the JavaScript tests read (dashboard/player/frontend/test/fixture/): one payload written by
dashboard.player.payload and what Python decodes from it. tests/test_player_payload.py fails when the committed
fixture is no longer what Python writes, and `npm test` fails when the JavaScript reads it differently: a change of
the wire format on either side fails a test. ``full.bin`` holds every optional part (and a view), for the JavaScript's
check of the header against dashboard/player/wire.json. Regenerate with ``python tests/player_fixture.py``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "dashboard" / "player" / "frontend" / "test" / "fixture"


def build() -> tuple[bytes, dict]:
    sys.path.insert(0, str(REPO))
    from dashboard.player.payload import decode_payload, encode_payload, grad_colour

    rng = np.random.default_rng(7)
    steps, n = [0, 10, 20], 12
    grad = 10.0 ** rng.uniform(-30, 3, size=(3, n))  # 33 decades: a linear uint8 scale read most of it as 0
    grad[0, :4] = [0.0, np.nan, 7.22, 2.25e-9]
    grad[1] = np.nan  # a step without gradients (test points only, or not logged)
    grad[2, 5] = 0.0
    blob = encode_payload(steps, rng.normal(size=(3, n, 2)), np.arange(n) % 3, np.full(n, -1), np.arange(n) % 2,
                          np.arange(n), grad, rng.normal(size=(3, 3, 2, 2)), class_names=["a", "b", "c"], title="fixture")
    header, arrays = decode_payload(blob)
    codes = arrays["grad_norm"]
    expected = {"version": header["version"], "steps": header["steps"], "n_points": n,
                "grad_codes": codes.tolist(), "grad_colour": grad_colour(codes).tolist(),
                "grad_value": [[None if np.isnan(v) else float(v) for v in row] for row in arrays["grad_norm_value"]],
                "stored": [[None if np.isnan(v) else float(v) for v in row] for row in grad],
                "labels": arrays["labels"].tolist(), "points": arrays["points"].reshape(3, -1).tolist()}
    return blob, expected


#: a view with every key Python sends (dashboard.player.player; wire.json "view")
FULL_VIEW = {"step": 10, "colour": "grad_norm", "proxies": True, "trajectories": False, "links": True, "selected": [1, 4],
             "selected_rev": 0, "height": 480, "controls": "all", "font_px": None, "point_px": None, "proxy_px": None,
             "camera": {"x": 0.1, "y": -0.25, "distance": 0.5, "yaw": 1.2, "pitch": -0.3, "roll": 0.05}}


def build_full() -> bytes:
    """A payload with every optional part (wire.json's every header key and array): the JavaScript checks its header
    against the schema (test/wire.test.js)."""
    sys.path.insert(0, str(REPO))
    from dashboard.player.payload import encode_payload, with_view

    rng = np.random.default_rng(11)
    steps, n, c, k, m = [0, 10], 6, 2, 2, 3
    blob = encode_payload(steps, rng.normal(size=(2, n, 3)), np.arange(n) % c, np.arange(n) % m, np.arange(n) % 2,
                          np.arange(n), rng.uniform(0.1, 2, size=(2, n)), rng.normal(size=(2, c, k, 3)),
                          class_names=["a", "b"], palettes={"label": ["#000000", "#ffffff"]},
                          mode_colour=np.arange(n) % m, title="full", nearest_proxy=rng.integers(0, c * k, (2, n)),
                          images=rng.integers(0, 256, (n, 2, 2, 1), dtype=np.uint8), sphere=True,
                          mode_links={"centres": rng.normal(size=(2, m, 3)), "proxy": rng.integers(0, c * k, (2, m)),
                                      "covered": rng.integers(0, 2, (2, m)).astype(bool)},
                          proxy_steps=np.array([True, False]), neighbour_same_class=np.ones((2, n), np.uint8))
    return with_view(blob, FULL_VIEW)


def build_polygons() -> list[dict]:
    """Polygons (a lasso's integer codes: in the data's 0..65535 and beyond it, up to ±2^20; convex, crossing
    itself, degenerate) and points with whether Python's even-odd rule (dashboard.view_url.polygon_contains, what
    a shared link's shape selects) has each inside: the JavaScript must select exactly the same (geometry.test.js)."""
    sys.path.insert(0, str(REPO))
    from dashboard.view_url import VERTEX_LIMIT, polygon_contains

    rng = np.random.default_rng(5)
    cases = []
    for i in range(24):
        v = int(rng.integers(3, 12))
        span = 65536 if i % 3 else VERTEX_LIMIT  # every third lasso reaches beyond the data
        ring = rng.integers(-span if span > 65536 else 0, span, size=(v, 2))
        if i == 0:
            ring = np.array([[10, 10], [20, 10], [20, 20], [10, 20]])  # a box: edges and corners exactly hit below
        if i == 1:
            ring = np.array([[0, 0], [65535, 65535], [0, 65535], [65535, 0]])  # a bow tie, crossing itself
        near = ring.clip(0, 65535)
        points = np.concatenate([rng.integers(0, 65536, size=(60, 2)), near, np.stack(
            [rng.integers(0, 65536, len(ring)), near[:, 1]], axis=1), np.stack([near[:, 0], near[:, 1] + 1], axis=1)])
        if i == 0:
            points = np.concatenate([points, [[15, 15], [10, 15], [20, 15], [15, 10], [15, 20], [10, 10], [20, 20]]])
        cases.append({"polygon": ring.tolist(), "points": points.tolist(),
                      "inside": polygon_contains(points, ring).astype(int).tolist()})
    return cases


def main() -> None:
    blob, expected = build()
    FIXTURE.mkdir(parents=True, exist_ok=True)
    (FIXTURE / "payload.bin").write_bytes(blob)
    (FIXTURE / "full.bin").write_bytes(build_full())
    (FIXTURE / "polygons.json").write_text(json.dumps(build_polygons()) + "\n")
    (FIXTURE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
