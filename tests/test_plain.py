"""dashboard.plain: untrusted text shown in Streamlit markdown stays literal, one line and short."""
from __future__ import annotations

import re
import string

from hypothesis import given, strategies as st

from dashboard.plain import QUOTE_LIMIT, error_text, md, one_line


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@given(st.text(max_size=500))
def test_every_punctuation_mark_is_escaped_and_the_text_comes_back(text):
    shown = md(text)
    assert _unescape(shown) == one_line(text)
    unescaped_marks = re.sub(r"\\.", "", shown)  # what is left once every escape pair is removed
    assert not set(unescaped_marks) & set(string.punctuation)
    assert "\n" not in shown and "\r" not in shown


def test_markdown_that_would_load_or_link_is_shown_literally():
    shown = md("![x](http://evil.test/a.png) [y](http://evil.test) <img src=x onerror=alert(1)> **b**")
    assert "](" not in shown and "**" not in shown and re.search(r"(?<!\\)<", shown) is None
    assert _unescape(shown) == "![x](http://evil.test/a.png) [y](http://evil.test) <img src=x onerror=alert(1)> **b**"


def test_a_huge_one_line_error_is_capped():
    assert len(one_line("x" * 5_000_000)) == QUOTE_LIMIT
    assert one_line("a\nb\x00c") == "a b c"
    assert error_text(ValueError("first\nsecond")) == "first" and error_text(KeyError()) == "KeyError"
