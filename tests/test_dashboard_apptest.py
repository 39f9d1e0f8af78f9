"""Every dashboard page under streamlit.testing.v1.AppTest, on fake runs written by proxylab.store.

The checks are on what a user would see change: figure data after moving a slider, marker colours after
switching the colour, the URL after choosing a view; and messages, never exceptions, on bad stores.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from proxylab.store import open_run

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard" / "app.py")
PAGES = ["runs", "embedding", "proxies", "orthogonality", "gradients", "metrics", "compare"]


def open_app(store: Path, monkeypatch, page: str | None = None, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("PROXYLAB_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page:
        at.switch_page(f"views/{page}.py")
    if query:
        at.query_params.update(query)
    if page or query:
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(v) -> np.ndarray:
    """Plotly's JSON keeps numpy arrays as base64 typed arrays; decode them (lists pass through)."""
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if shape:
            arr = arr.reshape([int(s) for s in str(shape).split(",")])
        return arr
    return np.asarray(v, dtype=object)


def sample_traces(fig: dict) -> list[dict]:
    return [t for t in fig["data"] if "customdata" in t and not t.get("name", "").startswith("proxies")
            and t.get("name") not in ("unit circle", "unit sphere", "proxy vectors")]


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


# ---------------------------------------------------------------- start-up, runs page, bad stores


def test_startup_does_not_import_torch_or_umap(dashboard_store):
    # a fresh interpreter: other tests in this session may already have imported torch
    code = ("import sys; from streamlit.testing.v1 import AppTest; at = AppTest.from_file(sys.argv[1], "
            "default_timeout=60).run(); assert not at.exception, at.exception; "
            "print(sorted(m for m in ('torch', 'umap', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, APP], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PROXYLAB_STORE": str(dashboard_store)}, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_runs_page_lists_runs_and_explains_the_corrupt_one(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="runs")
    table = at.dataframe[0].value
    assert set(table["name"]) == {"mpa-k4", "pa-k1", "mpa-dw", "mpa-k4-so", "sphere-d3"}
    row = table.set_index("name").loc["mpa-k4"]
    assert row["loss"] == "mpa" and row["K"] == 4 and row["status"] == "finished" and row["progress"] == 1.0
    assert 0 <= row["last R@1 (test)"] <= 1
    errors = texts(at, "error")
    assert any("broken" in e and "not valid JSON" in e for e in errors)


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_gives_a_message_on_every_page(empty_store, monkeypatch, page):
    at = open_app(empty_store, monkeypatch, page=page)
    assert any("No runs in" in m for m in texts(at, "info")), texts(at, "info")


@pytest.mark.parametrize("page", PAGES[1:])
def test_store_of_only_corrupt_runs_warns_instead_of_failing(corrupt_only_store, monkeypatch, page):
    at = open_app(corrupt_only_store, monkeypatch, page=page)
    assert any("corrupt" in w for w in texts(at, "warning")), texts(at, "warning")


def test_live_run_without_snapshots_says_so_and_runs_page_shows_progress(tmp_path, monkeypatch):
    from proxylab.store import RunWriter

    store = tmp_path / "store"
    with RunWriter.create(store, "live", {"config": {"loss": "mpa", "proxies_per_class": 2},
                                          "progress": {"total_steps": 100}}) as writer:
        for step in range(1, 11):
            writer.log_scalars(step, {"loss": 1.0 / step})
        writer.flush()
        at = open_app(store, monkeypatch, page="runs")
        row = at.dataframe[0].value.set_index("name").loc["live"]
        assert row["status"] == "running" and row["progress"] == pytest.approx(0.1)
        assert any(c["layout"]["title"]["text"] == "training loss" for c in charts(at))  # live loss curve
        at.switch_page("views/embedding.py").run()
        assert not at.exception
        assert any("no snapshots yet" in m for m in texts(at, "info"))


