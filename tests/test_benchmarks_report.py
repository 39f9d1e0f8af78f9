"""BENCHMARKS.md is what the committed benchmark results render to: no number in it was typed by hand."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_benchmarks_md_renders_from_the_committed_results():
    sys.path.insert(0, str(REPO))
    from bench.report import render

    rendered = render(REPO / "bench" / "results")
    committed = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert rendered == committed, "BENCHMARKS.md differs from `python -m bench --report-only`: re-render it"
