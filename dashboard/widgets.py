"""Pieces every page shares: the store, run pickers, clear messages instead of tracebacks, CSV export."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import streamlit as st

from dashboard import data, plain, state
from proxylab.lessons import PAGE_ROLES
from proxylab.store import RunError

RECONSTRUCTION = ("**Reconstruction note:** the Multi-Proxy-Anchor family (`mpa`, `mpa_dw`, `mpa_pw`) and the exact "
                  "soft-orthogonality (SO) form are proxylab's *reconstructions*: the papers' own equations could "
                  "not be confirmed, so read these curves as \"what this reconstruction does\", not as the papers' "
                  "results.")


def store() -> Path:
    return data.store_path()


def runs_or_stop() -> pd.DataFrame:
    """The store's runs; on an empty store (or one of only unreadable runs) say so and stop the page."""
    table = data.runs_table(store())
    if table.empty:
        st.info(f"No runs in `{store()}` yet. Start one on the **Runs** page, run `proxylab demo` for the teaching "
                "runs, or point the dashboard at another store with `proxylab dashboard --store DIR`.")
        st.stop()
    if not table["openable"].any():
        st.warning("Every run in this store is corrupt or unreadable; the Runs page lists why.")
        st.stop()
    return table


def open_store() -> tuple[pd.DataFrame, str]:
    """Every run page's opening: the store's runs table (or a note and a stop on an empty or unreadable store) and
    the store's path. A check every page needs goes here once."""
    return runs_or_stop(), str(store())


def _label(table: pd.DataFrame, name: str) -> str:
    row = table.set_index("name").loc[name]
    k = "" if pd.isna(row["K"]) else f", K={int(row['K'])}"
    so = "" if pd.isna(row["SO weight"]) or not row["SO weight"] else f", SO={row['SO weight']:g}"
    if row["source"] == "import":  # no loss or training status: say where it came from
        return f"{name} (imported{k})"
    loss = row["loss"] if isinstance(row["loss"], str) and row["loss"] else "?"
    return f"{name} ({loss}{k}{so}, {row['status']})"


def is_final(table: pd.DataFrame, *runs: str) -> bool:
    """None of `runs` will get more steps or snapshots (finished, failed or imported; not running or
    interrupted, which a resume continues)."""
    status = table.set_index("name")["status"]
    return all(status.get(r) in ("finished", "failed") for r in runs)


def openable(table: pd.DataFrame) -> list[str]:
    return table.loc[table["openable"], "name"].tolist()


def pick_run(table: pd.DataFrame, name: str = "run", label: str = "Run", default: str | None = None,
             container=st) -> str:
    names = openable(table)
    return state.choose(name, label, names, default or names[0], format_func=lambda n: _label(table, n),
                        container=container)


def pick_runs(table: pd.DataFrame, name: str, label: str, default: list[str], container=st) -> list[str]:
    return state.choose_many(name, label, openable(table), default, container=container)




def tagged_run(table: pd.DataFrame, role: str) -> str | None:
    """First openable run tagged `role` in its run.json, else None."""
    if "tags" not in table.columns:
        return None
    rows = table[table["openable"] & table["tags"].map(lambda tags: role in (tags or []))]
    return rows["name"].iloc[0] if len(rows) else None


def teaching_default(table: pd.DataFrame, page: str) -> str | None:
    """The run a newcomer should see first on `page`: the run tagged with the page's lesson role, else (a store
    without the demo's runs) any run like it, else None. Only a default: a run chosen on the page wins.
    """
    if (tagged := tagged_run(table, PAGE_ROLES[page])) is not None:  # the lessons' registry names the role
        return tagged
    wide = {"d": lambda d: (d or 0) > 3}  # the native-sphere runs (d = 3) are for the sphere view
    multi = dict(K=lambda k: (k or 0) > 1, **wide)
    no_so = {"SO weight": lambda w: not w}
    multi_proxy = [dict(loss="mpa", **multi, **no_so), dict(**multi, **no_so), multi]  # best first
    wanted = {
        "embedding": multi_proxy,
        "gradients": [dict(loss="mpa_dw"), dict(loss="mpa", **wide)],
        "orthogonality": [{"SO weight": lambda w: (w or 0) > 0}],
        "single": [dict(K=1, **wide)],
        "multi": multi_proxy,
        "class-wise": [dict(loss="proxy_anchor"), dict(loss="mpa", **wide)],
    }[page]
    return next((run for config in wanted if (run := find_run(table, **config))), None)


def cell(value):
    """A runs-table cell as plain Python: None for a missing value (None, NaN, pd.NA), else the value."""
    if value is None or isinstance(value, (list, tuple, str, bool)):
        return value
    return None if pd.isna(value) else value


def find_run(table: pd.DataFrame, **config) -> str | None:
    """First openable run whose config matches all of `config`, else None. A value is either what the cell must equal
    (missing equals missing) or a test called on the cell as plain Python (None when missing), e.g.
    ``find_run(table, loss="mpa_dw", K=lambda k: (k or 0) > 1)``. Row by row: a store's table is small, and a
    chain of pandas masks breaks once one selects nothing (an empty mask indexes columns)."""
    for row in table.to_dict("records"):
        if row["openable"] and all(want(cell(row[key])) if callable(want) else cell(row[key]) == cell(want)
                                   for key, want in config.items()):
            return row["name"]
    return None


def snapshot_steps_or_stop(name: str) -> list[int]:
    steps = data.snapshot_steps(str(store()), name)
    if not steps:
        st.info(f"Run **{name}** has no snapshots yet; the first one is written at step 0 of training. "
                "This page refreshes when you rerun it (press R).")
        st.stop()
    return steps


@contextmanager
def run_errors() -> Iterator[None]:
    """Show a corrupt or vanished run as a warning instead of a traceback."""
    try:
        yield
    except RunError as exc:
        st.warning(f"This run cannot be read: {plain.error_text(exc)}")


def chart(fig, container=st, **kwargs):
    """``container.plotly_chart`` of `fig` with every text from data shown as text (:func:`plain.figure`): the
    one way a page draws a Plotly figure, so a class name never becomes markup."""
    return container.plotly_chart(plain.figure(fig), **kwargs)


def csv_download(frame: pd.DataFrame, filename: str, label: str = "Download the data shown (CSV)",
                 container=st) -> None:
    # the CSV is made when the button is clicked (not on every rerun), and the click does not rerun the page
    container.download_button(label, lambda: frame.to_csv(index=False).encode(), file_name=filename,
                              mime="text/csv", key=f"csv_{filename}", on_click="ignore")


def imported_notice(run: str, what: str) -> bool:
    """For a run made by `proxylab import` (no training history), say that `what` needs one; True if so."""
    stamp = data.run_stamp(store(), run)
    meta = data.meta(str(store()), run, stamp)["meta"]
    if meta.get("source") != "import":
        return False
    st.info(f"**{run}** was imported with `proxylab import` (read-only): it has snapshots, proxies and metrics but "
            f"no training history, so {what} cannot be shown for it. Its embeddings, proxies and metrics are on the "
            "Embedding space, Proxies, Orthogonality, Metrics and Compare pages.")
    return True
