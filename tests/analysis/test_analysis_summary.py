"""Per-cell summary and the paper's table layout on a hand-built, unbalanced study."""

import numpy as np
import pandas as pd
import pytest
from analysis_studies import Person, build_study, simulate_study
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from studies.analysis import analyse, empty_participants, empty_trials
from studies.analysis.summary import CELL_MARKS, SCALES, SMALL_CELL

CONDITIONS = ["SWOX", "CWOX-1sB", "CWOX-2s"]
GROUPS = ["expert", "non-expert"]


def _person(name, group, condition, outcomes, ratings):
    answers = [
        (f"i{k}", bool(c), r) for k, (c, r) in enumerate(zip(outcomes, ratings, strict=True))
    ]
    return Person(name, group, condition, answers)


@pytest.fixture(scope="module")
def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_study(
        _person("e1", "expert", "SWOX", [1, 0, 0, 1], [3, 2, 2, 4]),
        _person("e2", "expert", "SWOX", [0, 0, 0, 1], [1, 1, 2, 3]),
        _person("e3", "expert", "SWOX", [1, 1, 0, 1], [4, 3, 3, 5]),
        _person("e4", "expert", "CWOX-1sB", [1, 1, 0], [5, 5, 2]),  # the only one
        _person("e5", "expert", "CWOX-2s", [1, 1, 1, 1], [5, 4, 5, 5]),  # all correct
        _person("e6", "expert", "CWOX-2s", [1, 1, 1], [4, 4, 3]),
        _person("n1", "non-expert", "SWOX", [0, 0, 0], [1, 2, 1]),  # all wrong
        _person("n2", "non-expert", "SWOX", [0, 0, 0, 0, 0], [2, 2, 1, 3, 1]),
        _person("n3", "non-expert", "CWOX-2s", [1, 0, 1], [4, 2, 5]),
        _person("n4", "non-expert", "CWOX-2s", [1, 1, 0, 1], [3, 4, 2, 5]),
        _person("n5", "non-expert", "CWOX-2s", [1, 1, 1, 0, 0, 1], [4, 3, 4, 4, 2, 5]),
    )


@pytest.fixture(scope="module")
def tables(study):
    return analyse(*study, conditions=CONDITIONS, groups=GROUPS)


def _cell(study, group, condition):
    trials, _ = study
    test = trials[
        (trials["block"] == "test")
        & (trials["group"] == group)
        & (trials["condition"] == condition)
    ]
    per_participant = test.groupby("participant").agg(
        accuracy=("correct", lambda s: s.astype(float).mean()),
        confidence=("confidence", lambda s: s.astype(float).mean()),
    )
    return test, per_participant


@pytest.mark.parametrize(
    ("group", "condition"),
    [("expert", "SWOX"), ("expert", "CWOX-2s"), ("non-expert", "SWOX"), ("non-expert", "CWOX-2s")],
)
def test_t_intervals_match_scipy_on_participant_means(study, tables, group, condition):
    test, per_participant = _cell(study, group, condition)
    rows = tables.summary.set_index(["group", "condition", "measure"])
    for measure in ("accuracy", "confidence"):
        values = per_participant[measure].to_numpy()
        row = rows.loc[(group, condition, measure)]
        assert row["mean"] == pytest.approx(values.mean())
        assert row["sd"] == pytest.approx(values.std(ddof=1))
        assert row["n_participants"] == len(values)
        assert row["n_trials"] == len(test)
        if values.std() == 0:  # all-correct / all-wrong cells: a zero-width interval
            assert row["ci_low"] == row["ci_high"] == row["mean"]
            continue
        low, high = stats.t.interval(
            0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values)
        )
        scale_low, scale_high = SCALES[measure]
        clipped = (max(low, scale_low), min(high, scale_high))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(clipped)
        assert row["interval_method"] == ("t" if clipped == (low, high) else "t-clipped")


def test_paper_table_layout(study, tables):
    _, per_participant = _cell(study, "non-expert", "CWOX-2s")
    accuracy = per_participant["accuracy"]
    half = stats.t.ppf(0.975, 2) * accuracy.std() / np.sqrt(3)
    expert = tables.paper_for("expert")
    assert list(expert.columns) == CONDITIONS
    assert list(expert.index) == ["accuracy", "confidence"]
    assert expert.loc["accuracy", "CWOX-1sB"] == f"{2 / 3:.2f} (n=1)†"
    assert expert.loc["confidence", "CWOX-1sB"] == "4.00 (n=1)†"
    assert expert.loc["accuracy", "CWOX-2s"] == "1.00 ± 0.00 (n=2)†‡"  # small, no spread
    non_expert = tables.paper_for("non-expert")
    assert non_expert.loc["accuracy", "SWOX"] == "0.00 ± 0.00 (n=2)†‡"
    assert non_expert.loc["accuracy", "CWOX-1sB"] == ""
    assert non_expert.loc["accuracy", "CWOX-2s"] == f"{accuracy.mean():.2f} ± {half:.2f} (n=3)†"
    assert (
        not tables.paper.drop(columns=["group", "measure"])
        .map(lambda cell: "nan" in cell.lower())
        .any()
        .any()
    )
    with pytest.raises(KeyError, match="'nobody'"):
        tables.paper_for("nobody")


