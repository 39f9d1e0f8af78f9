"""The command line: train, list, eval, export, demo, torchrun; errors are one line with exit code 2."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from proxylab.store import open_run

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--data", "synthetic", "--set", 'data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 30}',
        "--model", "linear", "--embedding-dim", "6", "--split", "per-sample", "--classes-per-batch", "4",
        "--samples-per-class", "8", "--steps", "20", "--eval-every", "10", "--snapshot-points", "60",
        "--num-snapshots", "3", "--lr", "0.01", "--no-progress"]


def cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "proxylab", *map(str, args)], capture_output=True, text=True, env=ENV)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    out = cli("train", "--store", store, "--name", "cli-run", "--loss", "mpa", "--proxies-per-class", "2", *TINY)
    assert out.stdout.strip() == str(store / "cli-run")
    assert "training run 'cli-run' (mpa, K=2, 20 steps on cpu)" in out.stderr
    (store.parent / "train.stderr").write_text(out.stderr)
    return store


def test_train_ends_with_a_table_of_the_final_metrics(trained):
    lines = (trained.parent / "train.stderr").read_text().splitlines()
    start = lines.index("final metrics (step 20):")
    header, *rows = lines[start + 1:start + 4]
    columns = header.split()
    assert columns[:3] == ["split", "R@1", "MAP@R"] and "NMI" in columns and "mode_coverage" in columns
    evals = open_run(trained, "cli-run").evals()
    last = evals[evals["step"] == 20]
    for row, split in zip(rows, ["test", "train"]):  # test first, every value as stored (4 decimals)
        cells = dict(zip(columns, row.split()))
        assert cells["split"] == split
        stored = last[last["split"] == split].set_index("metric")["value"]
        for metric in columns[1:]:
            assert float(cells[metric]) == pytest.approx(stored[metric], abs=5e-5), (split, metric)


def test_list_shows_the_run(trained):
    out = cli("list", "--store", trained)
    line = next(l for l in out.stdout.splitlines() if l.startswith("cli-run"))
    assert "finished" in line and "mpa" in line and "20/20" in line


def test_eval_json_matches_the_store(trained):
    result = json.loads(cli("eval", "cli-run", "--json", "--store", trained).stdout)
    evals = open_run(trained, "cli-run").evals()
    last = evals[(evals["step"] == 20) & (evals["split"] == "test")].set_index("metric")["value"]
    assert result["step"] == 20 and result["status"] == "finished"
    assert result["metrics"]["test"]["R@1"] == pytest.approx(last["R@1"])
    assert set(result["metrics"]) == {"train", "test"}


def test_export_csv_and_tensorboard_projector(trained, tmp_path):
    cli("export", "cli-run", "--format", "csv", "--out", tmp_path / "csv", "--store", trained)
    run = open_run(trained, "cli-run")
    import pandas as pd

    scalars = pd.read_csv(tmp_path / "csv" / "scalars.csv", index_col="step")
    assert np.allclose(scalars["loss"], run.scalars()["loss"])
    last = run.snapshot_steps()[-1]
    snap = pd.read_csv(tmp_path / "csv" / f"snapshot_{last:08d}.csv")
    assert np.allclose(snap.filter(regex=r"^e\d+$").to_numpy(), run.snapshot(last).embeddings, atol=1e-6)
    proxies = pd.read_csv(tmp_path / "csv" / f"proxies_{last:08d}.csv")
    assert len(proxies) == 4 * 2 and list(proxies["sub_proxy"][:2]) == [0, 1]

    cli("export", "cli-run", "--format", "tensorboard", "--out", tmp_path / "tb", "--store", trained)
    config = (tmp_path / "tb" / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == len(run.snapshot_steps())
    folder = tmp_path / "tb" / f"step_{last:08d}"
    vectors = np.loadtxt(folder / "tensors.tsv", delimiter="\t")
    meta = pd.read_csv(folder / "metadata.tsv", sep="\t")
    assert vectors.shape == (60 + 8, 6) and len(meta) == 68
    assert (meta["kind"] == "proxy").sum() == 8


@pytest.mark.parametrize("args, message", [
    (["train", "--loss", "nope"], "argument --loss: invalid choice: 'nope' (choose from 'mpa', "),
    (["train", "--steps", "many"], "argument --steps: invalid int value: 'many'"),
    (["train", "--split", "random"], "argument --split: invalid choice: 'random'"),
    (["train", "--test-fraction", "1.5"], "test_fraction must be a float > 0 and < 1, got 1.5"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["train", "--name", "../escape"], "run name"),
    (["train", "--proxies-per-class", "0"], "proxies_per_class must be an int >= 1"),
    (["train", "--set", "lrr=1"], "unknown config key 'lrr'"),
    (["train", "--set", "nonsense"], "--set must look like KEY=JSON"),
    (["train", "--config", "/nonexistent.toml"], "cannot read config file"),
    (["train", "--resume", "missing-run"], "missing-run"),
    (["eval", "missing-run"], "missing-run"),
    (["export", "missing-run", "--format", "csv"], "missing-run"),
])
def test_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    out = cli(*args, "--store", tmp_path, check=False)
    assert out.returncode == 2
    assert out.stderr.startswith("proxylab: error: ") and message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("rank, prefix", [("0", "proxylab: error: "), ("1", "proxylab: error (rank 1): ")])
def test_under_torchrun_a_failing_rank_tags_its_error(tmp_path, monkeypatch, capsys, rank, prefix):
    from proxylab.cli import main

    monkeypatch.setenv("RANK", rank)
    assert main(["train", "--store", str(tmp_path), "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(prefix) and "steps" in err and err.count("\n") == 1, err


def _help_blocks(text: str) -> dict[str, str]:
    """``{"--flag": its help text}`` from argparse's help output (an option's text may wrap onto more lines)."""
    blocks: dict[str, str] = {}
    flag = None
    for line in text.splitlines():
        head = re.match(r"^  (-{1,2}[\w-]+)(?:, --[\w-]+)?(?: [A-Z_]+(?: \.\.\.)?)?(?:\s{2,}(.*))?$", line)
        if head:
            flag = head.group(1)
            blocks[flag] = (head.group(2) or "").strip()
        elif flag and line.startswith("    "):
            blocks[flag] += " " + line.strip()
        else:
            flag = None
    return blocks


def test_train_help_describes_every_flag_and_lists_the_registries():
    from proxylab.cli import TRAIN_FLAGS
    from proxylab.data import DATASETS, SPLITS
    from proxylab.losses import LOSSES
    from proxylab.models import MODELS

    out = cli("train", "--help")
    text = re.sub(r"-\n\s+", "-", out.stdout)  # argparse wraps at hyphens: mpa_dw, zero-\nshot
    blocks = _help_blocks(text)
    for flag in TRAIN_FLAGS:
        assert len(blocks.get(f"--{flag}", "")) > 10, (flag, blocks.get(f"--{flag}"))
    listed = {"--loss": LOSSES.names(), "--model": MODELS.names(), "--data": DATASETS.names(), "--split": SPLITS,
              "--optimizer": ["adamw", "adam", "sgd"], "--device": ["auto", "cpu", "cuda"]}
    for flag, names in listed.items():
        assert all(name in blocks[flag] for name in names), (flag, blocks[flag])
    assert "a float > 0 and < 1; default 0.3" in " ".join(blocks["--test-fraction"].split())
    assert "--data features --data-root" in out.stdout  # the bring-your-own example


def test_the_parser_imports_nothing_heavy():
    code = ("import sys, proxylab.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("args", [["list"], ["train", "--list-presets"]])
def test_a_closed_pipe_ends_quietly(tmp_path, args):
    """`proxylab … | head`: the reader is gone before anything is written; no BrokenPipeError report."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run([sys.executable, "-m", "proxylab", *args, "--store", str(tmp_path)], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, env=ENV, timeout=120)
    finally:
        os.close(write_end)
    assert out.returncode == 141, out.stderr  # 128 + SIGPIPE, as a shell reports a filter the pipe ended
    assert out.stderr == "", out.stderr