def test_snapshot_corrupted_after_listing_shows_a_warning(tmp_path, monkeypatch):
    from proxylab.store import write_fake_run

    store = tmp_path / "store"
    path = write_fake_run(store, "r", steps=20, n=50, classes=3, modes_per_class=1, k=1, d=4)
    last = sorted((path / "snapshots").iterdir())[-1]
    last.write_bytes(b"PK\x03\x04 truncated")
    at = open_app(store, monkeypatch, page="orthogonality")
    assert any("cannot be read" in w and "unreadable snapshot" in w for w in texts(at, "warning"))


def test_new_run_form_starts_the_cli_in_the_background(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    at = open_app(store, monkeypatch, page="runs")
    at.text_input[0].input("from-form")
    at.selectbox[0].select("proxy_anchor")
    at.number_input[0].set_value(1)
    at.button[0].click().run()
    assert not at.exception
    (message,) = texts(at, "success")
    assert "from-form" in message
    pid = int(message.split("process ")[1].split(")")[0])
    try:
        first_line = (store / ".launch-logs" / "from-form.log").read_text().splitlines()[0]
        assert " -m proxylab train " in first_line and "--name from-form" in first_line
        assert "--loss proxy_anchor" in first_line and "--proxies-per-class 1" in first_line
        assert f"--store {store.resolve()}" in first_line
    finally:
        try:  # our own child: the test only checks that it was started
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    # a second run with the same name is refused with a message once the folder exists
    (store / "from-form").mkdir(exist_ok=True)
    at.text_input[0].input("from-form")
    at.button[0].click().run()
    assert any("already exists" in e for e in texts(at, "error"))


def test_training_command_is_accepted_by_the_cli_parser(tmp_path):
    from dashboard.launch import training_command
    from proxylab.cli import build_parser

    cmd = training_command(tmp_path, "x", loss="mpa_dw", proxies_per_class=3, so_weight=0.05, data="digits-merged",
                           steps=40, seed=7)
    args = build_parser().parse_args(cmd[3:])
    assert (args.command, args.loss, args.proxies_per_class, args.so_weight, args.data, args.steps, args.seed) == \
        ("train", "mpa_dw", 3, 0.05, "digits-merged", 40, 7)
    with pytest.raises(ValueError, match="loss"):
        training_command(tmp_path, "x", loss="nope", proxies_per_class=1, so_weight=0, data="synthetic", steps=1)


# ---------------------------------------------------------------- embedding space


def test_embedding_opens_on_the_player_with_the_whole_run_once(dashboard_store, monkeypatch):
    from dashboard.player import decode_payload

    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4"})
    assert not at.exception and not charts(at)  # no Plotly figure: the player draws
    (element,) = at.get("bidi_component")
    header, arrays = decode_payload(element.proto.bytes)
    assert header["n_points"] == 300 and arrays["points"].shape == (len(header["steps"]), 300, 2)
    assert header["view"]["step"] == max(header["steps"]) and header["n_proxies"] == 16  # 4 classes × K = 4
    assert any("sent once" in c for c in texts(at, "caption"))


def test_embedding_step_slider_moves_the_points(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "chart": "plotly"})
    before = charts(at)[0]
    slider = at.select_slider[0]
    assert slider.value == slider.options[-1] or int(slider.value) == max(int(o) for o in slider.options)
    slider.set_value(int(slider.options[0])).run()
    after = charts(at)[0]
    assert at.query_params["step"] == str(int(slider.options[0]))
    x0 = np.concatenate([values(t["x"]) for t in sample_traces(before)]).astype(float)
    x1 = np.concatenate([values(t["x"]) for t in sample_traces(after)]).astype(float)
    assert len(x0) == len(x1) == 300 and not np.allclose(x0, x1)
    # aligned projection: the axis range is fixed across steps, so motion is visible, not rescaled
    assert before["layout"]["xaxis"]["range"] == after["layout"]["xaxis"]["range"]


