"""Calibration table and AUROC against direct counts on the same trials."""

import numpy as np
import pytest
from analysis_studies import Person, build_study, simulate_study
from scipy import stats

from studies.analysis import analyse
from studies.analysis.schema import CONFIDENCE_LEVELS


@pytest.fixture(scope="module")
def study():
    return simulate_study(
        np.random.default_rng(7),
        {("expert", "SWOX"): (6, 0.5), ("expert", "CWOX-2s"): (5, 0.8)},
        n_items=15,
    )


def test_accuracy_by_confidence_level(study):
    trials, participants = study
    calibration = analyse(trials, participants).calibration
    test = trials[(trials["block"] == "test") & ~trials["is_attention_check"]]
    for condition in ("SWOX", "CWOX-2s"):
        rows = calibration[calibration["condition"] == condition].set_index("confidence")
        assert list(rows.index) == list(CONFIDENCE_LEVELS)
        cell = test[test["condition"] == condition]
        for level in CONFIDENCE_LEVELS:
            at_level = cell[cell["confidence"] == level]
            row = rows.loc[level]
            assert row["n_trials"] == len(at_level)
            assert row["n_correct"] == at_level["correct"].sum()
            assert row["n_participants"] == at_level["participant"].nunique()
            if len(at_level):
                assert row["accuracy"] == pytest.approx(at_level["correct"].mean())
            else:
                assert np.isnan(row["accuracy"])


def test_auroc_is_the_share_of_correct_wrong_pairs_ordered_by_confidence(study):
    trials, participants = study
    auroc = analyse(trials, participants).calibration_auroc.set_index("condition")
    test = trials[(trials["block"] == "test") & ~trials["is_attention_check"]]
    for condition in ("SWOX", "CWOX-2s"):
        cell = test[test["condition"] == condition]
        right = cell.loc[cell["correct"].astype(bool), "confidence"].astype(float).to_numpy()
        wrong = cell.loc[~cell["correct"].astype(bool), "confidence"].astype(float).to_numpy()
        greater = (right[:, None] > wrong[None, :]).mean()
        ties = (right[:, None] == wrong[None, :]).mean()
        row = auroc.loc[condition]
        assert row["auroc"] == pytest.approx(greater + 0.5 * ties)
        assert (row["n_correct"], row["n_wrong"]) == (len(right), len(wrong))
        u = stats.mannwhitneyu(right, wrong, alternative="two-sided", method="asymptotic")
        assert row["p_value"] == pytest.approx(u.pvalue)
        assert row["auroc"] > 0.5  # the simulation rates correct answers higher


def test_cell_with_only_correct_answers_has_no_auroc_and_levels_have_no_interval_below_two():
    people = [
        Person("p1", "g", "A", [("i1", True, 5), ("i2", True, 4)]),
        Person("p2", "g", "A", [("i1", True, 5), ("i2", True, 3)]),
    ]
    tables = analyse(*build_study(*people))
    auroc = tables.calibration_auroc.iloc[0]
    assert auroc["n_wrong"] == 0 and np.isnan(auroc["auroc"])
    rows = tables.calibration.set_index("confidence")
    assert rows.loc[5, "n_participants"] == 2 and rows.loc[5, "ci_high"] == 1.0
    assert rows.loc[4, "n_participants"] == 1 and np.isnan(rows.loc[4, "ci_low"])
    assert rows.loc[1, "n_trials"] == 0 and np.isnan(rows.loc[1, "accuracy"])
