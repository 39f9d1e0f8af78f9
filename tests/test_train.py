"""The training loop: what it logs, determinism, exact resume, warm-up, NaN handling, interruption."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import non_finite_rows
from proxylab.errors import TrainingError
from proxylab.store import open_run
from proxylab.train import TrainConfig, Trainer
from proxylab.train.checkpoint import load_checkpoint

TINY = dict(data="synthetic", data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 40},
            model="linear", embedding_dim=6, split="per-sample", classes_per_batch=4, samples_per_class=8,
            steps=24, eval_every=8, snapshot_points=80, eval_max_points=120, num_snapshots=4,
            checkpoint_every=8, lr=1e-2)


pytestmark = pytest.mark.usefixtures("one_thread")


def train(store, name, **changes):
    cfg = TrainConfig.from_dict({**TINY, **changes})
    Trainer(cfg, store, name, progress=False).run()
    return open_run(store, name)


def final_proxies(run):
    return run.snapshot(run.snapshot_steps()[-1]).proxies


def test_a_run_logs_every_documented_key(tmp_path):
    run = train(tmp_path, "r", loss="mpa", proxies_per_class=3, so_weight=0.01)
    assert run.status == "finished"
    scalars = run.scalars()
    assert list(scalars.index) == list(range(1, 25))
    expected = {"loss", "loss/pos", "loss/neg", "loss/so", "grad_norm/total", "grad_norm/backbone", "grad_norm/head",
                "grad_norm/proxies", "lr/head", "lr/proxies", "sample_grad/mean", "sample_grad/max",
                "sample_grad/top10_share", "sample_grad/gini", "proxy/mean_cos", "proxy/max_cos",
                "proxy/mean_sq_cos", "proxy/r_so", "proxy/welch_floor", "time/step"}
    assert expected <= set(scalars.columns)
    assert np.isfinite(scalars[sorted(expected)].to_numpy()).all()
    # parts sum to the logged loss; proxies learn 100x faster by default
    assert np.allclose(scalars[["loss/pos", "loss/neg", "loss/so"]].sum(axis=1), scalars["loss"], atol=1e-5)
    assert np.allclose(scalars["lr/proxies"], 100 * scalars["lr/head"])
    for key, n in [("proxy_grad", 12), ("proxy_grad_pull", 12), ("proxy_grad_push", 12), ("class_grad", 4),
                   ("proxy_usage", 12)]:
        steps, values = run.vectors(key)
        assert values.shape == (24, n), key
    evals = run.evals()
    assert sorted(set(evals["step"])) == [8, 16, 24]
    test_metrics = set(evals[evals["split"] == "test"]["metric"])
    assert {"R@1", "R@8", "MAP@R", "nDCG@4", "NMI", "mode_coverage", "dead_proxies"} <= test_metrics
    assert run.snapshot_steps() == sorted(run.meta["snapshot_steps"]) and run.snapshot_steps()[0] == 0
    snap = run.snapshot(24)
    assert snap.embeddings.shape == (80, 6) and snap.proxies.shape == (4, 3, 6)
    assert set(np.unique(snap.split)) == {0, 1}
    train_part = snap.split == 0
    assert np.isfinite(snap.grad_norm[train_part]).all() and np.isnan(snap.grad_norm[~train_part]).all()
    assert (snap.modes >= 0).all()


def test_a_tiny_eval_split_reports_the_infeasible_k_as_missing_with_one_note(tmp_path):
    """eval_max_points=5: 4 candidates per query, so the default k = 8 cannot be scored; the run goes on."""
    with pytest.warns(RuntimeWarning, match="R@8") as caught:
        run = train(tmp_path, "r", eval_max_points=5)
    assert run.status == "finished"
    evals = run.evals()
    assert sorted(set(evals["step"])) == [8, 16, 24]
    for split in ("test", "train"):
        logged = set(evals[evals["split"] == split]["metric"])
        assert {"R@1", "R@2", "R@4", "P@4", "nDCG@4", "RP", "MAP@R"} <= logged, split
        assert not {"R@8", "P@8", "nDCG@8"} & logged, split
    notes = run.meta["eval_notes"]  # one per split, though each split was evaluated three times
    assert len(notes) == 2 and all("5 point(s)" in n and "R@8" in n for n in notes)
    assert len([w for w in caught if "R@8" in str(w.message)]) == 2


def test_logged_group_norms_are_before_clipping(tmp_path):
    run = train(tmp_path, "r", grad_clip=1e-6, steps=4, eval_every=4, checkpoint_every=4)
    assert (run.scalars()["grad_norm/total"] > 1e-3).all()


def test_pull_and_push_add_up_to_the_proxy_gradient(tmp_path):
    run = train(tmp_path, "r", loss="proxy_anchor", proxies_per_class=2)
    _, total = run.vectors("proxy_grad")
    _, pull = run.vectors("proxy_grad_pull")
    _, push = run.vectors("proxy_grad_push")
    assert np.all(total <= pull + push + 1e-5)  # triangle inequality of g = g_pull + g_push
    assert np.all(total >= np.abs(pull - push) - 1e-5)
    assert (pull > 0).any() and (push > 0).any()


def test_same_seed_same_numbers_and_other_seed_differs(tmp_path):
    a = train(tmp_path, "a", seed=3)
    b = train(tmp_path, "b", seed=3)
    c = train(tmp_path, "c", seed=4)
    cols = ["loss", "grad_norm/total"]
    assert np.array_equal(a.scalars()[cols].to_numpy(), b.scalars()[cols].to_numpy())
    assert np.array_equal(final_proxies(a), final_proxies(b))
    assert not np.allclose(final_proxies(a), final_proxies(c))


def test_resume_after_interrupt_reaches_the_uninterrupted_state(tmp_path, monkeypatch):
    reference = train(tmp_path, "ref", loss="mpa", proxies_per_class=2, steps=30)
    cfg = TrainConfig.from_dict({**TINY, "loss": "mpa", "proxies_per_class": 2, "steps": 30})
    trainer = Trainer(cfg, tmp_path, "cut", progress=False)
    original = trainer.train_step

    def interrupt_at_13(step, x, y):
        if step == 13:
            raise KeyboardInterrupt
        return original(step, x, y)

    monkeypatch.setattr(trainer, "train_step", interrupt_at_13)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    run = open_run(tmp_path, "cut")  # raised mid-step (not a signal): nothing of step 13 may be checkpointed
    assert run.status == "interrupted" and "stopped at once during step 13" in run.meta["error"]
    assert load_checkpoint(run.path)["step"] == 12 // cfg.checkpoint_every * cfg.checkpoint_every
    Trainer(None, tmp_path, "cut", resume=True, progress=False).run()
    resumed = open_run(tmp_path, "cut")
    assert resumed.status == "finished"
    np.testing.assert_allclose(final_proxies(resumed), final_proxies(reference), rtol=1e-6, atol=1e-7)
    cols = ["loss", "grad_norm/total"]
    np.testing.assert_allclose(resumed.scalars()[cols].to_numpy(), reference.scalars()[cols].to_numpy(), rtol=1e-6)


def _wait_for_step(store, name, step, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = open_run(store, name)
            if run.progress.step is not None and run.progress.step >= step:
                return
        except ValueError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"run {name} did not reach step {step}")


def _train_cmd(store, name, steps, extra=()):
    return [sys.executable, "-m", "proxylab", "train", "--store", str(store), "--name", name, "--no-progress",
            "--set", "data_params={\"num_classes\": 4, \"modes_per_class\": 2, \"samples_per_mode\": 40}",
            "--data", "synthetic", "--model", "linear", "--embedding-dim", "6", "--split", "per-sample",
            "--classes-per-batch", "4", "--samples-per-class", "8", "--steps", str(steps), "--eval-every", "10",
            "--snapshot-points", "80", "--checkpoint-every", "10", "--lr", "0.01", *extra]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_cmd(tmp_path, "ref", 400), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_train_cmd(tmp_path, "kill", 400), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for_step(tmp_path, "kill", 120)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = open_run(tmp_path, "kill")
    assert killed.status == "interrupted"
    assert killed.progress.step < 400
    out = subprocess.run([sys.executable, "-m", "proxylab", "train", "--store", str(tmp_path), "--resume", "kill",
                          "--no-progress"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    resumed, ref = open_run(tmp_path, "kill"), open_run(tmp_path, "ref")
    assert resumed.status == "finished"
    np.testing.assert_allclose(final_proxies(resumed), final_proxies(ref), rtol=1e-5, atol=1e-6)
    assert list(resumed.scalars().index) == list(range(1, 401))


def test_sigint_stops_cleanly_and_marks_interrupted(tmp_path):
    proc = subprocess.Popen(_train_cmd(tmp_path, "ctrl-c", 100_000), env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_step(tmp_path, "ctrl-c", 20)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "stopped by the user (Ctrl-C) at step" in err and "--resume ctrl-c" in err and "Traceback" not in err
    run = open_run(tmp_path, "ctrl-c")
    assert run.status == "interrupted"
    assert load_checkpoint(run.path)["step"] == run.progress.step


def _poison_at(trainer, step_to_poison):
    trainer._current_step = 0
    forward = trainer.loss_fn.forward

    def poisoned(embeddings, labels):
        if trainer._current_step == step_to_poison:
            embeddings = embeddings * float("nan")
        return forward(embeddings, labels)

    original_step = trainer.train_step

    def step(step, x, y):
        trainer._current_step = step
        return original_step(step, x, y)

    trainer.loss_fn.forward = poisoned
    trainer.train_step = step


def test_nan_stops_the_run_with_a_clear_message(tmp_path):
    trainer = Trainer(TrainConfig.from_dict(TINY), tmp_path, "nan", progress=False)
    _poison_at(trainer, 5)
    with pytest.raises(TrainingError, match="non-finite loss or gradient at step 5"):
        trainer.run()
    run = open_run(tmp_path, "nan")
    assert run.status == "failed" and "step 5" in run.meta["error"]
    assert list(run.scalars().index) == [1, 2, 3, 4]  # nothing non-finite was written
    assert non_finite_rows(run) == {"scalars": [], "evals": []}  # nor a NaN, which would read back as missing
    for step in run.snapshot_steps():
        assert np.isfinite(run.snapshot(step).embeddings).all()


def test_nan_skip_policy_skips_the_step_and_goes_on(tmp_path):
    trainer = Trainer(TrainConfig.from_dict({**TINY, "nan_policy": "skip"}), tmp_path, "skip", progress=False)
    _poison_at(trainer, 5)
    trainer.run()
    run = open_run(tmp_path, "skip")
    assert run.status == "finished"
    scalars = run.scalars()
    assert scalars.loc[5, "skipped_nonfinite"] == 1.0
    assert non_finite_rows(run) == {"scalars": [], "evals": []} and len(scalars) == 24
    assert np.isfinite(scalars.drop(index=5)["loss"]).all()
    assert np.isfinite(final_proxies(run)).all()


def test_warmup_freezes_the_backbone_only(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "model": "mlp", "warmup_epochs": 1.0, "steps": 12})
    trainer = Trainer(cfg, tmp_path, "warm", progress=False)
    assert trainer.warmup_steps >= 2
    before = [p.detach().clone() for p in trainer.model.backbone.parameters()]
    head_before = [p.detach().clone() for p in trainer.model.head.parameters()]
    original = trainer.train_step
    seen = {}

    def spy(step, x, y):
        out = original(step, x, y)
        if step == trainer.warmup_steps:
            seen["backbone"] = all(torch.equal(a, b) for a, b in zip(before, trainer.model.backbone.parameters()))
            seen["head"] = not all(torch.equal(a, b) for a, b in zip(head_before, trainer.model.head.parameters()))
        return out

    trainer.train_step = spy
    trainer.run()
    assert seen == {"backbone": True, "head": True}
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.model.backbone.parameters()))


def test_zero_shot_snapshot_labels_follow_the_train_classes(tmp_path):
    run = train(tmp_path, "zs", split="zero-shot", data_params={"num_classes": 6, "modes_per_class": 2,
                                                                 "samples_per_mode": 30}, classes_per_batch=3)
    names = run.meta["dataset"]["snapshot_class_names"]
    snap = run.snapshot(run.snapshot_steps()[-1])
    train_labels, test_labels = set(snap.labels[snap.split == 0]), set(snap.labels[snap.split == 1])
    assert not train_labels & test_labels and max(test_labels) < len(names)
    assert snap.proxies.shape[0] == run.meta["dataset"]["num_train_classes"] == 3
    test_metrics = set(run.evals().query("split == 'test'")["metric"])
    assert "R@1" in test_metrics and "mode_coverage" not in test_metrics  # unseen classes have no proxies


def test_triplet_trains_without_proxies(tmp_path):
    run = train(tmp_path, "tri", loss="triplet")
    assert run.status == "finished" and final_proxies(run) is None
    assert "proxy/mean_cos" not in run.scalars().columns


@pytest.mark.parametrize("changes, message", [
    ({"loss": "nope"}, "unknown loss 'nope'"),
    ({"loss": "triplet", "so_weight": 0.1}, "so_weight must be 0"),
    ({"loss_params": {"alpha": -1.0}}, "alpha must be"),
])
def test_bad_configs_fail_before_anything_is_written(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        Trainer(TrainConfig.from_dict({**TINY, **changes}), tmp_path, "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_tags_go_to_run_json_and_a_bad_tag_is_refused_before_anything_is_written(tmp_path):
    from proxylab.train import TrainConfig, Trainer

    cfg = TrainConfig(steps=2, eval_every=2, snapshot_points=20, num_snapshots=2)
    Trainer(cfg, tmp_path, "tagged", progress=False, tags=["coverage/multi", "usage"]).run()
    assert open_run(tmp_path, "tagged").meta["tags"] == ["coverage/multi", "usage"]
    with pytest.raises(ValueError, match="tags must be 1-100 characters .* got 'two words'"):
        Trainer(cfg, tmp_path, "bad", progress=False, tags=["two words"])
    assert not (tmp_path / "bad").exists()