def test_embedding_colour_switch_changes_marker_colours(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "chart": "plotly"})
    by_class = sample_traces(charts(at)[0])
    at.selectbox(key="w_colour").select("mode").run()
    by_mode = sample_traces(charts(at)[0])
    assert at.query_params["colour"] == "mode"
    assert len(by_class) == 4 and len(by_mode) == 8  # 4 classes × 2 modes
    at.selectbox(key="w_colour").select("grad_norm").run()
    (by_grad,) = sample_traces(charts(at)[0])
    colours = values(by_grad["marker"]["color"]).astype(float)
    assert np.isfinite(colours).any() and by_grad["marker"]["showscale"]


def test_embedding_proxies_hover_and_3d_toggle(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "chart": "plotly"})
    fig = charts(at)[0]
    proxies = [t for t in fig["data"] if t["name"].startswith("proxies")]
    assert len(proxies) == 4 and all(len(values(t["x"])) == 4 for t in proxies)
    assert "nearest proxy" in sample_traces(fig)[0]["hovertemplate"]
    at.checkbox(key="show_proxies").uncheck().run()
    assert not [t for t in charts(at)[0]["data"] if t["name"].startswith("proxies")]
    at.toggle(key="dims3").set_value(True).run()
    assert {t["type"] for t in sample_traces(charts(at)[0])} == {"scatter3d"}
    assert any("Lasso and box selection work in the 2-D" in c for c in texts(at, "caption"))


def test_embedding_native_sphere_for_d3_and_url_state_restores_the_view(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding",
                  query={"run": "sphere-d3", "projection": "native", "colour": "split", "step": "12",
                         "chart": "plotly"})
    assert at.selectbox(key="w_projection").value == "native"
    assert at.selectbox(key="w_colour").value == "split"
    assert int(at.select_slider[0].value) == 12
    fig = charts(at)[0]
    assert any(t["type"] == "surface" for t in fig["data"])  # the unit sphere
    pts = np.column_stack([np.concatenate([values(t[a]) for t in sample_traces(fig)]).astype(float) for a in "xyz"])
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-5)  # on the sphere
    assert [t["name"] for t in sample_traces(fig)] == ["test", "train"]
    # PCA is offered on the same run, and switching changes the coordinates
    at.selectbox(key="w_projection").select("pca").run()
    assert all(t["type"] == "scatter" for t in sample_traces(charts(at)[0]))


def test_embedding_subsamples_big_snapshots_and_says_so(dashboard_store, monkeypatch):
    from dashboard import sampling

    monkeypatch.setattr(sampling, "MAX_POINTS", 120)  # the 300-point fake run stands in for a >50k one
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "chart": "plotly"})
    assert any("Drawing 120 of 300 points" in m for m in texts(at, "info"))
    ids = [int(row[0]) for t in sample_traces(charts(at)[0]) for row in t["customdata"]]
    assert len(ids) == 120 and len(set(ids)) == 120


def test_embedding_offers_csv_of_what_is_shown(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "pa-k1", "chart": "plotly"})
    buttons = at.get("download_button")
    assert buttons and any("points shown" in b.proto.label for b in buttons)


# ---------------------------------------------------------------- other pages


