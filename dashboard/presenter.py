"""Presenter mode (`?present=1`): large type, no Streamlit chrome, the chart above the fold at 1280×720;
`&controls=0` also hides the scene controls, for a stripped-down link a teacher can share."""
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
</style>
"""
_BASE_CSS = """
<style>
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 2.2rem !important; }
.lesson-takeaway { font-size: 18px; line-height: 1.35; }
.lesson-number { font-size: 16px; line-height: 1.35; border-left: 4px solid #636efa; padding-left: 0.6rem; }
</style>
"""


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
