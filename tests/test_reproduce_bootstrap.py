"""Bootstrap intervals over seeds (E1, E5 verdicts): deterministic, cover the truth, and a verdict follows the
interval, not the sign."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from proxylab.reproduce.analysis import _interval_verdict
from proxylab.reproduce.bootstrap import mean_interval, seed_pair_taus, tau_gain_interval, weighted_pair_means
from proxylab.reproduce.measures import Q, evaluate_expr


def q(x):
    return Q(x, ["const", x, "test"])


def test_mean_interval_is_deterministic_given_the_seed():
    values = np.random.default_rng(0).normal(size=6)
    assert mean_interval(values, 0.95, 3, 2000) == mean_interval(values, 0.95, 3, 2000)
    assert mean_interval(values, 0.95, 3, 2000) != mean_interval(values, 0.95, 4, 2000)


def test_mean_interval_equals_a_plain_resampling_loop():
    values = np.array([0.3, -0.1, 0.5, 0.2, 0.05])
    draws = np.random.default_rng(11).integers(0, 5, size=(4000, 5))
    reference = np.quantile([values[d].mean() for d in draws], [0.05, 0.95])
    assert mean_interval(values, 0.9, 11, 4000) == pytest.approx(tuple(reference))
    assert mean_interval(np.r_[values, np.nan], 0.9, 11, 4000) == pytest.approx(tuple(reference))  # NaN left out
    assert all(math.isnan(b) for b in mean_interval([1.0], 0.9, 0, 100))


def test_mean_interval_covers_the_true_mean_at_about_its_level():
    rng = np.random.default_rng(1)
    true_mean, trials = 0.4, 300
    covered = 0
    for t in range(trials):
        lo, hi = mean_interval(rng.normal(true_mean, 1.0, size=30), 0.9, t, 1000)
        covered += lo <= true_mean <= hi
    assert 0.84 <= covered / trials <= 0.96  # nominal 0.9; a binomial sd of 300 trials is 0.017


@pytest.mark.parametrize("level, resamples", [(0.0, 10), (1.0, 10), (0.9, 0)])
def test_bad_parameters_are_one_line_errors(level, resamples):
    with pytest.raises(ValueError, match=r"(level must be in \(0, 1\)|resamples must be >= 1), got"):
        mean_interval([1.0, 2.0], level, 0, resamples)


def test_the_verdict_flips_when_the_same_effect_is_within_the_noise():
    rng = np.random.default_rng(2)
    effect = 0.05
    tight = effect + rng.normal(0, 0.01, size=5)  # seed-to-seed spread far below the effect
    noisy = tight.mean() + (tight - tight.mean()) * 10  # the same mean, ten times the spread
    assert np.mean(noisy) == pytest.approx(np.mean(tight))
    lo, hi = mean_interval(tight, 0.95, 0, 5000)
    assert _interval_verdict(q(lo), q(hi)) == "**held**"
    lo, hi = mean_interval(noisy, 0.95, 0, 5000)
    assert lo < 0 < hi and _interval_verdict(q(lo), q(hi)).startswith("**inconclusive**")
    lo, hi = mean_interval(-tight, 0.95, 0, 5000)
    assert _interval_verdict(q(lo), q(hi)).startswith("**did not hold**")
    assert _interval_verdict(q(float("nan")), q(1.0)).startswith("**could not be measured**")


def test_a_bootstrap_bound_is_a_ledger_expression_that_recomputes():
    diffs = [["const", v, "a per-seed difference"] for v in (0.1, 0.3, 0.2, 0.25)]
    params = [["const", 0.95, "level"], ["const", 7, "seed"], ["const", 500, "resamples"]]
    lo = evaluate_expr(["boot_mean", "lo", diffs, *params], None)
    hi = evaluate_expr(["boot_mean", "hi", diffs, *params], None)
    assert (lo, hi) == mean_interval([0.1, 0.3, 0.2, 0.25], 0.95, 7, 500)


# -- E5: the difference of mean Kendall τ between two metrics, resampling seeds ---------------------------------------
def kendall_tau_a(a, b):
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs) / len(pairs)


def test_seed_pair_taus_and_their_weighted_means_match_loops():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(2, 4, 6))  # 2 metrics, 4 seeds, 6 methods
    scores[1, 2] = 0.5  # a saturated metric under seed 2: no τ for its pairs
    tau = seed_pair_taus(scores)
    for m, i, j in itertools.product(range(2), range(4), range(4)):
        if i == j or (m == 1 and 2 in (i, j)):
            assert math.isnan(tau[m, i, j])
        else:
            assert tau[m, i, j] == pytest.approx(kendall_tau_a(scores[m, i], scores[m, j]))
    draw = np.array([0, 0, 2, 3])  # seed 0 twice, seed 1 never
    counts = np.bincount(draw, minlength=4)[None].astype(float)
    for m in range(2):  # τ over the pairs of resampled positions whose seeds differ
        pairs = [tau[m, a, b] for a, b in itertools.combinations(draw, 2) if a != b]
        assert weighted_pair_means(tau, counts)[0, m] == pytest.approx(np.nanmean(pairs))
    ones = np.ones((1, 4))
    assert weighted_pair_means(tau, ones)[0, 0] == pytest.approx(np.nanmean(tau[0]))  # no resampling: the plain mean


def synthetic_group(rng, seeds, methods, noise_stable, noise_unstable, metrics=3):
    """One group: the methods have true qualities; a 'stable' metric measures them with little seed noise, an
    'unstable' one with much."""
    quality = np.linspace(0, 1, methods)
    stable = quality + rng.normal(0, noise_stable, size=(metrics, seeds, methods))
    unstable = quality + rng.normal(0, noise_unstable, size=(metrics, seeds, methods))
    return stable, unstable


def test_tau_gain_interval_holds_for_a_real_gain():
    rng = np.random.default_rng(4)
    groups = [synthetic_group(rng, 5, m, 0.05, 1.0) for m in (6, 8, 4)]
    better, worse = [g[0] for g in groups], [g[1] for g in groups]
    lo, hi = tau_gain_interval(better, worse, 0.95, 0, 2000)
    assert lo > 0 and _interval_verdict(q(lo), q(hi)) == "**held**"
    assert (lo, hi) == tau_gain_interval(better, worse, 0.95, 0, 2000)  # deterministic


def test_tau_gain_interval_rarely_calls_a_difference_where_there_is_none():
    rng = np.random.default_rng(6)
    trials, called = 40, 0
    for t in range(trials):  # both metrics equally noisy: any verdict but inconclusive is a false one
        same = [synthetic_group(rng, 5, m, 0.4, 0.4) for m in (6, 8, 4)]
        lo, hi = tau_gain_interval([g[0] for g in same], [g[1] for g in same], 0.95, t, 500)
        called += not _interval_verdict(q(lo), q(hi)).startswith("**inconclusive**")
    # nominal 5 %; measured about 7 % over 100 trials (five seeds make the interval a little narrow)
    assert called / trials <= 0.2


def test_tau_gain_interval_contains_the_point_estimate_and_covers_the_expected_gain():
    rng = np.random.default_rng(5)
    groups = [synthetic_group(rng, 5, 7, 0.2, 0.6) for _ in range(3)]
    better, worse = [g[0] for g in groups], [g[1] for g in groups]

    def point(gs):  # the report's statistic without resampling
        return np.mean([np.nanmean([np.nanmean(t) for t in seed_pair_taus(g)]) for g in gs])

    estimate = point(better) - point(worse)
    lo, hi = tau_gain_interval(better, worse, 0.95, 1, 2000)
    assert lo <= estimate <= hi
    # the expected gain, from many independent replications of the experiment
    truth = np.mean([point([synthetic_group(np.random.default_rng(100 + r), 5, 7, 0.2, 0.6)[0]])
                     - point([synthetic_group(np.random.default_rng(100 + r), 5, 7, 0.2, 0.6)[1]])
                     for r in range(40)])
    assert lo <= truth <= hi


def test_tau_gain_interval_needs_three_seeds_and_equal_seed_counts():
    two = np.zeros((1, 2, 4)) + np.arange(4)
    assert all(math.isnan(b) for b in tau_gain_interval([two], [two], 0.9, 0, 10))
    with pytest.raises(ValueError, match="same number of seeds"):
        tau_gain_interval([np.zeros((1, 3, 4))], [np.zeros((1, 4, 4))], 0.9, 0, 10)