def test_proxies_page_single_vs_multi_and_dead_threshold(dashboard_store, monkeypatch):
    from dashboard.player import decode_payload, unlink_payloads

    at = open_app(dashboard_store, monkeypatch, page="proxies", query={"run": "mpa-k4", "other": "pa-k1"})
    (element,) = at.get("bidi_component")  # both runs in linked player panes, coloured by mode
    panes = [decode_payload(blob) for blob in unlink_payloads(element.proto.bytes)]
    assert [h["title"].split(" (")[0] for h, _ in panes] == ["mpa-k4", "pa-k1"] and panes[0][0]["view"]["colour"] == "mode"
    assert [h["n_proxies"] for h, _ in panes] == [16, 4]
    steps = open_run(dashboard_store, "mpa-k4").snapshot_steps()
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert [t for t in titles if "modes covered" in t] == [
        t for t in titles if t.startswith((f"mpa-k4, step {steps[-1]} —", f"pa-k1, step {steps[-1]} —"))]
    assert sum("modes covered" in t for t in titles) == 2
    # the bars follow the player's step (here from the URL, as a shared link or the player's report sets it)
    at.query_params["step"] = str(steps[0])
    at.run()
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert sum(t.startswith((f"mpa-k4, step {steps[0]} —", f"pa-k1, step {steps[0]} —")) for t in titles) == 2
    dead = lambda: int([c for c in texts(at, "caption") if "sub-proxies are dead" in c][0].split("**")[1])  # noqa: E731
    default = dead()
    assert default == 8  # 4 classes x 2 modes: of K = 4, two sub-proxies per class serve no sample
    at.slider(key="dead_threshold").set_value(0.0).run()
    assert dead() == 0  # nothing is used by fewer than 0 % of its class
    at.slider(key="dead_threshold").set_value(0.5).run()
    assert dead() >= default
    usage = [c for c in charts(at) if c["data"][0]["type"] == "heatmap"][0]
    assert values(usage["data"][0]["z"]).astype(float).shape == (4, 4)


def test_orthogonality_page_step_changes_gram_and_welch_line(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="orthogonality", query={"run": "mpa-k4"})
    gram0 = values(charts(at)[0]["data"][0]["z"]).astype(float)
    welch = charts(at)[2]
    (line,) = [s for s in welch["layout"]["shapes"] if s["type"] == "line"]
    n, d = 16, 8
    assert line["y0"] == pytest.approx((n / d - 1) / (n - 1))
    assert {t["name"] for t in welch["data"]} == {"mpa-k4", "mpa-k4-so"}  # SO off paired with SO on
    at.select_slider[0].set_value(int(at.select_slider[0].options[0])).run()
    gram1 = values(charts(at)[0]["data"][0]["z"]).astype(float)
    assert gram0.shape == gram1.shape == (16, 16) and not np.allclose(gram0, gram1)
    at.radio(key="w_measure").set_value("R_SO (sum)").run()
    (line,) = [s for s in charts(at)[2]["layout"]["shapes"] if s["type"] == "line"]
    assert line["y0"] == pytest.approx((n / d - 1) / (n - 1) * n * (n - 1))


def test_gradients_page_heatmap_switch_and_concentration_pair(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="gradients", query={"run": "mpa-k4"})
    heat = [c for c in charts(at) if c["data"][0]["type"] == "heatmap"][0]
    assert len(heat["data"][0]["y"]) == 16  # C·K proxies
    at.radio(key="w_vector").set_value("per class").run()
    heat = [c for c in charts(at) if c["data"][0]["type"] == "heatmap"][0]
    assert heat["data"][0]["y"] == [f"class {i}" for i in range(4)]
    conc = [c for c in charts(at) if "concentrated" in c["layout"]["title"]["text"]][0]
    assert {t["name"] for t in conc["data"]} == {"pa-k1", "mpa-dw"}
    groups = charts(at)[0]
    assert {t["name"] for t in groups["data"]} >= {"grad_norm/proxies", "grad_norm/backbone"}


def test_metrics_page_step_and_split_change_the_curves(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="metrics", query={"runs": "mpa-k4,pa-k1"})
    vs_k = charts(at)[0]
    assert {t["name"] for t in vs_k["data"]} == {"mpa-k4", "pa-k1"}
    y_last = [values(t["y"]).astype(float) for t in vs_k["data"]]
    at.select_slider[0].set_value(int(at.select_slider[0].options[0])).run()
    y_first = [values(t["y"]).astype(float) for t in charts(at)[0]["data"]]
    assert any(not np.allclose(a, b) for a, b in zip(y_last, y_first))
    at.radio(key="w_split").set_value("train").run()
    assert at.query_params["split"] == "train" and not at.exception


