"""Presenter mode (`?present=1`): large type, no Streamlit chrome, the chart above the fold at 1280×720;
`&controls=0` also hides the scene controls, for a stripped-down link a teacher can share. The keys a presentation
clicker sends (PageDown / PageUp) and the arrow keys move between scenes, with or without the controls shown."""
from __future__ import annotations

import streamlit as st

_CSS = """
<style>
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stSidebar"],
[data-testid="stSidebarCollapsedControl"], [data-testid="stDecoration"], footer { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 0.6rem !important; padding-bottom: 0 !important;
  max-width: 100% !important; }
html, body, [data-testid="stMarkdownContainer"] p, [data-testid="stWidgetLabel"] p, button p { font-size: 20px !important; }
h3, [data-testid="stHeading"] h3 { font-size: 30px !important; padding: 0.1rem 0 !important; }
.lesson-takeaway { font-size: 22px !important; line-height: 1.3; }
.lesson-number { font-size: 20px !important; line-height: 1.3; }
.lesson-takeaway code, .lesson-number code { white-space: nowrap; }
</style>
"""
_BASE_CSS = """
<style>
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 2.2rem !important; }
.lesson-takeaway { font-size: 18px; line-height: 1.35; }
.lesson-number { font-size: 16px; line-height: 1.35; border-left: 4px solid #636efa; padding-left: 0.6rem; }
.lesson-takeaway code, .lesson-number code { white-space: nowrap; }
</style>
"""
#: keys that move to the next / previous scene: a clicker's PageDown / PageUp first, then the arrow keys
NEXT_KEYS = ("PageDown", "Right", "Down")
PREVIOUS_KEYS = ("PageUp", "Left", "Up")
_KEYS_ONLY = "pxl-deck-keys"  # a container of buttons that exist for their shortcut only
_KEYS_CSS = f"<style>.st-key-{_KEYS_ONLY} {{ display: none !important; }}</style>"


def requested() -> bool:
    """The URL asks for presenter mode (`present=1`)."""
    return st.query_params.get("present") == "1"


def active() -> bool:
    """Presenter mode is on; injects the page's CSS (presenter or normal) once per run."""
    on = requested()
    st.markdown(_CSS if on else _BASE_CSS, unsafe_allow_html=True)
    return on


def controls_shown() -> bool:
    return st.query_params.get("controls") != "0"


def scene_navigation(index: int, count: int, titles: list[str], controls: bool) -> int:
    """The scene to show, from `index` (the URL's) after this run's click, key press or pick: ◀ / ▶ buttons and a
    picker when `controls`, and the keys of :data:`NEXT_KEYS` / :data:`PREVIOUS_KEYS` always (Streamlit button
    shortcuts, on buttons in a hidden container: a shortcut on a visible button shows its key in place of the
    label)."""
    first, last = index == 0, index == count - 1
    step = 0
    if controls:
        nav = st.columns([1, 6, 1])
        step -= nav[0].button("◀ previous", disabled=first, use_container_width=True)
        step += nav[2].button("next ▶", disabled=last, use_container_width=True)
    st.markdown(_KEYS_CSS, unsafe_allow_html=True)
    keys_only = st.container(key=_KEYS_ONLY)
    for key in PREVIOUS_KEYS:
        step -= keys_only.button(f"previous ({key})", disabled=first, key=f"deck_prev_{key}", shortcut=key)
    for key in NEXT_KEYS:
        step += keys_only.button(f"next ({key})", disabled=last, key=f"deck_next_{key}", shortcut=key)
    index = min(max(index + step, 0), count - 1)
    if controls:
        index = nav[1].selectbox("Scene", range(count), index=index, label_visibility="collapsed",
                                 format_func=lambda i: titles[i], key=f"scene_pick_{index}")
    return index
