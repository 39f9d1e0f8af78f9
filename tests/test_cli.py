"""The command line: train, list, eval, export, demo, torchrun; errors are one line with exit code 2."""
from __future__ import annotations

import json
import os
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
    return store


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
    (["train", "--loss", "nope"], "unknown loss 'nope'; valid: "),
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


def test_run_names_never_escape_the_store(tmp_path):
    store = tmp_path / "store"
    out = cli("train", "--store", store, "--name", "/tmp/abs", *TINY, check=False)
    assert out.returncode == 2 and not (tmp_path / "abs").exists()


def test_torchrun_trains_data_parallel_and_only_rank_0_writes(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    out = subprocess.run([*torchrun, "-m", "proxylab", "train", "--store", tmp_path, "--name", "ddp", *TINY,
                          "--loss", "proxy_anchor"], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines() == [str(tmp_path / "ddp")]  # printed once, by rank 0
    run = open_run(tmp_path, "ddp")
    assert run.status == "finished"
    assert run.meta["distributed"] == {"world_size": 2, "replica_param_max_diff": 0.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]
    cli("train", "--store", tmp_path, "--name", "single", *TINY, "--loss", "proxy_anchor")
    single = open_run(tmp_path, "single")
    # rank 1 trained on its own batches, so the averaged updates differ from one process's
    assert not np.allclose(run.snapshot(20).proxies, single.snapshot(20).proxies)
    assert np.allclose(run.snapshot(0).proxies, single.snapshot(0).proxies)  # same seed, same start


def test_demo_trains_the_teaching_runs_and_shows_the_effects(demo_store):
    from proxylab.demo import DEMO_RUNS

    stdout = (demo_store.parent / "demo.out").read_text()
    assert "demo-single-proxy" in stdout and "Welch floor" in stdout
    runs = {name: open_run(demo_store, name) for name in DEMO_RUNS}
    assert all(r.status == "finished" for r in runs.values())
    for name, (_, tags) in DEMO_RUNS.items():  # every teaching run carries its lesson roles
        assert runs[name].meta["tags"] == list(tags)
    for run in runs.values():  # projections were precomputed
        assert any((run.path / "projections").glob("*.npz"))

    def final(run, metric, split="test"):
        ev = run.evals()
        row = ev[(ev["step"] == ev["step"].max()) & (ev["split"] == split) & (ev["metric"] == metric)]
        return float(row["value"].iloc[0])

    single, multi, so = runs["demo-single-proxy"], runs["demo-multi-proxy"], runs["demo-multi-proxy-so"]
    assert final(multi, "R@1") > final(single, "R@1") + 0.05
    assert final(multi, "MAP@R") > final(single, "MAP@R")
    assert final(multi, "mode_coverage", "train") > final(single, "mode_coverage", "train") + 0.3
    tail = lambda run: run.scalars(["proxy/mean_sq_cos", "proxy/welch_floor"]).tail(20).mean()
    assert tail(so)["proxy/mean_sq_cos"] < tail(multi)["proxy/mean_sq_cos"]
    assert tail(so)["proxy/mean_sq_cos"] >= tail(so)["proxy/welch_floor"] - 1e-6  # a bound: float error only
