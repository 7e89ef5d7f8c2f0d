"""The power simulator against the two-proportion power formula, exact enumeration and its
own contract (reproducible, monotone, clear errors)."""

import numpy as np
import pandas as pd
import pytest
from analysis_studies import simulate_study
from scipy import stats

from studies.analysis import (
    PowerDesign,
    design_from_accuracy,
    estimate_from_trials,
    parse_accuracy,
    parse_counts,
    plot_power,
    required_participants,
    save_figure,
    simulate_power,
)
from studies.analysis.comparisons import pooled_tests
from studies.analysis.power import marginal_intercept, simulate_correct_counts

SIMULATIONS = 20_000
MC_SIGMAS = 4  # |simulated - true| > 4 Monte Carlo SE happens with probability 6e-5
# (accuracy a, accuracy b, participants per cell, items per participant): pooled trials per
# cell = participants × items, from 60 to 300
SETTINGS = [(0.6, 0.75, 10, 10), (0.7, 0.85, 8, 10), (0.3, 0.4, 30, 10), (0.4, 0.55, 50, 4)]


def _two_cells(a: float, b: float, **settings) -> PowerDesign:
    return PowerDesign(
        accuracy={("g", "A"): a, ("g", "B"): b}, conditions=("A", "B"), groups=("g",), **settings
    )


def _analytic_power(p1: float, p2: float, trials: int, alpha: float = 0.05) -> float:
    """Two-proportion power with continuity correction (Fleiss, Tytun & Ury 1980): the
    uncorrected normal-approximation power at the equivalent size (N - 1/|d|)² / N per group
    (inverting their n' = n/4 (1 + sqrt(1 + 4/(n|d|)))²), the power of the Yates test."""
    d, mean = abs(p1 - p2), (p1 + p2) / 2
    n = (trials - 1 / d) ** 2 / trials
    z = stats.norm.ppf(1 - alpha / 2)
    null_sd, alt_sd = np.sqrt(2 * mean * (1 - mean)), np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return float(
        stats.norm.cdf((d * np.sqrt(n) - z * null_sd) / alt_sd)
        + stats.norm.cdf((-d * np.sqrt(n) - z * null_sd) / alt_sd)
    )


def _exact_power(p1: float, p2: float, trials: int, alpha: float = 0.05) -> float:
    """P(pooled test rejects) summed over every pair of binomial outcomes."""
    outcomes = np.arange(trials + 1)
    a, b = np.meshgrid(outcomes, outcomes, indexing="ij")
    rejects = pooled_tests(a, trials, b, trials)[3] < alpha
    weights = np.outer(stats.binom.pmf(outcomes, trials, p1), stats.binom.pmf(outcomes, trials, p2))
    return float((weights * rejects).sum())


@pytest.fixture(scope="module")
def pooled_power():
    """Simulated pooled-trials power without participant or item effects: every trial is an
    independent Bernoulli draw, so a cell's pooled count is Binomial(participants × items, p),
    the two-proportion setting exactly; with one pair, Holm's correction changes nothing."""
    found = {}
    for a, b, n, items in SETTINGS:
        table = simulate_power(_two_cells(a, b, items=items), [n], simulations=SIMULATIONS, seed=1)
        found[(a, b, n, items)] = table.set_index("test").loc["pooled"]
    return found


@pytest.mark.parametrize("setting", SETTINGS)
def test_pooled_power_agrees_with_the_analytic_two_proportion_formula(pooled_power, setting):
    a, b, n, items = setting
    row = pooled_power[setting]
    analytic = _analytic_power(a, b, n * items)
    formula_error = abs(analytic - _exact_power(a, b, n * items))
    tolerance = MC_SIGMAS * row["mc_se"] + formula_error  # noise + the formula's approximation
    assert tolerance <= 0.02
    assert abs(row["power"] - analytic) <= tolerance


