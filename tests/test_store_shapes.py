"""Every run a user brings renders on every page: stores mixing runs with and without proxies (at every step, some,
once), modes, split, gradients, eval history, scalars, class names and config keys — trained, imported, logged;
finished, failed, running, interrupted — open every page (AppTest) with no exception and no error box, ever.

Hypothesis draws the shapes (every optional field independently); a deterministic sweep also removes each optional
part on its own from a complete run, and the issue's two reported stores are pinned."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from store_shapes import CONFIGS, NAMES, PROXIES, SOURCES, STATUSES, RunShape, write_run

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
#: page → the query parameters that pick runs on it (one run, or a list)
PAGES = {"lessons": {}, "runs": {}, "embedding": {"run": 1}, "proxies": {"run": 1, "other": 1},
         "orthogonality": {"run": 1, "runs": 2}, "gradients": {"run": 1, "runs": 2}, "metrics": {"runs": 2},
         "compare": {"runs": 2}, "reproduce": {}}

shapes = st.builds(
    RunShape, source=st.sampled_from(SOURCES), status=st.sampled_from(STATUSES), snapshots=st.sampled_from([0, 1, 3]),
    proxies=st.sampled_from(PROXIES), classes=st.integers(2, 4), per_class=st.integers(1, 3),
    dim=st.sampled_from([2, 3, 5]), modes=st.booleans(), split=st.booleans(), gradients=st.booleans(),
    evals=st.booleans(), scalars=st.booleans(), config=st.sampled_from(CONFIGS), class_names=st.sampled_from(NAMES))


def render_every_page(store: Path, names: list[str], extra: dict[str, str] | None = None) -> None:
    """Open each page on `store`, choosing `names[0]` (and all of `names` where a page takes several runs)."""
    os.environ["PROXYLAB_STORE"] = str(store)
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        for page, params in PAGES.items():
            query = {key: names[0] if count == 1 else ",".join(names) for key, count in params.items()}
            for variant in ([{}, {"chart": "plotly", "projection": "pca"}] if page == "embedding" else [{}]):
                at.switch_page(f"views/{page}.py")
                at.query_params.clear()
                at.query_params.update({**query, **variant, **(extra or {})})
                at.run()
                where = f"page {page} {variant} on runs {names}"
                assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
                assert not at.error, f"{where}: {[e.value for e in at.error]}"
    finally:
        os.environ.pop("PROXYLAB_STORE", None)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shapes, min_size=1, max_size=3))
def test_every_page_renders_any_mix_of_run_shapes(runs):
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        names = [f"run-{i}" for i in range(len(runs))]
        for i, (name, shape) in enumerate(zip(names, runs)):
            write_run(store, name, shape, seed=i)
        render_every_page(store, names)


COMPLETE = RunShape()
OPTIONAL = {"proxies": "none", "modes": False, "split": False, "gradients": False, "evals": False, "scalars": False,
            "config": "none", "class_names": "none", "snapshots": 0}


def test_each_optional_part_missing_on_its_own(tmp_path):
    names = []
    for field, missing in OPTIONAL.items():
        names.append(f"no-{field.replace('_', '-')}")
        write_run(tmp_path, names[-1], dataclasses.replace(COMPLETE, **{field: missing}))
    for name in names:  # each such run chosen on every page, beside the others
        render_every_page(tmp_path, [name, *[n for n in names if n != name][:1]])


@pytest.mark.parametrize("shapes_in_store", [
    # the reports: proxies once, for the last of three snapshots, in a store of imported runs only ...
    [RunShape(source="import", proxies="last", gradients=False, scalars=False, config="partial")],
    # ... and a Proxy Anchor run beside an mpa run with one proxy per class (KeyError: 'SO weight')
    [dataclasses.replace(COMPLETE, per_class=1, config="partial"), dataclasses.replace(COMPLETE, per_class=1)],
    # found by the long run: a run naming fewer classes than it has (the Proxies page's usage table)
    [RunShape(class_names="short", gradients=False, modes=False), RunShape(snapshots=0, config="partial")],
])
def test_the_reported_stores_open(tmp_path, shapes_in_store):
    names = [f"run-{i}" for i in range(len(shapes_in_store))]
    for i, shape in enumerate(shapes_in_store):
        write_run(tmp_path, names[i], shape, seed=i)
    render_every_page(tmp_path, names)
    render_every_page(tmp_path, names[::-1])


@pytest.mark.slow
@pytest.mark.timeout(1500)  # ~4 s an example: the default 600 s per test is for one store
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shapes, min_size=1, max_size=3))
def test_every_page_renders_any_mix_of_run_shapes_at_length(runs):
    test_every_page_renders_any_mix_of_run_shapes.hypothesis.inner_test(runs)