def test_run_names_never_escape_the_store(tmp_path):
    store = tmp_path / "store"
    out = cli("train", "--store", store, "--name", "/tmp/abs", *TINY, check=False)
    assert out.returncode == 2 and not (tmp_path / "abs").exists()


def test_demo_trains_the_teaching_runs_and_shows_the_effects(demo_store):
    from proxylab.demo import DEMO_RUNS

    stdout = (demo_store.parent / "demo.out").read_text()
    assert "demo-single-proxy" in stdout and "Welch floor" in stdout
    runs = {name: open_run(demo_store, name) for name in DEMO_RUNS}
    assert all(r.status == "finished" for r in runs.values())
    for name, (_, tags, seed) in DEMO_RUNS.items():  # every teaching run carries its lesson roles
        assert runs[name].meta["tags"] == list(tags) and runs[name].meta["config"]["seed"] == seed
    for run in runs.values():  # projections were precomputed
        assert any((run.path / "projections").glob("*.npz"))

    def final(run, metric, split="test"):
        ev = run.evals()
        row = ev[(ev["step"] == ev["step"].max()) & (ev["split"] == split) & (ev["metric"] == metric)]
        return float(row["value"].iloc[0])

    from proxylab.geometry import wrong_proxy_share_by_mode

    def lost(run):  # the summary's "lost": share of a mode's samples nearer another class's proxy, mean over modes
        snap = run.snapshot(run.snapshot_steps()[-1])
        return np.mean(list(wrong_proxy_share_by_mode(snap.embeddings, snap.labels, snap.modes, snap.proxies).values()))

    single, two, multi, so = (runs[n] for n in ("demo-single-proxy", "demo-two-proxies", "demo-multi-proxy",
                                                  "demo-multi-proxy-so"))
    row = next(line for line in stdout.splitlines() if line.startswith("demo-single-proxy "))
    assert f"{lost(single):5.2f}" in row and lost(single) >= 0.2 > 0.05 >= lost(two)
    assert final(multi, "R@1") >= 0.9 and final(multi, "mode_coverage", "train") == 1.0
    tail = lambda run: run.scalars(["proxy/mean_sq_cos", "proxy/welch_floor"]).tail(20).mean()
    assert tail(so)["proxy/mean_sq_cos"] < tail(multi)["proxy/mean_sq_cos"]
    assert tail(so)["proxy/mean_sq_cos"] >= tail(so)["proxy/welch_floor"] - 1e-6  # a bound: float error only