@pytest.mark.parametrize("setting", SETTINGS)
def test_pooled_power_matches_exact_enumeration_within_monte_carlo_error(pooled_power, setting):
    a, b, n, items = setting
    row = pooled_power[setting]
    assert abs(row["power"] - _exact_power(a, b, n * items)) <= MC_SIGMAS * row["mc_se"]


def test_simulated_accuracy_is_the_assumed_marginal_accuracy():
    design = _two_cells(0.7, 0.9, items=6, pool=12, participant_sd=0.8, item_sd=0.8)
    counts = simulate_correct_counts(design, 50, 4000, np.random.default_rng(0))
    for cell, accuracy in design.accuracy.items():
        shares = counts[cell].mean(axis=1) / design.items  # one share per simulated study
        se = shares.std(ddof=1) / np.sqrt(len(shares))
        assert abs(shares.mean() - accuracy) <= MC_SIGMAS * se
    assert marginal_intercept(0.7, 0.0) == pytest.approx(np.log(0.7 / 0.3))
    assert marginal_intercept(0.7, 1.5) > marginal_intercept(0.7, 0.0)  # shrinks to 1/2


def test_power_increases_with_participants_per_cell():
    design = _two_cells(0.6, 0.75, items=8, pool=10, participant_sd=0.5, item_sd=0.5)
    table = simulate_power(design, [5, 10, 20, 40, 80], simulations=2000, seed=2)
    for _, rows in table.groupby("test"):
        power = rows["power"].to_numpy()
        assert (np.diff(power) > 0).all(), power
        assert power[-1] > 0.9 and power[0] < 0.5


def test_welch_keeps_its_level_where_pooled_trials_do_not():
    """Equal accuracies with a participant effect: Welch's t on participant means rejects at
    about alpha, the pooled test (which treats a participant's trials as independent) far
    more often. This is why Welch's t is the planned test."""
    design = _two_cells(0.7, 0.7, items=10, participant_sd=1.0)
    table = simulate_power(design, [20], simulations=4000, seed=0).set_index("test")
    welch, pooled = table.loc["welch_t"], table.loc["pooled"]
    assert abs(welch["power"] - 0.05) <= MC_SIGMAS * welch["mc_se"]
    assert pooled["power"] > 0.05 + 10 * pooled["mc_se"]


def test_seeded_runs_are_reproducible_and_each_n_stands_alone():
    design = _two_cells(0.6, 0.7, items=5, participant_sd=0.3, item_sd=0.3)
    first = simulate_power(design, [10, 30], simulations=300, seed=7)
    pd.testing.assert_frame_equal(first, simulate_power(design, [10, 30], simulations=300, seed=7))
    other_seed = simulate_power(design, [10, 30], simulations=300, seed=8)
    assert not first["power"].equals(other_seed["power"])
    alone = simulate_power(design, [30], simulations=300, seed=7)
    np.testing.assert_array_equal(
        alone["power"], first.loc[first["n_per_cell"] == 30, "power"].to_numpy()
    )


def test_holm_within_group_across_the_planned_pairs():
    design = design_from_accuracy(
        {"A": 0.6, "B": 0.6, "C": 0.6}, conditions=["A", "B", "C"], groups=["g"], items=10
    )
    table = simulate_power(design, [30], simulations=3000, seed=4)
    assert len(table) == 3 * 2  # three pairs, two tests
    welch = table[table["test"] == "welch_t"]
    # under the null, the family-wise error of three Holm-corrected pairs stays <= alpha
    assert (welch["power"] <= 0.05 / 3 + MC_SIGMAS * welch["mc_se"]).all()


def test_required_participants_is_the_smallest_n_reaching_each_target():
    power = pd.DataFrame(
        {
            "group": "g",
            "condition_a": "A",
            "condition_b": "B",
            "test": "welch_t",
            "accuracy_a": 0.6,
            "accuracy_b": 0.7,
            "n_per_cell": [10, 20, 40, 80],
            "power": [0.3, 0.81, 0.85, 0.89],
        }
    )
    needed = required_participants(power).iloc[0]
    assert needed["n_80"] == 20 and pd.isna(needed["n_90"])