def test_compare_page_puts_runs_on_the_same_axes(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="compare", query={"runs": "mpa-k4,pa-k1,mpa-dw"})
    by_title = lambda title: [c for c in charts(at) if c["layout"].get("title", {}).get("text") == title]
    (scalar,) = by_title("loss")
    assert [t["name"] for t in scalar["data"]] == ["mpa-k4", "pa-k1", "mpa-dw"]
    at.selectbox(key="w_key").select("proxy/mean_sq_cos").run()
    assert len(by_title("proxy/mean_sq_cos")) == 1
    diff, final = at.dataframe[0].value, at.dataframe[1].value
    assert list(final["run"]) == sorted(["mpa-k4", "pa-k1", "mpa-dw"]) and "R@1" in final.columns
    # the config diff lists what differs (loss, K, seed) and nothing the runs share
    assert {"loss", "proxies_per_class", "seed"} <= set(diff["setting"]) and "embedding_dim" not in set(diff["setting"])
    assert list(diff.columns) == ["setting", "mpa-k4", "pa-k1", "mpa-dw"]
    # and the runs' embeddings over training in linked player panes, in the chosen order, every step sent once
    from dashboard.player import decode_payload, unlink_payloads

    (element,) = at.get("bidi_component")
    panes = [decode_payload(blob) for blob in unlink_payloads(element.proto.bytes)]
    assert [h["title"].split(" (")[0] for h, _ in panes] == ["mpa-k4", "pa-k1", "mpa-dw"]
    for (header, arrays), run in zip(panes, ["mpa-k4", "pa-k1", "mpa-dw"]):
        snap_steps = open_run(dashboard_store, run).snapshot_steps()
        assert header["steps"] == snap_steps and arrays["points"].shape[:2] == (len(snap_steps), 300)
    assert "view" in panes[0][0] and not [c for c in charts(at) if "step" in c["layout"].get("title", {}).get("text", "")]


def test_a_sphere_run_opens_on_the_3d_player_natively(dashboard_store, monkeypatch):
    """A d = 3 run opens on its own space (no projection) in the player, as 3-D points the browser rotates."""
    from dashboard.player import decode_payload
    from proxylab.store import open_run

    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "sphere-d3"})
    assert not at.exception and not charts(at)
    assert at.selectbox(key="w_projection").value == "native"
    (element,) = at.get("bidi_component")
    header, arrays = decode_payload(element.proto.bytes)
    assert header["dims"] == 3 and header["sphere"] is True
    run = open_run(dashboard_store, "sphere-d3")
    last = run.snapshot(header["steps"][-1])
    unit = last.embeddings / np.linalg.norm(last.embeddings, axis=1, keepdims=True)
    half_step = np.array([hi - lo for lo, hi in header["bounds"]]) / header["coord_levels"] / 2
    assert np.all(np.abs(arrays["points_xy"][-1] - unit) <= half_step * (1 + 1e-6))  # the sphere's own points


def test_a_second_projection_of_the_run_plays_beside_the_first(dashboard_store, monkeypatch):
    """"Beside it": the same run in a linked pane under another projection: the same samples, the same steps."""
    from dashboard.player import decode_payload, unlink_payloads

    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "sphere-d3", "beside": "pca"})
    (element,) = at.get("bidi_component")
    (h1, a1), (h2, a2) = (decode_payload(blob) for blob in unlink_payloads(element.proto.bytes))
    assert (h1["dims"], h1["sphere"], h2["dims"], h2["sphere"]) == (3, True, 2, False)  # the sphere, then its PCA
    assert h1["title"].endswith("(native circle / sphere)") and h2["title"].endswith("(PCA)")
    assert h1["steps"] == h2["steps"] and np.array_equal(a1["index"], a2["index"])
    at.selectbox(key="w_beside").set_value("none").run()
    assert unlink_payloads(at.get("bidi_component")[0].proto.bytes) == [at.get("bidi_component")[0].proto.bytes]