def test_demo_without_the_dashboard_says_its_umap_is_left_to_the_dashboard(demo_store, monkeypatch):
    """`demo --no-dashboard` trains and caches PCA but not UMAP, and says so; the next `proxylab dashboard` starts the
    teaching runs' UMAP in the background (only the runs whose UMAP is not cached), so no page waits for it."""
    from proxylab import demo, projection, projection_jobs, serve
    from proxylab.cli import main

    stdout = (demo_store.parent / "demo.out").read_text()
    assert demo.NO_UMAP_NOTE in stdout
    wide = [name for name in demo.DEMO_RUNS if open_run(demo_store, name).meta["config"]["embedding_dim"] > 3]
    assert demo.teaching_runs_without_umap(demo_store) == wide and "demo-single-proxy" not in wide
    started, served = [], []
    monkeypatch.setattr(projection_jobs, "start", lambda store, runs, method, dims: started.append((runs, method, dims)))
    monkeypatch.setattr(serve, "serve_dashboard", lambda store, port, host: served.append((store, port)))
    assert main(["dashboard", "--store", str(demo_store), "--port", "8599"]) == 0
    assert started == [(wide, "umap", 2)] and served == [(demo_store, 8599)]
    cached = projection.cached_projection
    monkeypatch.setattr(projection, "cached_projection",  # one run's UMAP cached: it is not computed again
                        lambda run, steps, method, dims: {} if run.name == "demo-multi-proxy" else cached(run, steps, method, dims))
    assert "demo-multi-proxy" not in demo.teaching_runs_without_umap(demo_store)
