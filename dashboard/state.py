"""View state kept in the URL query string (so a view is shareable) and in the session (so it survives
switching pages, which starts the new page with a clean query string)."""
from __future__ import annotations

import re
from typing import Callable, Sequence, TypeVar

import streamlit as st

from dashboard import plain

T = TypeVar("T")

#: ASCII digits only (``str.isdigit`` also accepts '²' and the Arabic-Indic one, U+0661, which ``int`` refuses), and
#: few enough of them that ``int`` never meets its 4,300-digit limit: a step or a sample id is far below 10**15
_WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")


def url_whole_number(name: str, raw: str | None) -> int | None:
    """Query parameter `name`'s value as a whole number ≥ 0, or None; a value that is not one is ignored with a
    note on the page (the view falls back to its default)."""
    if raw is None:
        return None
    if _WHOLE_NUMBER.fullmatch(raw):
        return int(raw)
    st.caption(f"Ignored `?{name}=`{plain.md(raw, 40)} in the address: not a whole number.")
    return None


def _remember(name: str, value) -> None:
    st.query_params[name] = str(value)
    st.session_state[f"shared_{name}"] = value


def choose(name: str, label: str, options: Sequence[T], default: T, *, kind: str = "selectbox",
           format_func: Callable[[T], str] = str, help: str | None = None, container=st) -> T:
    """A selectbox or radio (`kind`) whose choice comes from / goes to query parameter `name`.

    An unknown value in the URL falls back to the session's last choice, then to `default`.
    """
    options = list(options)
    by_text = {str(o): o for o in options}
    wanted = st.query_params.get(name)
    if wanted in by_text:
        initial = by_text[wanted]
    elif st.session_state.get(f"shared_{name}") in options:
        initial = st.session_state[f"shared_{name}"]
    else:
        initial = default if default in options else options[0]
    kwargs = dict(format_func=format_func, help=help, key=f"w_{name}", index=options.index(initial))
    if kind == "radio":
        kwargs["horizontal"] = True
    # the URL is rewritten from the widget on every run, so `initial` is the widget's current value
    value = getattr(container, kind)(label, options, **kwargs)
    _remember(name, value)
    return value


def choose_many(name: str, label: str, options: Sequence[str], default: Sequence[str], *,
                max_selections: int | None = None, container=st) -> list[str]:
    """A multiselect kept in query parameter `name` as a comma-separated list.

    Not shared between pages: each page's default pairing (SO on/off, class- vs data-wise…) is the point.
    """
    options = list(options)
    raw = st.query_params.get(name)
    initial = [o for o in raw.split(",") if o in options] if raw else []
    if not initial:
        initial = [o for o in default if o in options]
    value = container.multiselect(label, options, default=initial, max_selections=max_selections)
    st.query_params[name] = ",".join(value)
    return value


def choose_step(name: str, label: str, steps: Sequence[int], *, container=st, final: bool = False) -> int:
    """A slider over the snapshot steps, kept in query parameter `name` (default: the latest step).

    A step in the URL that has no snapshot snaps to the nearest one that has. The session remembers the step per
    page (app.py records the page in `_page`): pages show different runs, so one page's step means nothing on
    another. `final`: the run will get no more snapshots (finished or imported), so one snapshot is "the only
    one", not "the only one so far".
    """
    steps = list(steps)
    initial = initial_step(name, steps)
    if len(steps) == 1:
        container.caption(f"{label}: {steps[0]} (the only snapshot{'' if final else ' so far'})")
        value = steps[0]
    else:
        value = container.select_slider(label, options=steps, value=initial, key=f"w_{name}_{len(steps)}")
    remember_step(name, value)
    return value


def _step_memory(name: str) -> str:
    return f"step_{st.session_state.get('_page', '')}_{name}"


def initial_step(name: str, steps: Sequence[int]) -> int:
    """The step a step control opens on: query parameter `name` snapped to the nearest snapshot step, else this
    page's remembered step, else the latest."""
    steps = list(steps)
    wanted = url_whole_number(name, st.query_params.get(name))
    if wanted is not None:
        return min(steps, key=lambda s: (abs(s - wanted), s))
    remembered = st.session_state.get(_step_memory(name), steps[-1])
    return remembered if remembered in steps else steps[-1]


def remember_step(name: str, step: int) -> None:
    """Keep `step` in query parameter `name` and in this page's session memory."""
    st.query_params[name] = str(step)
    st.session_state[_step_memory(name)] = step