def test_group_specific_accuracies_override_the_condition_default():
    design = design_from_accuracy(
        parse_accuracy("swox=0.6, CWOX-2s=0.7, expert:cwox-2s=0.8"),
        conditions=["SWOX", "CWOX-2s"],
        groups=["expert", "novice"],
        aliases={"cwox-2s": "CWOX-2s"},
    )
    assert design.accuracy == {
        ("expert", "SWOX"): 0.6,
        ("novice", "SWOX"): 0.6,
        ("expert", "CWOX-2s"): 0.8,
        ("novice", "CWOX-2s"): 0.7,
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: _two_cells(0.0, 0.7), r"accuracy of g:A must lie strictly between 0 and 1"),
        (lambda: _two_cells(0.6, 1.2), r"accuracy of g:B must lie strictly between 0 and 1"),
        (
            lambda: design_from_accuracy({"A": 0.6, "Z": 0.7}, conditions=["A", "B"], groups=["g"]),
            r"unknown condition 'Z'; expected one of A, B",
        ),
        (
            lambda: design_from_accuracy({"A": 0.6}, conditions=["A", "B"], groups=["g"]),
            r"no value for g:B",
        ),
        (
            lambda: design_from_accuracy({"x:A": 0.6}, conditions=["A", "B"], groups=["g"]),
            r"unknown group 'x'",
        ),
        (lambda: simulate_power(_two_cells(0.6, 0.7), [1, 10]), r"needs >= 2 participants"),
        (lambda: simulate_power(_two_cells(0.6, 0.7), [10, 10]), r"repeats a value"),
        (lambda: simulate_power(_two_cells(0.6, 0.7), [10], simulations=0), r"simulations"),
        (lambda: _two_cells(0.6, 0.7, items=0), r"items must be >= 1"),
        (lambda: _two_cells(0.6, 0.7, items=5, pool=3), r"pool must be >= items"),
        (lambda: _two_cells(0.6, 0.7, item_sd=-0.1), r"item_sd must be >= 0"),
        (lambda: parse_accuracy("swox:0.6"), r"'swox:0.6' is not NAME=NUMBER"),
        (lambda: parse_accuracy("a=0.6,a=0.7"), r"'a' is given twice"),
        (lambda: parse_counts("10,abc"), r"'abc' is not a whole number"),
    ],
)
def test_bad_inputs_get_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_estimates_from_a_pilot(tmp_path):
    trials, participants = simulate_study(
        np.random.default_rng(6), {("g", "A"): (10, 0.6), ("g", "B"): (10, 1.0)}, n_items=8
    )
    test = trials[(trials["block"] == "test") & ~trials["is_attention_check"]]
    estimate = estimate_from_trials(
        test.assign(correct=test["correct"].astype(bool)), conditions=["A", "B"], groups=["g"]
    )
    correct_a = int(test.loc[test["condition"] == "A", "correct"].sum())
    assert estimate.accuracy[("g", "A")] == pytest.approx((correct_a + 0.5) / 81)
    assert estimate.accuracy[("g", "B")] == pytest.approx(80.5 / 81)  # all right: inside (0, 1)
    assert estimate.trials == {("g", "A"): 80, ("g", "B"): 80}
    assert estimate.participant_sd is not None and estimate.participant_sd >= 0
    design = design_from_accuracy(
        {f"{g}:{c}": v for (g, c), v in estimate.accuracy.items()},
        conditions=["A", "B"],
        groups=["g"],
        items=8,
        participant_sd=estimate.participant_sd,
        item_sd=estimate.item_sd,
    )
    power = simulate_power(design, [5, 10], simulations=200)
    figure = plot_power(power)
    assert [axes.get_title() for axes in figure.axes] == ["g"]
    assert len(figure.legends) == 1 and figure.axes[0].get_legend() is None
    png, svg = save_figure(figure, tmp_path / "power")
    assert png.stat().st_size > 5000 and svg.exists()