def test_one_participant_and_empty_cells_have_no_interval(tables):
    rows = tables.summary.set_index(["group", "condition", "measure"])
    single = rows.loc[("expert", "CWOX-1sB", "accuracy")]
    assert single["mean"] == pytest.approx(2 / 3) and single["n_participants"] == 1
    assert np.isnan(single["ci_low"]) and np.isnan(single["ci_high"])
    empty = rows.loc[("non-expert", "CWOX-1sB", "accuracy")]
    assert empty["n_participants"] == 0 and empty["n_trials"] == 0
    assert np.isnan(empty["mean"]) and empty["formatted"] == ""
    assert list(tables.summary["group"].unique()) == GROUPS
    assert list(tables.summary["condition"].unique()) == CONDITIONS


def test_wilson_interval_on_pooled_trials(study):
    tables = analyse(*study, interval="wilson")
    rows = tables.summary.set_index(["group", "condition", "measure"])
    test, _ = _cell(study, "non-expert", "CWOX-2s")
    successes, n = int(test["correct"].sum()), len(test)
    low, high = proportion_confint(successes, n, method="wilson")
    accuracy = rows.loc[("non-expert", "CWOX-2s", "accuracy")]
    assert accuracy["mean"] == pytest.approx(successes / n)
    assert (accuracy["ci_low"], accuracy["ci_high"]) == pytest.approx((low, high))
    assert accuracy["interval_method"] == "wilson"
    assert accuracy["formatted"] == f"{successes / n:.2f} [{low:.2f}, {high:.2f}] (n=3)†"
    assert rows.loc[("non-expert", "CWOX-2s", "confidence"), "interval_method"] == "t"
    assert np.isnan(rows.loc[("expert", "CWOX-1sB", "accuracy"), "ci_low"])


def test_bootstrap_summary_is_reproducible_per_seed():
    trials, participants = simulate_study(
        np.random.default_rng(2), {("g", "A"): (8, 0.6), ("g", "B"): (6, 0.8)}, n_items=6
    )
    first = analyse(trials, participants, interval="bootstrap", bootstrap_resamples=300, seed=4)
    again = analyse(trials, participants, interval="bootstrap", bootstrap_resamples=300, seed=4)
    other = analyse(trials, participants, interval="bootstrap", bootstrap_resamples=300, seed=5)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    assert not first.summary["ci_low"].equals(other.summary["ci_low"])
    assert (first.summary["interval_method"] == "bootstrap").all()
    t = analyse(trials, participants).summary
    np.testing.assert_allclose(first.summary["mean"], t["mean"])
    with pytest.raises(ValueError, match="interval must be one of"):
        analyse(trials, participants, interval="normal")
    with pytest.raises(ValueError, match="bootstrap_resamples must be >= 1"):
        analyse(trials, participants, interval="bootstrap", bootstrap_resamples=0)


def test_empty_study_gives_empty_tables_with_headers():
    tables = analyse(empty_trials(), empty_participants())
    for name, table in tables.as_dict().items():
        assert len(table.columns) > 0, name
        if name in ("exclusions", "flow"):  # fixed rows, all counting zero
            assert table["n_participants"].fillna(0).eq(0).all(), name
        else:
            assert table.empty, name
    assert list(tables.summary.columns)[:4] == ["group", "condition", "measure", "mean"]
    assert list(tables.paper.columns) == ["group", "measure"]
    assert tables.flow.set_index("step").loc["analysed", "n_participants"] == 0
    listed = analyse(empty_trials(), empty_participants(), conditions=CONDITIONS, groups=GROUPS)
    assert len(listed.summary) == 2 * 3 * 2
    assert (listed.paper[CONDITIONS] == "").all().all()
    assert listed.comparisons["p_value"].isna().all()


def test_intervals_stay_on_the_scale_of_the_measure_and_say_how():
    """Two participants at 0.4 and 0.8: the t-interval is 0.60 ± 2.54, i.e. [-1.94, 3.14]."""
    tables = analyse(
        *build_study(
            _person("a", "g", "A", [1, 1, 0, 0, 0], [1, 1, 1, 2, 1]),
            _person("b", "g", "A", [1, 1, 1, 1, 0], [5, 5, 5, 4, 5]),
        )
    )
    rows = tables.summary.set_index("measure")
    for measure, values in (("accuracy", [0.4, 0.8]), ("confidence", [1.2, 4.8])):
        low, high = stats.t.interval(0.95, 1, loc=np.mean(values), scale=stats.sem(values))
        scale_low, scale_high = SCALES[measure]
        assert low < scale_low and high > scale_high  # what the t-interval alone would say
        row = rows.loc[measure]
        assert (row["ci_low"], row["ci_high"]) == (scale_low, scale_high)
        assert row["interval_method"] == "t-clipped"
        assert row["formatted"] == (
            f"{np.mean(values):.2f} [{scale_low:.2f}, {scale_high:.2f}] (n=2)†"
        )
        assert "±" not in row["formatted"]
    assert rows.loc["accuracy", "note"] == f"† {CELL_MARKS['†']}"


def test_every_cell_carries_its_n_and_small_cells_are_marked(tables):
    for _, row in tables.summary.iterrows():
        n = row["n_participants"]
        if n == 0:
            assert row["formatted"] == "" and row["note"] == ""
            continue
        assert f"(n={n})" in row["formatted"]
        assert ("†" in row["formatted"]) == (n < SMALL_CELL)
        assert ("fewer than" in row["note"]) == (n < SMALL_CELL)
    assert (tables.summary["ci_low"].dropna() >= 0).all()
    big = simulate_study(np.random.default_rng(1), {("g", "A"): (SMALL_CELL, 0.7)}, n_items=8)
    cell = analyse(*big).summary.set_index("measure").loc["accuracy"]
    assert cell["formatted"].endswith(f"(n={SMALL_CELL})") and cell["note"] == ""
