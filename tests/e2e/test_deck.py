"""`proxylab deck`: one 1280×720 PNG per Lessons scene from the demo's store, through the CLI as a user runs it."""
from __future__ import annotations

import struct

import pytest

from dashboard.scenes import SCENE_KEYS
from proxylab.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~25 s; CI runs it (the slow job)


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_the_deck_is_one_slide_per_scene(demo_store, tmp_path, capsys):
    out = tmp_path / "deck"
    assert main(["deck", "--store", str(demo_store), "--out", str(out), "--browser", "/usr/bin/chromium"]) == 0
    slides = sorted(out.glob("*.png"))
    assert [s.name for s in slides] == [f"{i:02d}-{key}.png" for i, key in enumerate(SCENE_KEYS, start=1)]
    assert all(png_size(s) == (1280, 720) for s in slides)
    assert len({s.read_bytes() for s in slides}) == len(slides)  # every slide its own picture
    assert f"wrote {len(slides)} slides" in capsys.readouterr().out