def test_a_3d_projection_plays_in_the_player(dashboard_store, monkeypatch):
    from dashboard.player import decode_payload

    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "projection": "pca", "dims": "3"})
    assert not at.exception and not charts(at)
    header, arrays = decode_payload(at.get("bidi_component")[0].proto.bytes)
    assert header["dims"] == 3 and not header["sphere"] and arrays["points"].shape[2] == 3


def test_compare_links_a_sphere_run_with_a_flat_one(dashboard_store, monkeypatch):
    from dashboard.player import decode_payload, unlink_payloads

    at = open_app(dashboard_store, monkeypatch, page="compare", query={"runs": "sphere-d3,mpa-k4"})
    assert not at.exception
    (element,) = at.get("bidi_component")
    headers = [decode_payload(blob)[0] for blob in unlink_payloads(element.proto.bytes)]
    assert [h["title"].split(" ")[0] for h in headers] == ["sphere-d3", "mpa-k4"]
    assert [h["dims"] for h in headers] == [3, 2]  # the sphere natively in 3-D, the d = 16 run by its PCA


def test_run_form_offers_exactly_the_registered_losses_and_datasets():
    # The dashboard cannot import proxylab.losses (torch) at start-up, so it keeps its own lists: keep them true.
    from dashboard.launch import DATASETS, LOSSES
    from proxylab.data import list_datasets
    from proxylab.losses import list_losses

    assert sorted(LOSSES) == list_losses()
    assert set(DATASETS) <= set(list_datasets())


@pytest.mark.parametrize("page,expected", [("embedding", "mpa-k4"), ("gradients", "mpa-dw"),
                                           ("orthogonality", "mpa-k4-so")])
def test_a_newcomer_first_sees_the_run_that_teaches_the_page(dashboard_store, monkeypatch, page, expected):
    # sphere-d3 is the newest run (first in the list); without a choice in the URL or session each page opens
    # the run its lesson needs
    at = open_app(dashboard_store, monkeypatch, page)
    assert at.selectbox(key="w_run").value == expected


def test_compare_pairs_single_and_multi_proxy_by_default(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, "compare")
    assert at.multiselect[0].value == ["pa-k1", "mpa-k4"]


def test_orthogonality_pairs_the_so_run_with_its_twin_without_so(dashboard_store, monkeypatch):
    # sphere-d3 (mpa, SO off) is newer than mpa-k4, but its d = 3 gives another Welch floor
    at = open_app(dashboard_store, monkeypatch, "orthogonality")
    assert at.multiselect[0].value == ["mpa-k4-so", "mpa-k4"]


# ---------------------------------------------------------------- fixes a teacher hit (issue 14)

def test_3d_view_coloured_by_mode_draws_instead_of_crashing(dashboard_store, monkeypatch):
    from dashboard.figures import MODE_SYMBOLS_3D

    at = open_app(dashboard_store, monkeypatch, page="embedding",
                  query={"run": "mpa-k4", "projection": "pca", "dims": "3", "colour": "mode", "chart": "plotly"})
    fig = charts(at)[0]
    symbols = {t["marker"]["symbol"] for t in fig["data"] if t["type"] == "scatter3d" and "mode" in t.get("name", "")}
    assert symbols and symbols <= set(MODE_SYMBOLS_3D)


def test_each_page_remembers_its_own_step(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "chart": "plotly"})
    slider = at.select_slider[0]
    first = slider.options[0]
    slider.set_value(first).run()
    at.query_params.pop("step", None)  # a browser starts the next page with a clean query string
    at.switch_page("views/orthogonality.py").run()
    other = at.select_slider[0]
    assert int(other.value) == int(other.options[-1])  # its own default, not the other page's step
    at.query_params.pop("step", None)
    at.switch_page("views/embedding.py").run()
    assert int(at.select_slider[0].value) == int(first)  # and the embedding page kept its own


