"""Pairwise tests and effect sizes against scipy / statsmodels called on the same numbers."""

import itertools

import numpy as np
import pandas as pd
import pytest
from analysis_studies import Person, build_study, simulate_study
from scipy import stats
from statsmodels.stats.multitest import multipletests

from studies.analysis import analyse, cohens_d, cohens_h
from studies.analysis.comparisons import (
    ALL_TIED,
    FEW_PARTICIPANTS,
    NO_SPREAD,
    NO_TEST_REASONS,
    ONE_OUTCOME,
    ZERO_CELL,
    holm,
    pooled_tests,
    welch_test,
)

CONDITIONS = ["SWOX", "CWOX-1sB", "CWOX-2s"]


@pytest.fixture(scope="module")
def study():
    return simulate_study(
        np.random.default_rng(11),
        {
            ("expert", "SWOX"): (9, 0.45),
            ("expert", "CWOX-1sB"): (7, 0.57),
            ("expert", "CWOX-2s"): (8, 0.83),
            ("non-expert", "SWOX"): (5, 0.4),
            ("non-expert", "CWOX-1sB"): (1, 0.5),
            ("non-expert", "CWOX-2s"): (6, 0.75),
        },
        n_items=10,
    )


@pytest.fixture(scope="module")
def tables(study):
    return analyse(*study, conditions=CONDITIONS)


def _participant_values(study, group, condition, measure):
    trials, _ = study
    test = trials[
        (trials["block"] == "test")
        & ~trials["is_attention_check"]
        & (trials["group"] == group)
        & (trials["condition"] == condition)
    ]
    column = "correct" if measure == "accuracy" else "confidence"
    return test.groupby("participant")[column].apply(lambda s: s.astype(float).mean()).to_numpy()


def _rows(tables, group, measure, test):
    rows = tables.comparisons
    return rows[
        (rows["group"] == group)
        & (rows["measure"] == measure)
        & (rows["test"].isin(test if isinstance(test, list) else [test]))
    ]


@pytest.mark.parametrize("measure", ["accuracy", "confidence"])
def test_welch_and_mann_whitney_match_scipy_with_holm_across_pairs(study, tables, measure):
    welch = _rows(tables, "expert", measure, "welch_t").set_index(["condition_a", "condition_b"])
    mwu = _rows(tables, "expert", measure, "mann_whitney_u").set_index(
        ["condition_a", "condition_b"]
    )
    pairs = list(itertools.combinations(CONDITIONS, 2))
    assert list(welch.index) == pairs
    welch_p, mwu_p = [], []
    for a_name, b_name in pairs:
        a = _participant_values(study, "expert", a_name, measure)
        b = _participant_values(study, "expert", b_name, measure)
        t = stats.ttest_ind(a, b, equal_var=False)
        u = stats.mannwhitneyu(a, b, alternative="two-sided")
        row = welch.loc[(a_name, b_name)]
        assert (row["statistic"], row["df"], row["p_value"]) == pytest.approx(
            (t.statistic, t.df, t.pvalue)
        )
        assert row["mean_a"] - row["mean_b"] == pytest.approx(a.mean() - b.mean())
        assert row["n_participants_a"] == len(a)
        assert (
            mwu.loc[(a_name, b_name), "statistic"],
            mwu.loc[(a_name, b_name), "p_value"],
        ) == pytest.approx((u.statistic, u.pvalue))
        pairs_won = sum(float(x > y) + 0.5 * float(x == y) for x in a for y in b)
        assert mwu.loc[(a_name, b_name), "effect"] == pytest.approx(
            2 * pairs_won / (len(a) * len(b)) - 1
        )
        welch_p.append(t.pvalue)
        mwu_p.append(u.pvalue)
    np.testing.assert_allclose(welch["p_holm"], multipletests(welch_p, method="holm")[1])
    np.testing.assert_allclose(mwu["p_holm"], multipletests(mwu_p, method="holm")[1])


def test_cohens_d_and_its_noncentral_t_interval(study, tables):
    a = _participant_values(study, "expert", "SWOX", "accuracy")
    b = _participant_values(study, "expert", "CWOX-2s", "accuracy")
    pooled = np.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    d = (a.mean() - b.mean()) / pooled
    welch = _rows(tables, "expert", "accuracy", "welch_t")
    row = welch.set_index(["condition_a", "condition_b"]).loc[("SWOX", "CWOX-2s")]
    assert row["effect_size"] == "cohens_d"
    assert row["effect"] == pytest.approx(d)
    scale = np.sqrt(len(a) * len(b) / (len(a) + len(b)))
    df = len(a) + len(b) - 2
    # The bounds are the noncentralities at which the observed t sits at the 97.5th and
    # 2.5th percentile of the noncentral t distribution.
    assert stats.nct.cdf(d * scale, df, row["effect_ci_low"] * scale) == pytest.approx(0.975)
    assert stats.nct.cdf(d * scale, df, row["effect_ci_high"] * scale) == pytest.approx(0.025)


