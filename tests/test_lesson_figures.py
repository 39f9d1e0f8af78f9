"""The Lessons page's figures: pure functions of arrays, sized for a lecture room in presenter mode."""
from __future__ import annotations

import numpy as np

from dashboard import figures, lesson_figures
from dashboard.lesson_figures import Style


def test_sized_sets_every_text_of_a_figure_to_the_style_s_font():
    style = Style.presenter()
    grams = {"SO off": np.eye(4), "SO on": np.eye(4)}
    fig = lesson_figures.gram_pair_figure(grams, style=style)
    assert fig.layout.font.size == style.font and fig.layout.legend.font.size == style.font
    for axis in (fig.layout.xaxis, fig.layout.yaxis, fig.layout.xaxis2, fig.layout.yaxis2):
        assert axis.tickfont.size == style.font and axis.title.font.size == style.font
    assert all(a.font.size == style.font for a in fig.layout.annotations)  # the subplot titles
    assert fig.data[0].colorbar.tickfont.size == style.font
    assert fig.layout.yaxis.showticklabels and not fig.layout.yaxis2.showticklabels  # one set of proxy labels
    usage = lesson_figures.sized(figures.usage_figure(np.array([[0.5, 0.5, 0.0]]), ["c0"], np.array([[0, 0, 1]], bool)),
                                 style)
    assert usage.data[0].textfont.size == style.font


def test_margin_figure_draws_one_strip_and_one_margin_tick_per_run():
    fig = lesson_figures.margin_figure({"a": np.array([0.2, 0.3]), "b": np.array([0.9])}, {"a": 0.1, "b": 0.7})
    assert [t.name for t in fig.data] == ["a (δ = 0.1)", "b (δ = 0.7)"]
    assert [s.x0 for s in fig.layout.shapes] == [0.1, 0.7]
    assert fig.layout.font.size == Style().font
