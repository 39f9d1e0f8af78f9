"""Unit tests of the dashboard's pure parts: figures, snapshot analysis, selection → neighbours."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import analysis, figures, neighbours, sampling


def _samples(n=40, dims=2, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(n), "label": np.arange(n) % classes, "mode": np.arange(n) % (2 * classes),
                          "split": np.where(np.arange(n) < n // 2, "train", "test"),
                          "grad_norm": rng.random(n), "index": np.arange(n), "nearest_proxy": "c0"})
    for axis in "xyz"[:dims]:
        frame[axis] = rng.normal(size=n)
    return frame


def _proxies(classes=4, k=3, dims=2, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"class": np.repeat(np.arange(classes), k), "k": np.tile(np.arange(k), classes)})
    for axis in "xyz"[:dims]:
        frame[axis] = rng.normal(size=classes * k)
    return frame


def _sample_traces(fig):
    return [t for t in fig.data if t.customdata is not None and len(t.customdata) and t.customdata[0][0] >= 0]


# ---------------------------------------------------------------- embedding


def test_embedding_one_trace_per_class_plus_proxy_traces_per_class():
    fig = figures.embedding_figure(_samples(), _proxies(), colour_by="label", class_names=list("abcd"))
    samples = _sample_traces(fig)
    proxies = [t for t in fig.data if t.name.startswith("proxies")]
    assert [t.name for t in samples] == list("abcd")
    assert len(proxies) == 4 and all(len(t.x) == 3 for t in proxies)
    # proxies carry -1 as sample id so a lasso over them selects no sample
    assert all(row[0] == -1 for t in proxies for row in t.customdata)
    # sub-proxies of a class get distinct symbols, and the class's colour
    assert len(set(proxies[0].marker.symbol)) == 3
    assert proxies[1].marker.color == samples[1].marker.color
    # every sample appears exactly once with its id in customdata
    ids = sorted(int(r[0]) for t in samples for r in t.customdata)
    assert ids == list(range(40))


def test_embedding_colour_by_switches_traces_and_colours():
    by_class = figures.embedding_figure(_samples(), colour_by="label")
    by_mode = figures.embedding_figure(_samples(), colour_by="mode")
    by_grad = figures.embedding_figure(_samples(), colour_by="grad_norm")
    assert len(_sample_traces(by_class)) == 4 and len(_sample_traces(by_mode)) == 8
    (grad_trace,) = _sample_traces(by_grad)
    np.testing.assert_allclose(grad_trace.marker.color, _samples()["grad_norm"])
    assert grad_trace.marker.showscale


def test_embedding_selection_greys_out_but_keeps_unselected_points():
    plain = figures.embedding_figure(_samples(), colour_by="label")
    chosen = [0, 4, 5]
    fig = figures.embedding_figure(_samples(), colour_by="label", selected_ids=chosen)
    assert sum(len(t.x) for t in _sample_traces(fig)) == sum(len(t.x) for t in _sample_traces(plain)) == 40
    for trace in _sample_traces(fig):
        for row, col in zip(trace.customdata, trace.marker.color):
            assert (col == figures.UNSELECTED) == (int(row[0]) not in chosen)
    grad = figures.embedding_figure(_samples(), colour_by="grad_norm", selected_ids=chosen)
    (trace,) = _sample_traces(grad)
    opaque = np.asarray(trace.marker.opacity) == 1.0
    assert sorted(int(r[0]) for r in np.asarray(trace.customdata)[opaque]) == chosen
    # selected points come first in each trace, so the legend swatch keeps the class colour
    first = _sample_traces(fig)[0]
    assert int(first.customdata[0][0]) in chosen and first.marker.color[0] != figures.UNSELECTED


def test_embedding_uses_webgl_for_big_n_and_svg_for_small():
    small = figures.embedding_figure(_samples(n=100), colour_by="label")
    big = figures.embedding_figure(_samples(n=figures.WEBGL_FROM), colour_by="label")
    assert all(isinstance(t, go.Scatter) for t in _sample_traces(small))
    assert all(isinstance(t, go.Scattergl) for t in _sample_traces(big))


def test_embedding_3d_and_sphere_guides():
    fig = figures.embedding_figure(_samples(dims=3), _proxies(dims=3), sphere=True)
    assert any(isinstance(t, go.Surface) for t in fig.data)
    assert all(isinstance(t, go.Scatter3d) for t in _sample_traces(fig))
    vectors = [t for t in fig.data if t.name == "proxy vectors"]
    assert len(vectors) == 4 and vectors[0].x[0] == 0  # drawn from the origin
    circle = figures.embedding_figure(_samples(), _proxies(), sphere=True)
    unit = [t for t in circle.data if t.name == "unit circle"][0]
    np.testing.assert_allclose(np.hypot(unit.x, unit.y), 1.0)


def test_embedding_fixed_axis_range_and_bad_colour():
    pts = [np.array([[0, 0], [1, 2]]), np.array([[-1, 0], [0, 4]])]
    rng = figures.axis_range(pts, margin=0)
    assert rng["x"][0] == pytest.approx(-1) and rng["y"][1] == pytest.approx(4)
    fig = figures.embedding_figure(_samples(), axis_range=rng)
    assert tuple(fig.layout.xaxis.range) == pytest.approx(rng["x"])
    with pytest.raises(ValueError, match="colour_by"):
        figures.embedding_figure(_samples(), colour_by="nope")


# ---------------------------------------------------------------- time series / orthogonality


def test_lines_figure_one_line_per_key_and_empty_message():
    frame = pd.DataFrame({"step": [0, 1, 2, 0, 1, 2], "key": list("aaabbb"), "value": [3, 2, 1, 1, 1, 1]})
    fig = figures.lines_figure(frame, title="t")
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[0].y) == [3, 2, 1]
    empty = figures.lines_figure(frame.iloc[:0], title="t")
    assert not empty.data and "nothing logged" in empty.layout.annotations[0].text


def test_welch_figure_draws_the_floor_as_horizontal_line():
    frame = pd.DataFrame({"step": [0, 1], "run": ["r", "r"], "value": [0.5, 0.2]})
    floor = analysis.welch_floor(20, 8)
    fig = figures.welch_figure(frame, floor, n=20, d=8)
    (line,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert line.y0 == line.y1 == pytest.approx(floor)
    assert "Welch floor" in fig.layout.annotations[0].text and "n=20" in fig.layout.annotations[0].text


def test_welch_floor_values_and_it_is_a_true_lower_bound():
    assert analysis.welch_floor(4, 8) == 0.0
    assert analysis.welch_floor(20, 8) == pytest.approx((20 / 8 - 1) / 19)
    rng = np.random.default_rng(0)
    for n, d in [(12, 3), (30, 8), (9, 2)]:
        proxies = rng.normal(size=(n, 1, d))
        assert analysis.mean_sq_off_diagonal_cos(proxies) >= analysis.welch_floor(n, d) - 1e-12
    # a tight frame (regular simplex-like set in 2-D: 3 directions 60° apart) meets the floor exactly
    ang = np.pi * np.arange(3) / 3
    tight = np.stack([np.cos(ang), np.sin(ang)], axis=1)[:, None, :]
    assert analysis.mean_sq_off_diagonal_cos(tight) == pytest.approx(analysis.welch_floor(3, 2))


def test_gram_figure_and_histogram():
    proxies = np.random.default_rng(0).normal(size=(3, 2, 5))
    gram = analysis.proxy_gram(proxies)
    np.testing.assert_allclose(np.diag(gram), 1.0)
    fig = figures.gram_figure(gram, analysis.proxy_labels(3, 2), 2)
    assert fig.data[0].zmin == -1 and fig.data[0].zmax == 1
    assert len(fig.layout.shapes) == 3  # one outline per class block
    pairs = analysis.off_diagonal_cosines(proxies)
    assert len(pairs) == 15 and (pairs["pair"] == "same class (sub-proxies)").sum() == 3
    hist = figures.cosine_histogram(pairs)
    assert sorted(t.name for t in hist.data) == ["different classes", "same class (sub-proxies)"]
    assert sum(len(t.x) for t in hist.data) == 15


def test_heatmap_over_steps_orientation():
    matrix = np.arange(6).reshape(3, 2)  # 3 steps, 2 proxies
    fig = figures.heatmap_over_steps([0, 10, 20], matrix, ["p0", "p1"])
    assert np.asarray(fig.data[0].z).shape == (2, 3)
    assert list(fig.data[0].x) == [0, 10, 20] and list(fig.data[0].y) == ["p0", "p1"]


# ---------------------------------------------------------------- proxies, gradients, metrics


def test_usage_dead_proxies_and_figure():
    usage = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05]])
    dead = analysis.dead_sub_proxies(usage, threshold=0.1)
    assert dead.tolist() == [[False, False, True], [False, True, True]]
    assert not analysis.dead_sub_proxies(np.array([[1.0]]), 0.5).any()  # K = 1 never dead
    assert not analysis.dead_sub_proxies(np.zeros((1, 3))).any()  # a class without samples is not judged
    fig = figures.usage_figure(usage, ["a", "b"], dead)
    assert fig.data[0].text[0][2] == "✗ dead" and fig.data[0].text[0][0] == "0.50"


def test_sub_proxy_share_and_nearest_proxy():
    proxies = np.array([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]]])
    emb = np.array([[2.0, 0.1], [0.1, 3.0], [0.2, 5.0], [-1.0, 0.0]])
    labels = np.array([0, 0, 0, 1])
    share = analysis.sub_proxy_share(emb, labels, proxies)
    np.testing.assert_allclose(share, [[1 / 3, 2 / 3], [1, 0]])
    cls, k, cos = analysis.nearest_proxy(emb, proxies)
    assert cls.tolist() == [0, 0, 0, 1] and k.tolist() == [0, 1, 1, 0]
    assert cos[3] == pytest.approx(1.0)


def test_mode_coverage_detects_a_mode_claimed_by_another_class():
    # class 0 has modes 0 (near its proxy) and 1 (next to class 1's proxy) — a single proxy misses mode 1
    proxies = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    emb = np.array([[1, 0.05], [1, -0.05], [0.1, 1], [0.05, 1], [-0.1, 1]], dtype=float)
    labels = np.array([0, 0, 0, 0, 1])
    modes = np.array([0, 0, 1, 1, 2])
    cov = analysis.mode_coverage(emb, labels, modes, proxies)
    assert cov.set_index("mode")["covered"].to_dict() == {0: True, 1: False, 2: True}
    fig = figures.mode_coverage_figure(cov)
    assert list(fig.data[0].marker.color) == ["seagreen", "crimson", "seagreen"] and "67%" in fig.layout.title.text
    assert analysis.mode_coverage(emb, labels, np.full(5, -1), proxies).empty


def test_grad_distribution_and_concentration():
    frame = pd.DataFrame({"label": [0, 0, 1, 1], "grad_norm": [1.0, 2.0, np.nan, 3.0]})
    fig = figures.grad_distribution_figure(frame, ["a", "b"])
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[1].y) == [3.0]
    conc = pd.DataFrame({"run": ["x"] * 4 + ["y"] * 4, "step": [0, 1] * 4,
                         "key": (["sample_grad/top10_share"] * 2 + ["sample_grad/gini"] * 2) * 2,
                         "value": [0.5, 0.6, 0.3, 0.4, 0.2, 0.2, 0.1, 0.1]})
    fig = figures.concentration_figure(conc)
    assert len(fig.data) == 4 and [t.showlegend for t in fig.data] == [True, False, True, False]
    assert list(fig.data[1].y) == [0.3, 0.4] and fig.data[1].xaxis == "x2"


def test_metrics_vs_k_panels_and_split_metric():
    assert figures.split_metric("R@4") == ("R", 4) and figures.split_metric("MAP@R") == ("MAP@R", None)
    frame = pd.DataFrame({"run": ["a"] * 5, "metric": ["R@1", "R@2", "R@4", "nDCG@1", "MAP@R"],
                          "value": [0.5, 0.6, 0.7, 0.5, 0.3]})
    fig = figures.metrics_vs_k_figure(frame)
    assert [a.text for a in fig.layout.annotations] == ["Recall@k", "nDCG@k"]
    assert list(fig.data[0].x) == [1, 2, 4] and list(fig.data[1].x) == [1]
    assert fig.layout.xaxis2.range == fig.layout.xaxis.range  # nDCG panel spans the same k as Recall
    assert not figures.metrics_vs_k_figure(frame.iloc[4:]).data


# ---------------------------------------------------------------- selection and neighbours


def test_selected_ids_skips_proxies_and_duplicates():
    points = [{"customdata": [3, 1]}, {"customdata": [-1, 0, 1]}, {"customdata": [3, 1]}, {"customdata": [0]},
              {"x": 1.0}, {"customdata": {"dtype": "i8", "bdata": "AA=="}}, {"customdata": []}]
    assert neighbours.selected_ids(points).tolist() == [0, 3]
    assert neighbours.selected_ids([]).size == 0


def test_neighbour_table_matches_brute_force():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(60, 5))
    labels = rng.integers(0, 3, size=60)
    table = neighbours.neighbour_table(np.array([2, 7]), emb, labels, k=4, class_names=["a", "b", "c"])
    assert len(table) == 8 and table["rank"].tolist() == [1, 2, 3, 4] * 2
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    for q in (2, 7):
        sims = x @ x[q]
        sims[q] = -np.inf
        expect = np.argsort(-sims, kind="stable")[:4]
        got = table[table["sample"] == q]
        assert got["neighbour"].tolist() == expect.tolist()
        np.testing.assert_allclose(got["cosine"], sims[expect])
        assert (got["same_label"] == (labels[expect] == labels[q])).all()
    assert set(table["label"]) <= {"a", "b", "c"}
    assert neighbours.neighbour_table(np.array([], dtype=int), emb, labels).empty


def test_neighbour_table_chunks_large_selections(monkeypatch):
    monkeypatch.setattr(neighbours, "_BLOCK_VALUES", 7 * 30)  # blocks of 7 queries
    emb = np.random.default_rng(0).normal(size=(30, 3))
    labels = np.zeros(30, dtype=int)
    chunked = neighbours.neighbour_table(np.arange(30), emb, labels, k=2)
    monkeypatch.setattr(neighbours, "_BLOCK_VALUES", 2**21)
    whole = neighbours.neighbour_table(np.arange(30), emb, labels, k=2)
    pd.testing.assert_frame_equal(chunked, whole)


def test_top_k_is_a_stable_sort_of_each_row_whatever_the_ties():
    rng = np.random.default_rng(1)
    for _ in range(300):
        sims = rng.integers(0, 4, size=(int(rng.integers(1, 8)), 30)).astype(float)  # ties everywhere
        sims[0, int(rng.integers(0, 30))] = -np.inf
        k = int(rng.integers(1, 30))
        assert np.array_equal(neighbours._top_k(sims, k), np.argsort(-sims, axis=1, kind="stable")[:, :k])


def test_subsample_is_stable_and_bounded():
    assert sampling.subsample_indices(10, 50).tolist() == list(range(10))
    a = sampling.subsample_indices(100_000, 50_000)
    assert len(a) == 50_000 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, sampling.subsample_indices(100_000, 50_000))


def test_store_path_from_script_arguments_then_environment(monkeypatch, tmp_path):
    from dashboard.data import store_path

    monkeypatch.setenv("PROXYLAB_STORE", str(tmp_path / "env"))
    assert store_path(["app.py", "--store", "/x/runs"]) == Path("/x/runs")
    assert store_path(["app.py", "--store=/y"]) == Path("/y")
    assert store_path(["pytest", "-q"]) == tmp_path / "env"
    monkeypatch.delenv("PROXYLAB_STORE")
    assert store_path(["app.py"]) == Path("checkpoints")


def test_colour_by_mode_uses_the_class_colour_and_a_shape_per_mode():
    samples = _samples(n=40, classes=4)  # mode m belongs to class m % 4 here
    fig = figures.embedding_figure(samples, _proxies(), colour_by="mode")
    traces = {t.name: t for t in _sample_traces(fig)}
    assert traces["class 1 · mode 1"].marker.color == traces["class 1 · mode 5"].marker.color == figures.colour(1)
    assert traces["class 1 · mode 1"].marker.symbol != traces["class 1 · mode 5"].marker.symbol
    proxy_legend = [t for t in fig.data if t.name.startswith("proxies") and t.showlegend is not False]
    assert len(proxy_legend) == 1  # one legend entry toggles every proxy


def test_lines_figure_log_scale_and_dashes_per_run():
    frame = pd.DataFrame({"step": [1, 2] * 4, "metric": ["R@1"] * 4 + ["MAP@R"] * 4,
                          "run": (["a"] * 2 + ["b"] * 2) * 2, "value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
    fig = figures.lines_figure(frame, colour_by="metric", dash_by="run", log_y=True)
    assert [t.name for t in fig.data] == ["R@1 · a", "R@1 · b", "MAP@R · a", "MAP@R · b"]
    assert fig.data[0].line.dash != fig.data[1].line.dash and fig.data[0].line.color == fig.data[1].line.color
    assert fig.layout.yaxis.type == "log"


def test_heatmap_over_steps_is_sequential_with_zero_lightest():
    fig = figures.heatmap_over_steps([0, 1], np.array([[0.0, 2.0], [1.0, 3.0]]), ["a", "b"])
    trace = fig.data[0]
    assert trace.zmin == 0
    scale = trace.colorscale
    assert scale[0][1].lower() in ("rgb(247,251,255)", "#f7fbff")  # Blues starts at (near) white


def test_unit_range_keeps_score_axes_at_zero_to_one():
    frame = pd.DataFrame({"step": [0, 1, 2], "value": [0.975, 0.99, 0.98], "key": ["R@1"] * 3})
    assert tuple(figures.lines_figure(frame, unit_range=True).layout.yaxis.range) == (0, 1.02)
    assert figures.lines_figure(frame).layout.yaxis.range is None


def test_config_diff_lists_only_what_differs_with_nested_keys_dotted():
    from dashboard.analysis import config_diff

    diff = config_diff({"a": {"loss": "mpa", "d": 8, "loss_params": {"margin": 0.1}},
                        "b": {"loss": "mpa", "d": 8, "loss_params": {"margin": 0.7}, "seed": 1}})
    assert diff.to_dict("records") == [{"setting": "loss_params.margin", "a": "0.1", "b": "0.7"},
                                       {"setting": "seed", "a": "–", "b": "1"}]
    assert config_diff({"a": {"x": 1}, "b": {"x": 1}}).empty


def test_selection_ids_round_trip_through_the_url_text():
    from dashboard.neighbours import ids_from_text, ids_to_text

    ids = [0, 1, 2, 7, 9, 10, 11]
    assert ids_to_text(ids) == "0-2,7,9-11"
    assert ids_from_text(ids_to_text(ids), 100) == ids
    assert ids_from_text("5-3,x,2-,4-99", 8) == [4, 5, 6, 7]  # malformed parts skipped, clamped to the run
    assert ids_from_text(None, 10) == []


def test_proxy_frame_flattens_projected_proxies_class_major():
    pts = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    frame = figures.proxy_frame(pts)
    assert frame[["class", "k"]].values.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    np.testing.assert_array_equal(frame[["x", "y"]].to_numpy(), pts.reshape(6, 2))
    assert figures.proxy_frame(None) is None
