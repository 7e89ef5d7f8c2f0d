"""Intervals against scipy / statsmodels and a first-principles bootstrap; t coverage."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from studies.analysis import cluster_bootstrap_interval, t_interval, wilson_interval
from studies.analysis.intervals import bootstrap_estimates


@pytest.mark.parametrize(
    "values", [[0.5, 0.75, 0.25], [1.0, 1.0, 0.9, 0.8, 1.0], [3.2, 4.1], np.linspace(0, 1, 40)]
)
def test_t_interval_matches_scipy(values):
    interval = t_interval(values)
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert interval.estimate == pytest.approx(np.mean(values))
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.half_width == pytest.approx((high - low) / 2)


def test_t_interval_without_spread_or_enough_values():
    assert (t_interval([1.0, 1.0, 1.0]).low, t_interval([1.0, 1.0, 1.0]).high) == (1.0, 1.0)
    one = t_interval([0.75])
    assert one.estimate == 0.75 and np.isnan(one.low) and np.isnan(one.high)
    assert np.isnan(t_interval([]).estimate)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (57, 80), (1, 2)])
def test_wilson_interval_matches_statsmodels(successes, n):
    interval = wilson_interval(successes, n)
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert interval.estimate == pytest.approx(successes / n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)


def _slow_bootstrap_estimate(trials, column, participant_counts, item_counts):
    """Build the resampled data set trial by trial and average participant means."""
    participants = sorted(trials["participant"].unique())
    items = sorted(trials["item"].unique())
    means = []
    for participant, copies in zip(participants, participant_counts, strict=True):
        values = []
        for item, weight in zip(items, item_counts, strict=True):
            cell = trials[(trials["participant"] == participant) & (trials["item"] == item)]
            values += list(cell[column].astype(float)) * int(weight)
        if values:
            means += [np.mean(values)] * int(copies)
    return np.mean(means) if means else np.nan


def test_bootstrap_replicates_match_a_trial_by_trial_resample():
    rng = np.random.default_rng(3)
    trials = pd.DataFrame(
        {
            "participant": np.repeat(["p1", "p2", "p3", "p4"], [3, 4, 2, 4]),
            "item": ["i1", "i2", "i3", "i1", "i2", "i3", "i4", "i2", "i4", "i1", "i2", "i3", "i4"],
        }
    )
    trials["correct"] = rng.random(len(trials)) < 0.6
    participant_counts = rng.multinomial(4, [0.25] * 4, size=30)
    item_counts = rng.multinomial(4, [0.25] * 4, size=30)
    fast = bootstrap_estimates(trials, "correct", participant_counts, item_counts)
    slow = [
        _slow_bootstrap_estimate(trials, "correct", p, i)
        for p, i in zip(participant_counts, item_counts, strict=True)
    ]
    np.testing.assert_allclose(fast, slow, equal_nan=True)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(5)
    trials = pd.DataFrame(
        {
            "participant": np.repeat([f"p{k}" for k in range(12)], 8),
            "item": np.tile([f"i{k}" for k in range(8)], 12),
        }
    )
    trials["correct"] = rng.random(len(trials)) < 0.7
    first = cluster_bootstrap_interval(
        trials, "correct", resamples=500, rng=np.random.default_rng(1)
    )
    again = cluster_bootstrap_interval(
        trials, "correct", resamples=500, rng=np.random.default_rng(1)
    )
    other = cluster_bootstrap_interval(
        trials, "correct", resamples=500, rng=np.random.default_rng(2)
    )
    assert first == again
    assert first != other
    assert first.low < first.estimate < first.high
    assert first.estimate == pytest.approx(trials.groupby("participant")["correct"].mean().mean())


def test_bootstrap_needs_two_participants():
    trials = pd.DataFrame(
        {"participant": ["p"] * 3, "item": ["a", "b", "c"], "correct": [True, False, True]}
    )
    one = cluster_bootstrap_interval(trials, "correct", resamples=50, rng=np.random.default_rng(0))
    assert one.estimate == pytest.approx(2 / 3) and np.isnan(one.low) and np.isnan(one.high)


def test_t_interval_covers_the_true_accuracy_in_95_percent_of_studies():
    """2000 simulated studies, 15 participants × 16 trials, participant accuracies drawn from
    Beta(7, 3) (population mean 0.7). The Monte Carlo standard error of a 95% coverage over
    2000 studies is sqrt(0.95·0.05/2000) ≈ 0.005; the tolerance 0.015 is 3 standard errors,
    which also absorbs the small bias of a t-interval on 15 skewed, discrete means."""
    rng = np.random.default_rng(0)
    studies, participants, trials, truth = 2000, 15, 16, 0.7
    accuracies = rng.binomial(trials, rng.beta(7, 3, size=(studies, participants))) / trials
    covered = [
        interval.low <= truth <= interval.high
        for interval in (t_interval(row) for row in accuracies)
    ]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)
