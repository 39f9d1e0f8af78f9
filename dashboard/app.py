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
from streamlit import config  # noqa: E402

from dashboard import presenter  # noqa: E402
from dashboard.data import store_path, store_signature  # noqa: E402
from proxylab.serve import reachable_from_other_machines  # noqa: E402

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
if reachable_from_other_machines(config.get_option("server.address")):
    st.sidebar.warning("This dashboard answers other machines on your network (it has no authentication). "
                       "`proxylab dashboard`, or `streamlit run` from the repository root, binds it to 127.0.0.1.")


@st.fragment(run_every=3.0)
def refresh_on_store_change() -> None:
    """Every page follows the store: a run started (from the form or a shell), a step committed or a snapshot
    written reruns the page; an idle store never changes, so nothing reruns. Compared with what the last full
    run saw, so a full run (a click) is never itself restarted and its action never lost."""
    if store_signature(store_path()) != st.session_state.get("_store_signature"):
        st.rerun()


st.session_state["_store_signature"] = store_signature(store_path())  # the store as this full run sees it
refresh_on_store_change()
if st.session_state.get("_page") != page.url_path:  # a page opened anew mounts its elements anew
    st.session_state["_page_visit"] = st.session_state.get("_page_visit", 0) + 1
st.session_state["_page"] = page.url_path  # per-page memory (state.choose_step)
page.run()
