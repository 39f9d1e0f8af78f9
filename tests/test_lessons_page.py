"""The Lessons page on the demo's own runs (AppTest): every scene draws its figure and its measured number,
the controls move through the scenes, the embedding scenes animate over training steps, presenter mode."""
from __future__ import annotations

import re

import numpy as np
import pytest

from dashboard import data, scenes
from test_dashboard_apptest import charts, open_app, values

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_lessons_is_the_first_page_and_opens_on_the_first_scene(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch)
    assert at.query_params["scene"] == ["data"] or at.query_params["scene"] == "data"
    assert scenes.SCENES[0].takeaway in markdown(at)


@pytest.mark.parametrize("key", scenes.SCENE_KEYS)
def test_every_scene_shows_its_figure_its_claim_and_a_measured_number(demo_store, monkeypatch, key):
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": key})
    scene = scenes.scene(key)
    text = markdown(at)
    assert scene.takeaway in text
    numbers = re.findall(r"<b>[^<]*\d[^<]*</b>", text)
    assert numbers, text  # the number that proves the claim, measured on the scene's runs
    assert charts(at), f"scene {key} drew no figure"
    for role in scene.roles:  # on the tagged runs
        assert scenes.runs_by_role(data.runs_table(demo_store))[role] in text


def test_coverage_scene_numbers_are_the_runs_own(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "coverage"})
    numbers = re.findall(r"<b>(-?[\d.]+)%?</b>", markdown(at))
    covered_single, covered_multi, cos_single, cos_multi = map(float, numbers[:4])
    assert covered_single <= 50 and covered_multi == 100
    assert abs(cos_single) < 0.3 and cos_multi >= 0.7


def test_the_coverage_player_animates_both_panels_over_the_snapshot_steps(demo_store, monkeypatch):
    from proxylab.store import open_run

    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "coverage"})
    fig = charts(at)[0]
    steps = open_run(demo_store, "demo-sphere-multi").snapshot_steps()
    assert [f["name"] for f in fig["frames"]] == [str(s) for s in steps]
    assert [s["label"] for s in fig["layout"]["sliders"][0]["steps"]] == [str(s) for s in steps]
    buttons = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert any("play" in b for b in buttons) and any("pause" in b for b in buttons)
    first, last = fig["frames"][0], fig["frames"][-1]
    assert first["traces"] == last["traces"] and len(first["traces"]) == len(first["data"])
    # the frames move the points: the samples of the first class in the right-hand panel differ between steps
    panel_traces = len(first["data"]) // 2
    a = values(first["data"][panel_traces]["x"]).astype(float)
    b = values(last["data"][panel_traces]["x"]).astype(float)
    assert a.shape == b.shape and not np.allclose(a, b)
    # covered/uncovered is marked by shape and ✓/✗, not colour alone
    marks = [t for t in last["data"] if str(t.get("name", "")).startswith("mode centre")]
    assert len(marks) == 2 and set(marks[1]["text"]) == {"✓"} and "✗" in marks[0]["text"]


def test_next_and_previous_move_through_the_scenes(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "data"})
    at.button[1].click().run()  # next
    assert scenes.SCENES[1].takeaway in markdown(at)
    at.button[1].click().run()
    assert scenes.SCENES[2].takeaway in markdown(at)
    at.button[0].click().run()  # previous
    assert scenes.SCENES[1].takeaway in markdown(at)


def test_presenter_mode_hides_chrome_and_enlarges_type_and_controls_can_be_hidden(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "coverage", "present": "1"})
    css = markdown(at)
    assert "display: none" in css and "font-size: 20px" in css
    fig = charts(at)[0]
    assert fig["layout"]["font"]["size"] >= 18
    sample_sizes = [t["marker"]["size"] for t in fig["data"] if t.get("type") == "scatter3d" and "marker" in t]
    assert min(sample_sizes) >= 9
    at = open_app(demo_store, monkeypatch, page="lessons", query={"scene": "coverage", "present": "1", "controls": "0"})
    assert not at.button and not at.selectbox


def test_a_store_without_teaching_runs_says_how_to_get_them(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="lessons", query={"scene": "margin"})
    assert any("proxylab demo" in i.value for i in at.info)


@pytest.mark.parametrize("page, expected", [("embedding", "demo-multi-proxy"), ("gradients", "demo-data-wise"),
                                            ("orthogonality", "demo-multi-proxy-so")])
def test_pages_open_on_their_tagged_teaching_run(demo_store, monkeypatch, page, expected):
    at = open_app(demo_store, monkeypatch, page=page)
    assert at.query_params["run"] in ([expected], expected)


def test_gradients_and_orthogonality_pair_the_tagged_twins(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page="gradients")
    assert at.multiselect[0].value == ["demo-multi-proxy", "demo-data-wise"]
    at = open_app(demo_store, monkeypatch, page="orthogonality")
    assert at.multiselect[0].value == ["demo-multi-proxy-so", "demo-multi-proxy"]
