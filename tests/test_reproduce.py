"""``proxylab reproduce`` at the tiny scale: the report is written, its runs are in the store, and every number in
the report is recomputed from the runs' stored data (nothing hard-coded)."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys


import pytest

from proxylab.cli import main
from proxylab.reproduce import SCALES, build_plan
from proxylab.reproduce.measures import evaluate_expr, measure
from proxylab.store import list_runs, open_run

NUMBER = re.compile(r"(?<![\w@.\-+])[-+]?\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    store, out = root / "store", root / "reports"
    rc = main(["reproduce", "--tiny", "--store", str(store), "--out", str(out), "--workers", "1", "--no-progress"])
    assert rc == 0
    return store, out, json.loads((out / "reproduce.json").read_text())


def test_report_and_figures_written(reproduced):
    store, out, data = reproduced
    md = (out / "reproduce.md").read_text()
    for key in ("multicentre", "gradients", "so", "convergence", "metrics", "zeroshot"):
        assert any(s["key"] == key for s in data["sections"]), key
    assert md.count("**Measured here.**") == len(data["sections"])
    for fig in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    assert "held" in md


def test_runs_are_in_the_store(reproduced):
    store, out, data = reproduced
    expected = [s.name for s in build_plan(SCALES["tiny"])]
    assert data["runs"] == expected
    stored = {r.name: r for r in list_runs(store)}
    for name in expected:
        assert re.fullmatch(r"repro-[a-z]+-[\w.\-]+-s\d+", name)
        assert stored[name].status == "finished" and stored[name].error is None
        assert open_run(store, name).meta["reproduce"]["experiment"] in name


def test_every_number_is_recomputed_from_the_runs(reproduced):
    store, out, data = reproduced
    runs: dict = {}

    def leaf(run, spec):  # a fresh read of the store, independent of the report's cache
        if run not in runs:
            runs[run] = open_run(store, run)
        return measure(runs[run], spec)

    assert data["numbers"]
    for rec in data["numbers"]:
        value = evaluate_expr(rec["expr"], leaf)
        text = "n/a" if math.isnan(value) else format(value, rec["fmt"])
        assert text == rec["text"], rec
    for run, leaves in data["leaves"].items():
        for spec, value in leaves.items():
            assert value == pytest.approx(leaf(run, spec), nan_ok=True), (run, spec)


def test_no_number_in_the_report_is_unaccounted_for(reproduced):
    store, out, data = reproduced
    md = (out / "reproduce.md").read_text()
    recorded = {r["text"] for r in data["numbers"]}
    tokens = NUMBER.findall(md)
    assert tokens
    unaccounted = sorted({t for t in tokens if t not in recorded})
    assert not unaccounted, f"numbers in reproduce.md that no run accounts for: {unaccounted}"
    consts = [r for r in data["numbers"] if r["expr"][0] == "const"]
    assert all(isinstance(c["expr"][2], str) and c["expr"][2] for c in consts)  # each one says why


def test_rerun_reuses_finished_runs(reproduced, tmp_path):
    store, out, data = reproduced
    from proxylab.reproduce.runner import run_plan

    specs = build_plan(SCALES["tiny"], ("zeroshot",))
    info = run_plan(store, specs, workers=1, progress=False)
    assert info["trained"] == [] and info["reused"] == [s.name for s in specs]


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["reproduce", "--tiny", "--seeds", "1", "--store", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds" in err[0]
    assert main(["reproduce", "--tiny", "--only", "nope", "--store", str(tmp_path), "--out", str(tmp_path)]) == 2


def test_cli_module_imports_nothing_heavy():
    code = ("import sys, proxylab.reproduce.cli, proxylab.reproduce; "
            "heavy = [m for m in ('torch', 'matplotlib', 'sklearn', 'pandas') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_report_renders_again_from_its_json_alone(reproduced, tmp_path):
    import shutil

    from proxylab.reproduce import rerender

    store, out, data = reproduced
    copy = tmp_path / "reports"
    shutil.copytree(out, copy)
    assert rerender(copy).read_text() == (out / "reproduce.md").read_text()  # rerender takes no store
    assert json.loads((copy / "reproduce.json").read_text())["numbers"] == data["numbers"]
    missing = json.loads((copy / "reproduce.json").read_text())
    del missing["leaves"][data["runs"][0]]
    (copy / "reproduce.json").write_text(json.dumps(missing))
    with pytest.raises(ValueError, match="lack .* of run repro-multicentre"):
        rerender(copy)


def test_e1_compares_the_registered_k_whatever_k_did_best(reproduced):
    store, out, data = reproduced
    e1 = next(s for s in data["sections"] if s["key"] == "multicentre")
    k = SCALES["tiny"].registered_k
    assert sum(f"K = {k} (pre-registered) vs K = 1" in v for v in e1["verdicts"]) == 2  # one per setting
    import dataclasses

    with pytest.raises(ValueError, match="contain registered_k = 3"):
        build_plan(dataclasses.replace(SCALES["tiny"], registered_k=3))
