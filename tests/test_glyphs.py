"""Every character the dashboard puts on screen renders with the font Streamlit serves (Source Sans), so a lecture
screen shows no missing-glyph box whatever fonts the machine has: the player's source, the lessons' texts and the
figures' labels are scanned for characters the served font lacks (the pause button once showed "▯ Pause")."""
from __future__ import annotations

from pathlib import Path

import streamlit
from fontTools.ttLib import TTFont

REPO = Path(__file__).resolve().parents[1]
SHOWN = [*sorted((REPO / "dashboard/player/frontend/src").glob("*.js")), *sorted((REPO / "dashboard").glob("*.py")),
         *sorted((REPO / "dashboard/views").glob("*.py"))]


def served_font_characters() -> set[int]:
    media = Path(streamlit.__file__).parent / "static" / "static" / "media"
    (font,) = media.glob("SourceSansVF-Upright*.woff2")
    return set(TTFont(font).getBestCmap())


def test_every_character_on_screen_is_in_the_served_font():
    covered = served_font_characters()
    assert ord("▶") in covered and ord("⏸") not in covered  # the check can tell
    missing = {f"{path.relative_to(REPO)}: {''.join(sorted(chars))}"
               for path in SHOWN if (chars := {c for c in path.read_text() if ord(c) > 127 and ord(c) not in covered})}
    assert not missing, sorted(missing)
