"""Reproduce: the report of ``proxylab reproduce`` — per claim, what was measured and whether it held here."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard import plain
from proxylab.reproduce.markdown import parse_report

REPO = Path(__file__).resolve().parent.parent.parent


def report_path() -> Path:
    """``$PROXYLAB_REPORT`` (a reproduce.md or its folder) if set, else the repository's reports/reproduce.md."""
    env = os.environ.get("PROXYLAB_REPORT")
    if env:
        p = Path(env)
        return p / "reproduce.md" if p.is_dir() else p
    return REPO / "reports" / "reproduce.md"


st.title("Reproducing the papers' claims")
path = report_path()
if not path.is_file():
    st.info(f"No report yet at `{path}`. Run `proxylab reproduce --quick` (≤ 10 min) or `proxylab reproduce` "
            "(the full run) — it trains the `repro-*` runs into the run store and writes the report with its figures.")
    st.stop()
try:
    report = parse_report(path.read_text(encoding="utf-8"), path.parent)
except (OSError, UnicodeDecodeError) as e:
    st.warning(f"Cannot read the report `{path}`: {plain.error_text(e)}")
    st.stop()
if not report.sections:
    st.warning(f"`{path}` has no sections (`## ` headings); regenerate it with `proxylab reproduce`.")
    st.stop()

st.markdown(report.intro)
titles = [s.title for s in report.sections]
tabs = st.tabs([t.split(" — ")[0] if " — " in t else t[:24] for t in titles])
for tab, sec in zip(tabs, report.sections):
    with tab:
        st.subheader(sec.title)
        left, right = st.columns([2, 3]) if sec.figures else (st.container(), None)
        with left:
            if sec.claim:
                st.markdown(f"**Claim.** {sec.claim}")
            if sec.verdicts:
                st.markdown("**Measured here.**\n\n" + "\n".join(f"- {v}" for v in sec.verdicts))
        if right is not None:
            with right:
                for fig in sec.figures:
                    if fig.is_file():
                        st.image(str(fig), width="stretch")
                    else:
                        st.warning(f"Figure `{fig.name}` is missing next to the report; rerun `proxylab reproduce`.")
        if sec.body:
            with st.expander("Setup and tables", expanded=not sec.figures):
                st.markdown(sec.body)
