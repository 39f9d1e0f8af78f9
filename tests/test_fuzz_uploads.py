"""Property-based fuzzing (hypothesis) of what users import and upload: hostile ids, shapes, dtypes, NaN/inf, sizes,
compressed members and names with markup, through ``proxylab import`` and the dashboard's upload path.

Property: every generated file either imports (and then the run's class names are the file's, and a figure built
from them carries no live markup) or is refused with one line: exit 2 on the CLI, one ``ValueError`` line naming the
upload (never the server's temp folder) on the upload path; nothing else escapes, no traceback, and a refused file
leaves no run. Peak memory is bounded by the checks of :mod:`proxylab.importing.budget` (measured per bomb in
``tests/test_import_bombs.py``); here the largest declared array is capped so that a miss would show as a
MemoryError or a timeout.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from proxylab.cli import main

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
OUTCOMES: dict[str, int] = {}
MARKUP = ['<span style="background-image:url(http://evil.test/a)">a</span>', '<a href="http://evil.test">b</a>',
          "![](http://evil.test/c.png)", "<img src=x onerror=alert(1)>", "plain", "é ü 猫", ""]


MUTATIONS = ["none", "none", "none", "dtype", "non-finite", "huge id", "negative id", "float ids", "short labels",
             "markup labels", "no labels", "huge mode", "few class names", "empty", "crafted header", "truncated"]


@st.composite
def hostile_npz(draw) -> bytes:
    """A valid file (names with markup) with at most one hostile change."""
    mutation = draw(st.sampled_from(MUTATIONS))
    n, d, classes = draw(st.integers(8, 40)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrays = {"embeddings": rng.normal(size=(n, d)).astype(np.float32), "labels": np.arange(n) % classes,
              "class_names": np.array([MARKUP[(i + n) % len(MARKUP)] for i in range(classes)], dtype="<U80")}
    if draw(st.booleans()):
        arrays["modes"] = (np.arange(n) % (2 * classes)).astype(np.int64)
    if mutation == "dtype":
        arrays["embeddings"] = arrays["embeddings"].astype(draw(st.sampled_from(["<c8", "<U3", "|b1", "<f2", "<i8"])))
    elif mutation == "non-finite":
        arrays["embeddings"][draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif mutation == "huge id":
        arrays["labels"][0] = draw(st.sampled_from([10**7, 10**12, 2**62]))
    elif mutation == "negative id":
        arrays["labels"][0] = -1
    elif mutation == "float ids":
        arrays["labels"] = arrays["labels"] + 0.5
    elif mutation == "short labels":
        arrays["labels"] = arrays["labels"][:-1]
    elif mutation == "markup labels":
        arrays["labels"] = np.array([MARKUP[i % len(MARKUP)] or "x" for i in range(n)])
        del arrays["class_names"]
    elif mutation == "no labels":
        del arrays["labels"]
    elif mutation == "huge mode":
        arrays["modes"] = np.zeros(n, np.int64)
        arrays["modes"][1] = 10**13
    elif mutation == "few class names":
        arrays["class_names"] = arrays["class_names"][:classes - 1]
    elif mutation == "empty":
        arrays["embeddings"] = arrays["embeddings"][:0]
        arrays["labels"] = arrays["labels"][:0]
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    data = buf.getvalue()
    if mutation == "crafted header":  # a member whose header declares far more than it holds
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("embeddings.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
                        b"'shape': (1000000000, 4096), }" + b" " * 50 + b"\n" + bytes(8))
            zf.writestr("labels.npy", buf.getvalue()[:0])
        data = out.getvalue()
    elif mutation == "truncated":
        data = data[:draw(st.integers(0, len(data) - 1))]
    return data


def _class_names(store: Path, name: str) -> list[str]:
    import json

    return json.loads((store / name / "run.json").read_text())["dataset"]["class_names"]


@settings(max_examples=120, **SETTINGS)
@given(content=hostile_npz())
def test_cli_import_of_a_hostile_file_imports_or_says_one_line(content):
    import contextlib

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "e.npz").write_bytes(content)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(["import", str(tmp / "e.npz"), "--store", str(tmp / "store"), "--name", "fuzz"])
        lines = err.getvalue().strip().splitlines()
        errors = [line for line in lines if line.startswith("proxylab: error: ")]
        assert "Traceback" not in err.getvalue()
        outcome = "cli imported" if rc == 0 else "cli refused"
        OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
        if rc == 0:
            assert not errors and (tmp / "store" / "fuzz" / "run.json").is_file()
            _no_live_markup(_class_names(tmp / "store", "fuzz"))
        else:
            assert rc == 2 and len(errors) == 1 and len(errors[0]) < 600, err.getvalue()[-800:]
            assert not (tmp / "store" / "fuzz" / "run.json").exists()  # a refused file leaves no run


@settings(max_examples=60, **SETTINGS)
@given(content=hostile_npz(), upload_name=st.sampled_from(["e.npz", "<b>x</b>.npz", "a b.npz", "../../x.npz"]))
def test_upload_of_a_hostile_file_imports_or_raises_one_line(content, upload_name):
    from dashboard.upload import import_uploaded

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            path = import_uploaded(tmp / "store", "fuzz", (upload_name, content))
        except ValueError as exc:
            OUTCOMES["upload refused"] = OUTCOMES.get("upload refused", 0) + 1
            text = str(exc)
            assert text and "\n" not in text and "proxylab-upload-" not in text, text[:300]
            assert not (tmp / "store" / "fuzz" / "run.json").exists()
        else:
            OUTCOMES["upload imported"] = OUTCOMES.get("upload imported", 0) + 1
            assert path == tmp / "store" / "fuzz"
            _no_live_markup(_class_names(tmp / "store", "fuzz"))


def _no_live_markup(class_names: list[str]) -> None:
    """A figure of these names, through the dashboard's one chart guard, holds no tag."""
    import json

    import plotly.graph_objects as go

    from dashboard import plain

    fig = go.Figure([go.Scatter(x=[0], y=[0], name=name, text=[name]) for name in class_names])
    spec = json.dumps(plain.figure(fig).to_dict()["data"])
    assert "<span" not in spec and "<a " not in spec and "<img" not in spec


def test_the_fuzz_reached_both_outcomes_on_both_paths():
    """Runs after the two properties (file order): a generator that only made refusals would prove little."""
    assert set(OUTCOMES) == {"cli imported", "cli refused", "upload imported", "upload refused"}, OUTCOMES
    assert OUTCOMES["cli imported"] >= 5 and OUTCOMES["upload imported"] >= 3, OUTCOMES
