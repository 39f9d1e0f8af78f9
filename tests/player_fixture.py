"""The payload fixture the JavaScript tests read (dashboard/player/frontend/test/fixture/): one payload written by
dashboard.player.payload and what Python decodes from it. tests/test_player_payload.py fails when the committed
fixture is no longer what Python writes, and `npm test` fails when the JavaScript reads it differently: a change of
the wire format on either side fails a test. Regenerate with ``python tests/player_fixture.py``."""
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


def main() -> None:
    blob, expected = build()
    FIXTURE.mkdir(parents=True, exist_ok=True)
    (FIXTURE / "payload.bin").write_bytes(blob)
    (FIXTURE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