def test_a_selection_travels_in_the_url(dashboard_store, monkeypatch):
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "sel": "3-5,9"})
    assert at.query_params["sel"] in (["3-5,9"], "3-5,9")
    assert any("**4** samples selected" in m.value for m in at.markdown)


def test_upload_limit_is_one_number_for_streamlit_the_page_and_the_config():
    import tomllib

    from dashboard.upload import MAX_UPLOAD_BYTES
    from proxylab.serve import UPLOAD_LIMIT_MIB, dashboard_command

    command = dashboard_command(REPO / "checkpoints", 8501)
    assert command[command.index("--server.maxUploadSize") + 1] == str(UPLOAD_LIMIT_MIB)
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == UPLOAD_LIMIT_MIB and config["server"]["address"] == "127.0.0.1"
    assert config["client"]["toolbarMode"] == "viewer"
    assert MAX_UPLOAD_BYTES == UPLOAD_LIMIT_MIB * 2**20


CRAFTED_QUERIES = [
    {"step": "²"}, {"step": "١٢"}, {"step": "9" * 5000}, {"step": "-3"}, {"step": "1e3"},
    {"sel": "0-²,9" + "9" * 5000 + ",3"}, {"run": "../../etc"}, {"colour": "<b>x</b>"}, {"dims": "9" * 5000},
    {"projection": "umap'; --"}, {"scene": "§"},
]
#: the player's camera and selection shape: read by the Embedding page only
CRAFTED_VIEW_QUERIES = [{"cam": "nan_1_1"}, {"cam": "1_2_3" + "4" * 5000}, {"cam": "1_2_3_4"},
                        {"shape": "l0.1." + "z." * 3000}, {"shape": "l9.1.0.0.5.5.0.5"}, {"shape": "<b>x</b>"}]


@pytest.mark.parametrize("page", ["embedding", "proxies", "compare", "gradients", "orthogonality", "metrics"])
def test_crafted_query_parameters_fall_back_with_a_note_never_a_traceback(dashboard_store, monkeypatch, page):
    at = open_app(dashboard_store, monkeypatch, page=page)
    for query in CRAFTED_QUERIES + (CRAFTED_VIEW_QUERIES if page == "embedding" else []):
        at.query_params.clear()  # one session, each crafted URL opened in it (a user editing the address)
        at.query_params.update({"run": "mpa-k4", **query})
        at.run()
        assert not at.exception and not at.error, (query, [e.value for e in at.exception])
        if page in ("embedding", "proxies") and "step" in query:  # none of them is a step: each is named
            assert any("not a whole number" in c for c in texts(at, "caption")), query


@pytest.mark.parametrize("run", ["mpa-k4", "pa-k1"])
def test_a_selection_is_scored_as_queries_like_proxylab_eval(dashboard_store, monkeypatch, run):
    from proxylab.selection import selection_metrics
    from proxylab.store import open_run

    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": run, "sel": "0-40,90-99"})
    table = next(d.value for d in at.dataframe if "R@1" in d.value.columns)
    stored = open_run(dashboard_store, run)
    step = int(at.query_params["step"][0] if isinstance(at.query_params["step"], list) else at.query_params["step"])
    expected = selection_metrics(stored.snapshot(step), list(range(41)) + list(range(90, 100)))
    assert list(table["split"]) == list(expected)
    for _, row in table.iterrows():
        want = expected[row["split"]]
        assert row["selected"] == want["num_selected"]
        assert row["R@1"] == pytest.approx(want["R@1"], abs=1e-12)
        assert row["MAP@R"] == pytest.approx(want["MAP@R"], abs=1e-12)
        assert row["modes covered"] == f"{int(want['num_covered'])} of {int(want['num_modes'])}"


