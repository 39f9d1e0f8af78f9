"""Names that come from a file (class and mode names) never become markup: every page draws an imported run whose
names are HTML and Markdown, and no chart or text element carries that markup live (Plotly renders a subset of
HTML in labels: a ``<span style="background-image:url(...)">`` made the browser fetch a URL the file chose)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import plain
from proxylab.cli import main

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
HOSTILE = ['<span style="background-image:url(http://evil.test/a.png)">cat</span>', '<a href="http://evil.test">dog</a>',
           '<img src=x onerror=alert(1)>', "![](http://evil.test/b.png) [link](http://evil.test)"]
LIVE = ("<span", "<a ", "<img", "](http")


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("markup")
    rng = np.random.default_rng(0)
    labels = np.arange(80) % 4
    modes = labels * 2 + (np.arange(80) // 4) % 2
    centres = rng.normal(size=(8, 6))
    for step in (0, 10):
        np.savez(root / f"step_{step}.npz", embeddings=(centres[modes] + 0.3 * rng.normal(size=(80, 6))).astype(np.float32),
                 labels=labels, modes=modes, split=(np.arange(80) % 2).astype(np.int8), step=np.int64(step),
                 class_names=np.array(HOSTILE), mode_names=np.array([f"{h} m{i}" for i, h in enumerate(HOSTILE * 2)]),
                 proxies=centres.reshape(4, 2, 6).astype(np.float32))
    store = root / "store"
    assert main(["import", str(root / "step_0.npz"), str(root / "step_10.npz"), "--store", str(store),
                 "--name", "hostile"]) == 0
    return store


def _strings(node, skip=("hovertemplate", "texttemplate")):
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in skip:
                yield from _strings(value, skip)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, skip)
    elif isinstance(node, str):
        yield node


def test_the_figure_guard_escapes_data_text_and_keeps_the_code_s_own_markup():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=HOSTILE[:2], y=[1, 2], name=HOSTILE[0], text=HOSTILE[1:3],
                               customdata=np.array([[HOSTILE[2]], [HOSTILE[3]]], dtype=object),
                               hovertemplate="class %{customdata[0]}<br>%{y}"))
    fig.update_layout(title=HOSTILE[0], xaxis={"tickvals": [0], "ticktext": [HOSTILE[1]]})
    fig.add_annotation(text=HOSTILE[2])
    spec = plain.figure(fig).to_dict()
    assert not [s for s in _strings(spec) if any(m in s for m in LIVE[:3])]
    assert spec["data"][0]["hovertemplate"] == "class %{customdata[0]}<br>%{y}"
    assert spec["data"][0]["name"] == HOSTILE[0].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("page", ["embedding", "proxies", "orthogonality", "metrics", "compare", "gradients", "runs"])
def test_no_page_carries_a_file_s_markup_live(hostile_store, monkeypatch, page):
    monkeypatch.setenv("PROXYLAB_STORE", str(hostile_store))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.query_params.update({"run": "hostile", "runs": "hostile", "chart": "plotly"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    live = [s for spec in specs for s in _strings(spec) if any(m in s for m in LIVE[:3])]
    assert not live, live[:3]
    texts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success") for e in getattr(at, kind)]
    assert not [t for t in texts if any(m in t for m in LIVE)], [t for t in texts if any(m in t for m in LIVE)][:3]
