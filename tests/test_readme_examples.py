"""README "Log from your own training loop": every ```python example runs exactly as printed (in a fresh process,
in an empty folder), and leaves a run that the player plays with proxies and gradient colouring."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from proxylab.store import open_run

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Log from your own training loop", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_has_its_three_examples():
    found = examples()
    assert len(found) == 3, "README: the logging section lost or gained an example; update this test's runs"
    assert "pytorch_metric_learning" in found[0] and "lightning" in found[1] and "proxies" in found[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """The folder the examples ran in: each writes to ./checkpoints, the default store."""
    folder = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if k != "PROXYLAB_STORE"}
    for i, code in enumerate(examples()):
        script = folder / f"example_{i}.py"
        script.write_text(code, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"README example {i} failed:\n{proc.stderr[-3000:]}"
    return folder / "checkpoints"


def test_pml_example_r_at_1_equals_pml_accuracy_calculator(store):
    import torch
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    run = open_run(store, "pml-digits")
    assert run.status == "finished" and run.snapshot_steps() == [1, 50, 100, 150, 200, 250, 300]
    snap = run.snapshot(300)
    test = snap.split == 1
    calculator = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count",
                                    device=torch.device("cpu"), knn_func=CustomKNN(CosineSimilarity()))
    theirs = calculator.get_accuracy(torch.from_numpy(snap.embeddings[test]), torch.from_numpy(snap.labels[test]))
    evals = run.evals()
    ours = evals[(evals["step"] == 300) & (evals["split"] == "test")].set_index("metric")["value"]
    assert ours["R@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-9)
    assert ours["MAP@R"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)
    assert ours["R@1"] > 0.9  # the example trains a real model
    assert snap.proxies.shape == (10, 1, 32)
    assert np.isfinite(snap.grad_norm[~test]).all() and np.isnan(snap.grad_norm[test]).all()
    scalars = run.scalars()
    assert len(scalars) == 300 and scalars[["grad_norm/model", "grad_norm/proxies", "sample_grad/gini"]].notna().all().all()


def test_lightning_example_logs_soft_triple_centres_every_20_steps(store):
    run = open_run(store, "lightning-digits")
    assert run.status == "finished"
    assert run.snapshot_steps() == list(range(0, 121, 20))  # 12 batches x 10 epochs
    assert run.snapshot(120).proxies.shape == (10, 3, 32)
    steps, proxy_grad = run.vectors("proxy_grad")
    assert proxy_grad.shape == (120, 30) and (proxy_grad > 0).any()
    assert run.scalars()["sample_grad/mean"].notna().all()


def test_own_loss_example_has_two_proxies_per_class_and_its_modes(store):
    run = open_run(store, "own-loss")
    snap = run.snapshot(100)
    assert snap.proxies.shape == (4, 2, 8) and set(np.unique(snap.modes)) == set(range(8))
    evals = run.evals()
    assert evals[(evals["step"] == 100) & (evals["metric"] == "mode_coverage")]["value"].iloc[0] == 1.0


@pytest.mark.parametrize("name", ["pml-digits", "lightning-digits", "own-loss"])
def test_the_player_plays_each_example_with_proxies_and_gradients(store, monkeypatch, name):
    from streamlit.testing.v1 import AppTest

    from dashboard.player import decode_payload

    monkeypatch.setenv("PROXYLAB_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/embedding.py")
    at.query_params.update({"run": name, "projection": "pca"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (element,) = at.get("bidi_component")
    header, arrays = decode_payload(element.proto.bytes)
    assert header["steps"] == open_run(store, name).snapshot_steps()
    assert header["n_proxies"] > 0 and arrays["proxy_steps"].all()
    assert np.isfinite(arrays["grad_norm_value"]).any()  # gradient colouring has values to show