def test_a_shared_lasso_shape_selects_what_the_player_selected(dashboard_store, monkeypatch):
    """A link carries a big selection as its lasso's polygon in the payload's coordinate codes; opening it selects
    exactly the samples inside (the even-odd rule the player applies), and the URL keeps the shape."""
    from dashboard.player import decode_payload, pane_payload
    from dashboard.view_url import polygon_contains, shape_to_text

    header, arrays = decode_payload(pane_payload(str(dashboard_store), "mpa-k4"))
    step = header["steps"][1]
    polygon = [[0, 0], [40000, 0], [65535, 30000], [30000, 65535], [0, 40000]]
    text = shape_to_text({"kind": "lasso", "pane": 0, "step": step, "points": polygon})
    inside = np.flatnonzero(polygon_contains(arrays["points"][1], np.array(polygon)))
    assert 0 < len(inside) < arrays["points"].shape[1]
    at = open_app(dashboard_store, monkeypatch, page="embedding",
                  query={"run": "mpa-k4", "projection": "pca", "shape": text})
    assert any(f"**{len(inside)}** samples selected" in m.value for m in at.markdown)
    assert at.query_params["shape"] in ([text], text)


def test_a_snapshot_too_large_to_score_whole_scores_a_selection_directly_or_says_why_not(dashboard_store,
                                                                                          monkeypatch):
    """A million-point import is not scored query by query in the background: a selection is scored directly, and
    one too large for the page says so in a line that names the offline command."""
    from dashboard import query_values

    monkeypatch.setattr(query_values, "PREFETCH_PAIRS", 0)  # as if every snapshot were too large
    monkeypatch.setattr(query_values, "DIRECT_PAIRS", 0)  # and every selection worth a spinner
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "sel": "0-40"})
    assert any("R@1" in d.value.columns for d in at.dataframe)
    monkeypatch.setattr(query_values, "SELECTION_PAIRS", 10)
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "sel": "0-41"})
    assert not any("R@1" in d.value.columns for d in at.dataframe)
    (note,) = [i.value for i in at.info if "too many to score here" in i.value]
    assert "proxylab eval RUN \\-\\-step" in note or "proxylab eval RUN --step" in note


def test_a_large_selection_lists_its_first_samples_and_scores_them_all(dashboard_store, monkeypatch):
    from dashboard import neighbours

    monkeypatch.setattr(neighbours, "LISTED", 10)
    at = open_app(dashboard_store, monkeypatch, page="embedding", query={"run": "mpa-k4", "sel": "0-59"})
    listed = next(d.value for d in at.dataframe if "nearest proxy" in d.value.columns)
    assert listed["sample"].tolist() == list(range(10))
    assert any("The first 10 of the 60 selected samples" in c.value for c in at.caption)
    scores = next(d.value for d in at.dataframe if "R@1" in d.value.columns)
    assert scores["selected"].sum() == 60


def test_a_shape_drawn_in_one_projection_travels_as_ids_in_another(dashboard_store, monkeypatch):
    """A lasso's polygon means a place in the projection it was drawn in: once the view changes, the URL carries
    the selection's ids instead of the shape."""
    from dashboard.player import decode_payload, pane_payload
    from dashboard.view_url import polygon_contains, shape_to_text

    header, arrays = decode_payload(pane_payload(str(dashboard_store), "mpa-k4"))
    polygon = [[0, 0], [40000, 0], [65535, 30000], [30000, 65535], [0, 40000]]
    text = shape_to_text({"kind": "lasso", "pane": 0, "step": header["steps"][1], "points": polygon})
    inside = np.flatnonzero(polygon_contains(arrays["points"][1], np.array(polygon))).tolist()
    at = open_app(dashboard_store, monkeypatch, page="embedding",
                  query={"run": "mpa-k4", "projection": "pca", "shape": text})
    assert at.query_params["shape"] in ([text], text)
    at.session_state["_shape_view"] = "mpa-k4/another_2"  # as if the lasso had been drawn in another view
    at.run()
    assert "shape" not in at.query_params
    from dashboard.neighbours import ids_from_text

    sel = at.query_params["sel"]
    assert ids_from_text(sel[0] if isinstance(sel, list) else sel, 10**6) == inside
