"""Text that came from a file, a URL or an exception, made safe to put into Streamlit markdown.

Streamlit renders ``st.error`` / ``st.caption`` / ``st.markdown`` bodies as Markdown: an ``![](url)`` in a CSV cell
would load an image the file chose, a ``[link](url)`` would be live. :func:`md` backslash-escapes every ASCII
punctuation character (CommonMark lets any of them be escaped, so the text shows exactly as it was), folds it to
one line and caps its length, so a 5 MB "one-line" error stays one short line.
"""
from __future__ import annotations

import re
import string

#: the longest quote of untrusted text shown on a page (characters)
QUOTE_LIMIT = 300

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(text: object, limit: int = QUOTE_LIMIT) -> str:
    """`text` as one line of at most `limit` characters (longer text ends with '…'), control characters folded."""
    flat = _CONTROL.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def md(text: object, limit: int = QUOTE_LIMIT) -> str:
    """:func:`one_line` of `text`, escaped so that Markdown shows it literally (no link, image, HTML or emphasis)."""
    return _PUNCTUATION.sub(r"\\\1", one_line(text, limit))


def error_text(exc: BaseException) -> str:
    """An exception's first line (its type when it has no message), escaped by :func:`md`."""
    message = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return md(message)


def html(text: object) -> str:
    """`text` with ``&``, ``<`` and ``>`` as entities: Plotly renders labels as a subset of HTML (``<a href>``,
    ``<span style=...>``), and shows the entities as the characters they stand for."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DATA_TEXT = ("name", "text", "hovertext", "labels", "ids")
_CATEGORIES = ("x", "y", "z")


def _escaped(value):
    if isinstance(value, str):
        return html(value)
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "OUS":  # numpy arrays of strings
        return [_escaped(v) for v in value.tolist()]
    return value


def figure(fig):
    """`fig` with every text that can come from data escaped by :func:`html`: trace names, texts, string
    categories and custom data (what ``%{customdata}`` inserts into a hover), legend-group titles, titles,
    annotations and tick labels. Hover templates are the code's own markup and stay as they are. Returns `fig`."""
    for trace in fig.data:
        for key in (*_DATA_TEXT, *_CATEGORIES, "customdata"):
            value = getattr(trace, key, None) if key in trace else None
            if value is not None:
                trace[key] = _escaped(value)
        if "legendgrouptitle" in trace and trace.legendgrouptitle.text:
            trace.legendgrouptitle.text = html(trace.legendgrouptitle.text)
    layout = fig.layout
    if layout.title.text:
        layout.title.text = html(layout.title.text)
    for note in layout.annotations or ():
        if note.text:
            note.text = html(note.text)
    for name in dir(layout):
        if name.startswith(("xaxis", "yaxis", "scene")):
            axis = getattr(layout, name, None)
            if axis is not None and hasattr(axis, "ticktext") and axis.ticktext is not None:
                axis.ticktext = _escaped(list(axis.ticktext))
    return fig