def test_cohens_d_interval_approaches_the_normal_approximation_for_large_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 400), rng.normal(0, 1, 300)
    d, low, high = cohens_d(a, b)
    se = np.sqrt((len(a) + len(b)) / (len(a) * len(b)) + d * d / (2 * (len(a) + len(b))))
    assert (low, high) == pytest.approx((d - 1.96 * se, d + 1.96 * se), abs=0.01)
    assert np.isnan(cohens_d([1.0, 1.0], [1.0, 1.0])[0])  # no spread: undefined


def test_pooled_correctness_uses_chi_square_or_fisher(study, tables):
    trials, _ = study
    pooled = _rows(tables, "expert", "accuracy", ["chi_square", "fisher_exact"])
    p_values = []
    for _, row in pooled.iterrows():
        cells = []
        for condition in (row["condition_a"], row["condition_b"]):
            test = trials[
                (trials["block"] == "test")
                & ~trials["is_attention_check"]
                & (trials["group"] == "expert")
                & (trials["condition"] == condition)
            ]
            cells.append([int(test["correct"].sum()), int((~test["correct"].astype(bool)).sum())])
        table = np.array(cells)
        expected = stats.contingency.expected_freq(table)
        if (expected < 5).any():
            assert row["test"] == "fisher_exact"
            result = stats.fisher_exact(table)
        else:
            assert row["test"] == "chi_square"
            result = stats.chi2_contingency(table)
            assert row["df"] == 1
        assert (row["statistic"], row["p_value"]) == pytest.approx(
            (result.statistic, result.pvalue)
        )
        p_a, p_b = table[:, 0] / table.sum(axis=1)
        h = 2 * np.arcsin(np.sqrt(p_a)) - 2 * np.arcsin(np.sqrt(p_b))
        half = stats.norm.ppf(0.975) * np.sqrt(1 / table[0].sum() + 1 / table[1].sum())
        assert (row["effect"], row["effect_ci_low"], row["effect_ci_high"]) == pytest.approx(
            (h, h - half, h + half)
        )
        assert (row["mean_a"], row["mean_b"]) == pytest.approx((p_a, p_b))
        p_values.append(result.pvalue)
    np.testing.assert_allclose(pooled["p_holm"], multipletests(p_values, method="holm")[1])


def test_small_expected_counts_switch_to_fisher():
    people = []
    for k in range(3):
        people.append(Person(f"a{k}", "g", "A", [("i1", True, 5), ("i2", True, 5)]))
        people.append(Person(f"b{k}", "g", "B", [("i1", False, 1), ("i2", k == 0, 2)]))
    tables = analyse(*build_study(*people))
    row = _rows(tables, "g", "accuracy", ["chi_square", "fisher_exact"]).iloc[0]
    assert row["test"] == "fisher_exact"
    result = stats.fisher_exact([[6, 0], [1, 5]])
    assert row["p_value"] == pytest.approx(result.pvalue)
    assert cohens_h(6, 6, 1, 6)[0] == pytest.approx(np.pi - 2 * np.arcsin(np.sqrt(1 / 6)))


def test_condition_with_one_participant_gets_rows_without_tests(tables):
    rows = tables.comparisons
    single = rows[(rows["group"] == "non-expert") & (rows["condition_a"] == "CWOX-1sB")]
    assert len(single) == 5  # 2 accuracy tests + pooled, 2 confidence tests
    assert (single["n_participants_a"] == 1).all()
    assert single[["statistic", "p_value", "p_holm", "effect"]].isna().all().all()
    # the remaining non-expert pair is tested and Holm over a family of one is the p-value
    tested = rows[
        (rows["group"] == "non-expert")
        & (rows["condition_a"] == "SWOX")
        & (rows["condition_b"] == "CWOX-2s")
    ]
    assert tested["p_value"].notna().all()
    np.testing.assert_allclose(tested["p_holm"], tested["p_value"])


def test_holm_matches_statsmodels_with_ties():
    p = np.array([0.01, 0.04, 0.01, 0.5, 0.03, 0.2])
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    assert holm(np.array([])).size == 0


def test_all_correct_against_all_wrong_is_extreme_but_finite_where_defined():
    people = [Person(f"a{k}", "g", "A", [("i1", True, 5), ("i2", True, 4)]) for k in range(3)]
    people += [Person(f"b{k}", "g", "B", [("i1", False, 1), ("i2", False, 2)]) for k in range(3)]
    rows = analyse(*build_study(*people)).comparisons.set_index(["measure", "test"])
    pooled = rows.loc[("accuracy", "fisher_exact")]
    assert pooled["p_value"] == pytest.approx(stats.fisher_exact([[6, 0], [0, 6]]).pvalue)
    assert pooled["effect"] == pytest.approx(np.pi)
    assert np.isnan(rows.loc[("accuracy", "welch_t"), "effect"])  # pooled sd 0: d undefined
    assert rows.loc[("accuracy", "mann_whitney_u"), "effect"] == 1.0
    assert isinstance(rows, pd.DataFrame)


