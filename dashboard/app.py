"""proxylab dashboard: `streamlit run dashboard/app.py -- --store DIR` (or `proxylab dashboard`).

Start-up imports only Streamlit, plotly, pandas, numpy and proxylab.store: never torch or umap (UMAP is
imported inside the Embedding page, and only when the user asks for it).
"""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from dashboard import presenter  # noqa: E402
from dashboard.data import store_path  # noqa: E402

# not "pages/": Streamlit still treats a pages/ folder as old-style pages on deep links like /embedding
VIEWS = Path(__file__).resolve().parent / "views"
# a local file: nothing the page shows is fetched from off the machine
FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")

presenting = presenter.requested()
st.set_page_config(page_title="proxylab", page_icon=FAVICON, layout="wide",
                   initial_sidebar_state="collapsed" if presenting else "auto")
page = st.navigation([
    st.Page(VIEWS / "lessons.py", title="Lessons", icon=":material/school:", default=True),
    st.Page(VIEWS / "runs.py", title="Runs", icon=":material/list:"),
    st.Page(VIEWS / "embedding.py", title="Embedding space", icon=":material/scatter_plot:"),
    st.Page(VIEWS / "proxies.py", title="Proxies", icon=":material/my_location:"),
    st.Page(VIEWS / "orthogonality.py", title="Orthogonality", icon=":material/grid_on:"),
    st.Page(VIEWS / "gradients.py", title="Gradients", icon=":material/trending_down:"),
    st.Page(VIEWS / "metrics.py", title="Metrics", icon=":material/leaderboard:"),
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page(VIEWS / "reproduce.py", title="Reproduce", icon=":material/science:"),
], position="hidden" if presenting else "sidebar")
st.sidebar.caption(f"Run store: `{store_path()}`")
page.run()
