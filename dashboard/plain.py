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
