"""proxylab.lessons is the one home of a scene: its runs (as presets), its claim (a template filled from the runs'
configs) and, through the tests named here, its measurement and its picture. Like the common test over registered
losses, a scene registered without a measurement test and a picture test fails here."""
from __future__ import annotations

import re

import pytest

import test_lessons_geometry
import test_lessons_page
from proxylab.lessons import PAGE_ROLES, SCENE_KEYS, SCENES, demo_runs, scene
from proxylab.train.presets import PRESETS, preset


@pytest.mark.parametrize("tests", [test_lessons_geometry.MEASURES, test_lessons_page.PICTURES],
                         ids=["measurement", "picture"])
def test_every_scene_has_a_measurement_test_and_a_picture_test(tests):
    assert sorted(tests) == sorted(SCENE_KEYS)
    assert all(callable(test) and test.__name__.startswith("test_") for test in tests.values())
    assert len({test.__name__ for test in tests.values()}) == len(tests)  # one test per scene


@pytest.mark.parametrize("key", SCENE_KEYS)
def test_a_claim_takes_its_values_from_the_runs_configs(key):
    s = scene(key)
    prose = re.sub(r"R@\d|\{[^}]*\}", "", s.claim)
    assert not re.search(r"\d", prose), prose  # no margin, dimension or K typed into the sentence
    filled = s.takeaway({r.tag: preset(r.preset) for r in s.roles})
    assert "?" not in filled and "{" not in filled, filled
    assert s.takeaway({}).count("?") == len(re.findall(r"\{[^}]*\}", s.claim))  # missing values say so


def test_the_demo_and_the_pages_derive_from_the_registry():
    from proxylab.demo import DEMO_RUNS

    runs = demo_runs()
    assert DEMO_RUNS == runs and all(p in PRESETS for p, _, _ in runs.values())
    tags = {tag for _, run_tags, _ in runs.values() for tag in run_tags}
    seed_runs = {run for s in SCENES for r in s.roles for run in r.seed_runs()}
    assert {tag for _, tag, _ in seed_runs} | set(PAGE_ROLES.values()) == tags
    assert set(runs) == {name for name, _, _ in seed_runs} | {runs_of(PAGE_ROLES["embedding"])}
    assert all(runs[name][2] == seed for name, _, seed in seed_runs)
    with pytest.raises(ValueError, match="unknown scene 'nope'; valid: data, coverage"):
        scene("nope")


def runs_of(tag: str) -> str:
    (name,) = [name for name, (_, tags, _) in demo_runs().items() if tag in tags]
    return name
