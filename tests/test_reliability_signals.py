"""Ctrl-C and SIGTERM: training stops at a step boundary, the checkpoint holds whole steps, and a resumed run ends
exactly where the uninterrupted one does.

Before, the signal raised KeyboardInterrupt wherever it landed; landing after ``optimizer.step()`` but before the
step counter moved, the checkpoint held step n+1's update under label n and resume applied it twice.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from proxylab.store import open_run
from proxylab.train import TrainConfig, Trainer, TrainingStopped
from proxylab.train.checkpoint import load_checkpoint
from test_reliability_crash import (STEPS, _iso_seconds, check_resumed, final_state, reference_run, resume_cli,
                                    start_then_signal, write_config)

pytestmark = [pytest.mark.usefixtures("one_thread"),
              # the wrapped optimizer.step() (how the test lands a signal after the update) makes torch warn
              pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)` has been overridden")]


def signal_inside_optimizer_step(trainer: Trainer, at_call: int, signals: tuple[int, ...]) -> None:
    """Send ``signals`` to this process right after the ``at_call``-th real ``optimizer.step()`` (the moment
    that used to corrupt the checkpoint: parameters updated, step counter not yet moved)."""
    real_step, calls = trainer.optimizer.step, [0]

    def step(*args, **kwargs):
        out = real_step(*args, **kwargs)
        calls[0] += 1
        if calls[0] == at_call:
            for signum in signals:
                os.kill(os.getpid(), signum)
                time.sleep(0.01)  # let the handler run before the next signal
        return out

    trainer.optimizer.step = step


@pytest.mark.parametrize("signum, status_text", [(signal.SIGINT, "stopped by the user (Ctrl-C) at step 17"),
                                                 (signal.SIGTERM, "terminated (SIGTERM) at step 17")])
def test_a_signal_after_the_update_stops_after_that_step_and_resume_is_exact(tmp_path, signum, status_text):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference = reference_run(store, config)
    trainer = Trainer(TrainConfig.from_file(config), store, "stopped", progress=False)
    signal_inside_optimizer_step(trainer, at_call=17, signals=(signum,))
    with pytest.raises(TrainingStopped) as stop:
        trainer.run()
    assert (stop.value.step, stop.value.exit_code) == (17, 128 + signum)
    run = open_run(store, "stopped")
    assert (run.status, run.meta["error"]) == ("interrupted", status_text)
    assert run.meta["stop"] == {"signal": signal.Signals(signum).name, "step": 17}
    assert int(load_checkpoint(run.path)["step"]) == 17  # the update of step 17 is labelled 17
    Trainer(None, store, "stopped", resume=True, progress=False).run()
    check_resumed(store, "stopped", reference, final_state(reference))
    assert "stop" not in open_run(store, "stopped").meta  # the finished run no longer says it was stopped


def test_a_second_signal_stops_at_once_and_resume_starts_from_the_last_checkpoint(tmp_path):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference = reference_run(store, config)
    trainer = Trainer(TrainConfig.from_file(config), store, "twice", progress=False)
    signal_inside_optimizer_step(trainer, at_call=17, signals=(signal.SIGINT, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt) as stop:
        trainer.run()
    assert not isinstance(stop.value, TrainingStopped)
    run = open_run(store, "twice")
    assert run.status == "interrupted" and "stopped at once" in run.meta["error"]
    assert int(load_checkpoint(run.path)["step"]) == 15  # the last periodic checkpoint (every 3 steps)
    Trainer(None, store, "twice", resume=True, progress=False).run()
    check_resumed(store, "twice", reference, final_state(reference))


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference_run(store, config)
    before = (store / "reference" / "run.json").read_bytes()
    out = resume_cli(store, "reference")
    assert out.returncode == 2
    assert out.stderr.strip() == (f"proxylab: error: run reference already finished ({STEPS} steps); nothing to "
                                  "resume — train a new run to go further")
    assert (store / "reference" / "run.json").read_bytes() == before


def signal_at_random(store, name, config, delay_s: float, signum: int) -> subprocess.CompletedProcess:
    """Start the plain CLI trainer; send ``signum`` ``delay_s`` seconds after its run.json appeared."""
    proc = start_then_signal(store, name, config, delay_s, signum, output=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow  # ~24 trials × 2 CLI start-ups
@pytest.mark.timeout(2400)
def test_twenty_signals_at_random_moments_then_cli_resume_is_exact(tmp_path):
    config = write_config(tmp_path)
    store = tmp_path / "store"
    reference = reference_run(store, config)
    ref_state = final_state(reference)
    timing = signal_at_random(store, "timing", config, 60.0, signal.SIGINT)  # not signalled: it ends first
    assert timing.returncode == 0, timing.stderr
    meta = open_run(store, "timing").meta
    run_s = max(0.5, _iso_seconds(meta["updated"]) - _iso_seconds(meta["created"]))

    rng = random.Random(16)
    # over the first half of the run: a run's length varies by 2x on a busy machine, and a signal after the end tests
    # nothing
    trials = [(signal.SIGINT, rng.uniform(0.0, 0.5 * run_s)) for _ in range(20)]
    trials += [(signal.SIGTERM, rng.uniform(0.0, 0.5 * run_s)) for _ in range(4)]
    stopped = 0
    for i, (signum, delay) in enumerate(trials):
        name = f"s{i:02d}"
        out = signal_at_random(store, name, config, delay, signum)
        run = open_run(store, name)
        if run.status == "finished":  # the signal came after the last step (possibly while Python exited)
            assert out.returncode in (0, -signum, 128 + signum), (i, out.returncode, out.stderr)
        elif "stop" not in run.meta:  # the signal came between run.json's creation and the training loop
            assert run.progress.step == 0 and out.returncode in (130, -signum), (i, out.returncode, out.stderr)
            assert resume_cli(store, name).returncode == 0
        else:
            assert out.returncode == 128 + signum, (i, out.returncode, out.stderr)
            step = run.meta["stop"]["step"]
            assert int(load_checkpoint(run.path)["step"]) == step and run.progress.step == step
            assert f"--resume {name}" in out.stderr
            resumed = resume_cli(store, name)
            assert resumed.returncode == 0, (i, resumed.stderr)
            stopped += 1
        check_resumed(store, name, reference, ref_state)
    print(f"\nsignal trials: {len(trials)}, stopped mid-run and resumed: {stopped}")
    assert stopped >= 14  # most signals must land mid-run to count
