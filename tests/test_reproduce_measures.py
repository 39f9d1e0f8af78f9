"""The reproduce report's leaf measures against independent computations: closed forms on synthetic runs written
to a real store, and plain-numpy re-implementations written here (never the code under test)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from proxylab.reproduce import measures
from proxylab.reproduce.measures import OPS, convergence, evaluate_expr, gradient_elasticity, measure, reach
from proxylab.store import RunWriter, open_run

pytestmark = pytest.mark.usefixtures("one_thread")


def write_run(store, name, config=None, evals=(), scalars=None, vectors=None):
    """A finished run holding exactly the given rows: ``evals`` (step, split, metric, value), ``scalars``
    {step: {key: value}}, ``vectors`` {step: {key: array}}."""
    with RunWriter.create(store, name, {"config": config or {}}) as w:
        for step, split, metric, value in evals:
            w.log_eval(step, split, {metric: value})
        for step, row in (scalars or {}).items():
            w.log_scalars(step, row)
        for step, row in (vectors or {}).items():
            w.log_vectors(step, row)
        w.set_status("finished")
    return open_run(store, name)


def curve_run(store, name, steps, values, step_seconds=None):
    evals = [(int(s), "test", "R@1", float(v)) for s, v in zip(steps, values)]
    evals += [(int(s), "train", "R@1", 1.0) for s in steps]  # another split must be ignored
    scalars = {s: {"time/step": t} for s, t in (step_seconds or {}).items()}
    return write_run(store, name, evals=evals, scalars=scalars)


# -- steps to a fraction of the final value, and to a fixed target -------------------------------------------------
TAU, EVERY, LAST = 37.0, 10, 200  # R@1(s) = A (1 − e^{−s/τ}), evaluated at s = 0, 10, …, 200
EVAL_STEPS = np.arange(0, LAST + 1, EVERY)


def first_grid_step_after(s_star: float) -> int:
    """No interpolation (measures.convergence): the first evaluated step whose value reaches the target."""
    return int(EVERY * math.ceil(s_star / EVERY))


def test_steps_to_90_percent_of_the_final_value_of_a_saturating_curve(tmp_path):
    a = 0.8
    run = curve_run(tmp_path, "c", EVAL_STEPS, a * (1 - np.exp(-EVAL_STEPS / TAU)))
    final = a * (1 - math.exp(-LAST / TAU))
    s_star = -TAU * math.log(1 - 0.9 * final / a)  # closed-form crossing of 0.9 × final, ≈ 82.6
    assert convergence(run, "R@1", 0.9, "steps") == first_grid_step_after(s_star) == 90
    assert measure(run, "conv/R@1/0.9/steps") == 90
    s_half = -TAU * math.log(1 - 0.5 * final / a)
    assert measure(run, "conv/R@1/0.5/steps") == first_grid_step_after(s_half) == 30


def test_steps_to_90_percent_of_the_gain_from_step_0(tmp_path):
    start, gain = 0.3, 0.6
    run = curve_run(tmp_path, "g", EVAL_STEPS, start + gain * (1 - np.exp(-EVAL_STEPS / TAU)))
    # target = start + 0.9 (final − start); of the final value alone 0.9 × final would be reached much earlier
    s_star = -TAU * math.log(1 - 0.9 * (1 - math.exp(-LAST / TAU)))
    assert measure(run, "conv/R@1/0.9/steps_gain") == first_grid_step_after(s_star) == 90
    s_of_final = -TAU * math.log(1 - (0.9 * (start + gain * (1 - math.exp(-LAST / TAU))) - start) / gain)
    assert measure(run, "conv/R@1/0.9/steps") == first_grid_step_after(s_of_final) == 70


def test_a_curve_that_touches_the_target_early_counts_its_first_crossing(tmp_path):
    values = np.array([0.1, 0.2, 0.95, 0.4, 0.5, 0.6, 0.9, 1.0])  # a spike at step 20 reaches 0.9 × 1.0
    steps = np.arange(len(values)) * 10
    run = curve_run(tmp_path, "s", steps, values)
    assert measure(run, "conv/R@1/0.9/steps") == 20
    assert measure(run, "reach/R@1/0.55/steps") == 20
    assert measure(run, "reach/R@1/0.97/steps") == 70


def test_the_fraction_is_of_the_final_value_not_of_the_best(tmp_path):
    run = curve_run(tmp_path, "p", [0, 10, 20, 30, 40, 50], [0.1, 0.5, 0.7, 1.0, 0.8, 0.75])  # peaks, then declines
    assert measure(run, "conv/R@1/0.9/steps") == 20  # 0.9 × 0.75 = 0.675 (0.9 × the peak would be step 30)


def test_seconds_to_a_target_are_the_summed_step_times_up_to_the_hit(tmp_path):
    seconds = {s: 0.01 * s for s in range(1, LAST + 1)}  # step s took s/100 s
    run = curve_run(tmp_path, "t", EVAL_STEPS, 0.8 * (1 - np.exp(-EVAL_STEPS / TAU)), seconds)
    hit = 90
    assert measure(run, "conv/R@1/0.9/seconds") == pytest.approx(0.01 * hit * (hit + 1) / 2)
    target = 0.8 * (1 - math.exp(-150 / TAU))  # reached exactly at the evaluated step 150
    assert measure(run, f"reach/R@1/{target!r}/steps") == 150
    assert measure(run, f"reach/R@1/{target!r}/seconds") == pytest.approx(0.01 * 150 * 151 / 2)


def test_a_target_never_reached_is_nan_not_the_first_step(tmp_path):
    run = curve_run(tmp_path, "n", EVAL_STEPS, 0.8 * (1 - np.exp(-EVAL_STEPS / TAU)))
    assert math.isnan(reach(run, "R@1", 0.81, "steps"))
    assert math.isnan(measure(run, "reach/R@1/0.81/seconds"))
    assert math.isnan(measure(run, "conv/MAP@R/0.9/steps"))  # a metric the run never logged


# -- gradient elasticity ---------------------------------------------------------------------------------------------
def counts_with_spread(steps, classes, seed=0):
    """(T, C) per-class batch counts 0..16 (0 = class absent from that batch)."""
    return np.random.default_rng(seed).integers(0, 17, size=(steps, classes))


def least_squares_slope(x, y):
    """cov(x, y) / var(x): the slope of the ordinary least-squares line."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