def _constant_cells(a_correct: bool, b_correct: bool):
    a_answers = [("i1", a_correct, 4), ("i2", a_correct, 4)]
    b_answers = [("i1", b_correct, 2), ("i2", b_correct, 2)]
    people = [Person(f"a{k}", "g", "A", a_answers) for k in "12"]
    people += [Person(f"b{k}", "g", "B", b_answers) for k in "12"]
    return analyse(*build_study(*people)).comparisons.set_index(["measure", "test"])


def test_two_constant_cells_get_no_welch_test_and_say_why():
    rows = _constant_cells(True, False)
    not_fisher = rows.index.get_level_values("test") != "fisher_exact"
    numbers = rows.loc[not_fisher, ["statistic", "p_value", "p_holm", "effect"]]
    assert not np.isinf(numbers.to_numpy(dtype="float64")).any()
    for measure in ("accuracy", "confidence"):
        welch = rows.loc[(measure, "welch_t")]
        assert welch[["statistic", "df", "p_value", "p_holm", "effect"]].isna().all()
        assert welch["note"] == NO_SPREAD
        mwu = rows.loc[(measure, "mann_whitney_u")]  # different constants: still a rank test
        assert mwu["p_value"] == pytest.approx(stats.mannwhitneyu([1, 1], [0, 0]).pvalue)
        assert mwu["note"] == ""
    pooled = rows.loc[("accuracy", "fisher_exact")]
    assert pooled["p_value"] == pytest.approx(stats.fisher_exact([[4, 0], [0, 4]]).pvalue)
    assert pooled["note"] == ZERO_CELL


def test_identical_cells_get_no_test_at_all_and_say_why():
    rows = _constant_cells(True, True)
    accuracy = rows.loc["accuracy"]
    assert accuracy[["statistic", "p_value", "p_holm"]].isna().all().all()
    assert dict(accuracy["note"]) == {
        "welch_t": NO_SPREAD,
        "mann_whitney_u": ALL_TIED,
        "fisher_exact": ONE_OUTCOME,
    }
    assert set(NO_TEST_REASONS) >= set(accuracy["note"])


def test_every_untested_row_states_its_reason(tables):
    rows = tables.comparisons
    untested = rows["p_value"].isna()
    assert untested.any()
    assert rows.loc[untested, "note"].isin(NO_TEST_REASONS).all()
    assert (rows.loc[untested, "note"] == FEW_PARTICIPANTS).all()  # the one-person cell


def test_welch_test_is_vectorised_and_skips_constant_rows():
    rng = np.random.default_rng(5)
    a, b = rng.random((6, 4)), rng.random((6, 5))
    a[2], b[2] = 1.0, 0.0
    t, df, p = welch_test(a, b)
    for row in range(6):
        if row == 2:
            assert np.isnan([t[row], df[row], p[row]]).all()
            continue
        expected = stats.ttest_ind(a[row], b[row], equal_var=False)
        assert (t[row], df[row], p[row]) == pytest.approx(
            (expected.statistic, expected.df, expected.pvalue)
        )


def test_holm_skips_missing_tests_and_works_row_by_row():
    p = np.array([[0.01, np.nan, 0.04, 0.03], [0.2, 0.01, np.nan, np.nan]])
    adjusted = holm(p)
    for row, expected_row in zip(p, adjusted, strict=True):
        tested = ~np.isnan(row)
        np.testing.assert_allclose(
            expected_row[tested], multipletests(row[tested], method="holm")[1]
        )
        assert np.isnan(expected_row[~tested]).all()


def test_vectorised_pooled_tests_match_scipy_table_by_table():
    rng = np.random.default_rng(8)
    n_a, n_b = rng.integers(1, 40, 300), rng.integers(1, 40, 300)
    successes_a, successes_b = rng.integers(0, n_a + 1), rng.integers(0, n_b + 1)
    fisher, statistic, df, p = pooled_tests(successes_a, n_a, successes_b, n_b)
    assert fisher.any() and (~fisher).any()
    for k in range(300):
        table = [
            [successes_a[k], n_a[k] - successes_a[k]],
            [successes_b[k], n_b[k] - successes_b[k]],
        ]
        if fisher[k]:
            expected = stats.fisher_exact(table)
            assert np.isnan(df[k])
        else:  # every expected count >= 5
            expected = stats.chi2_contingency(table, correction=True)
            assert df[k] == 1
        np.testing.assert_allclose(
            [statistic[k], p[k]], [expected.statistic, expected.pvalue], rtol=1e-10
        )