def sampler_like_counts(steps, seed=0):
    """(T, 5) batch counts as the sampler draws them: the same profile (16, 8, 4, 2 and one class absent) in a new
    class order every step, so that every step has the same mean log n_c."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation([16, 8, 4, 2, 0]) for _ in range(steps)])


@pytest.mark.parametrize("exponent", [-1.0, -0.3, 0.0, 0.5])
def test_elasticity_of_a_power_law_is_its_exponent(tmp_path, monkeypatch, exponent):
    t, k = 12, 3
    counts = sampler_like_counts(t)
    monkeypatch.setattr(measures, "batch_class_counts", lambda run: counts)
    logged = np.arange(2, t + 1, 2)  # logged at steps 2, 4, …: step s used the batch counts[s - 1]
    n = counts[logged - 1].astype(float)  # (T', C)
    present = n > 0
    size = np.linspace(1.0, 3.0, len(logged))[:, None]  # the gradients' overall size changes from step to step
    power = np.where(present, np.where(present, n, 1.0) ** exponent, 0.0)  # n_c^e, 0 for an absent class
    class_grad = size * power * n  # each sample's ‖∂L/∂f(x)‖ ∝ n_c^e; the logged vector is the class's sum
    proxy_grad = np.repeat(2.0 * size * power * n / k, k, axis=1)  # the class's K proxies ∝ n_c^(e+1) in all
    run = write_run(tmp_path, "e", vectors={int(s): {"class_grad": class_grad[i], "proxy_grad": proxy_grad[i]}
                                            for i, s in enumerate(logged)})
    assert gradient_elasticity(run, "sample") == pytest.approx(exponent, abs=1e-5)
    assert measure(run, "elasticity/proxy") == pytest.approx(exponent + 1, abs=1e-5)


def test_elasticity_with_noise_equals_a_pooled_least_squares_fit(tmp_path, monkeypatch):
    t, c = 20, 6
    counts = counts_with_spread(t, c, seed=3)
    monkeypatch.setattr(measures, "batch_class_counts", lambda run: counts)
    rng = np.random.default_rng(4)
    n = counts.astype(float)
    class_grad = np.where(n > 0, n ** 0.7 * np.exp(rng.normal(0, 0.3, n.shape)), 0.0)
    run = write_run(tmp_path, "e", vectors={s + 1: {"class_grad": class_grad[s]} for s in range(t)})
    stored = class_grad.astype(np.float32).astype(float)  # vectors are stored as float32
    present = n > 0
    expected = least_squares_slope(np.log(n[present]), np.log(stored[present] / n[present]))
    assert gradient_elasticity(run, "sample") == pytest.approx(expected, abs=1e-9)
    assert abs(expected - (0.7 - 1)) < 0.15  # the fit finds the exponent through the noise


def test_elasticity_without_spread_in_the_counts_is_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(measures, "batch_class_counts", lambda run: np.full((4, 3), 8))
    run = write_run(tmp_path, "e", vectors={s: {"class_grad": np.ones(3)} for s in range(1, 5)})
    assert math.isnan(gradient_elasticity(run, "sample"))


def test_batch_class_counts_are_the_batches_the_trainer_trained_on(tmp_path):
    from proxylab.train import TrainConfig, Trainer

    cfg = TrainConfig.from_dict(dict(
        data="synthetic", data_params={"num_classes": 5, "modes_per_class": 2, "samples_per_mode": 30},
        model="linear", embedding_dim=4, split="per-sample", classes_per_batch=4, samples_per_class=8,
        imbalance=4.0, steps=9, eval_every=100, snapshot_points=40, num_snapshots=1, checkpoint_every=100,
        full_logging=False, seed=5))
    trainer = Trainer(cfg, tmp_path, "r", progress=False)
    seen = []
    train_step = trainer.train_step

    def recording(step, x, y):
        seen.append(np.bincount(y.numpy(), minlength=5))
        return train_step(step, x, y)

    trainer.train_step = recording
    trainer.run()
    counts = measures.batch_class_counts(open_run(tmp_path, "r"))
    np.testing.assert_array_equal(counts, np.stack(seen))
    assert len(set(counts[counts > 0].tolist())) > 1  # imbalanced: the counts differ within batches


# -- vector statistics, scalar reductions, evaluations ---------------------------------------------------------------
def gini_mean_abs_difference(v):
    v = np.asarray(v, float)
    return float(np.abs(v[:, None] - v[None, :]).sum() / (2 * v.size ** 2 * v.mean()))


def test_vector_statistics_average_a_brute_force_statistic_over_steps(tmp_path):
    rng = np.random.default_rng(7)
    rows = rng.gamma(1.5, size=(5, 20)).astype(np.float32)
    rows[1, 3] = np.nan  # e.g. a sub-proxy usage of an absent class: dropped from that step
    rows[2] = 0.0  # an all-zero step has no concentration: left out of the average
    run = write_run(tmp_path, "v", vectors={s + 1: {"proxy_grad": rows[s]} for s in range(5)})

    def top_decile_share(v):
        return float(np.sort(v)[-max(1, round(0.1 * v.size)):].sum() / v.sum())

    for stat, ref in (("gini", gini_mean_abs_difference), ("top10", top_decile_share),
                      ("cv", lambda v: float(np.sqrt(np.mean((v - v.mean()) ** 2)) / v.mean()))):
        per_step = [ref(r[np.isfinite(r)].astype(float)) for i, r in enumerate(rows) if i != 2]
        assert measure(run, f"vector/proxy_grad/{stat}") == pytest.approx(np.mean(per_step), rel=1e-6), stat
    assert gini_mean_abs_difference(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)  # the reference itself


def test_scalar_reductions_and_evaluation_leaves(tmp_path):
    loss = {s: 10.0 / s for s in range(1, 31)}
    scalars = {s: {"loss": v} for s, v in loss.items()}
    scalars[31] = {"other": 1.0}  # a step without the key: not a value of the series
    evals = [(0, "test", "R@1", 0.2), (10, "test", "R@1", 0.5), (20, "test", "R@1", 0.7), (20, "train", "R@1", 0.9)]
    run = write_run(tmp_path, "s", evals=evals, scalars=scalars)
    values = np.array([loss[s] for s in range(1, 31)])
    expected = {"tail20": values[-20:].mean(), "head5": values[:5].mean(), "mean": values.mean(),
                "max": values.max(), "sum": values.sum()}
    for red, value in expected.items():
        assert measure(run, f"scalar/loss/{red}") == pytest.approx(value), red
    assert measure(run, "eval/test/R@1/last") == 0.7
    assert measure(run, "eval/test/R@1/10") == 0.5
    assert measure(run, "eval/train/R@1/last") == 0.9
    assert math.isnan(measure(run, "eval/test/R@1/15"))
    with pytest.raises(ValueError, match="unknown scalar reduction"):
        measure(run, "scalar/loss/median")


# -- the ledger's operations -------------------------------------------------------------------------------------------
def kendall_tau_a(a, b):
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs) / len(pairs)


def test_rank_correlation_matches_counting_concordant_pairs():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=9), rng.normal(size=9)  # no ties: τ-b = τ-a
    leaf = {f"a{i}": x for i, x in enumerate(a)} | {f"b{i}": x for i, x in enumerate(b)}
    expr = ["kendall", [["leaf", f"a{i}", ""] for i in range(9)], [["leaf", f"b{i}", ""] for i in range(9)]]
    assert evaluate_expr(expr, lambda run, spec: leaf[run]) == pytest.approx(kendall_tau_a(a, b))
    const = ["kendall", [["const", 1.0, "x"]] * 3, [["const", float(i), "x"] for i in range(3)]]
    assert math.isnan(evaluate_expr(const, None))  # a constant score ranks nothing


def test_ledger_operations():
    nan = float("nan")
    assert OPS["mean"](1.0, nan, 3.0) == 2.0 and OPS["std"](1.0, nan, 3.0) == pytest.approx(math.sqrt(2))
    assert math.isnan(OPS["std"](1.0, nan))  # one value has no spread
    assert OPS["hypot"](3.0, nan) == 3.0 and OPS["hypot"](3.0, 4.0) == 5.0
    assert math.isnan(OPS["ratio"](1.0, 0.0)) and OPS["ratio"](3.0, 2.0) == 1.5
    assert OPS["count_ge"](0.0, 5.0, nan, 0.0, -1.0) == 2.0
