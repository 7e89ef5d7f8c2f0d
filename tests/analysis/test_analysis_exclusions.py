"""Exclusion rules on a hand-built study with one participant per situation."""

import pandas as pd
import pytest
from analysis_studies import Person, build_study

from studies.analysis import ExclusionRules, analyse, apply_exclusions, flow_table

RULES = ExclusionRules(max_failed_attention_checks=0, exclude_incomplete=True, min_response_ms=500)


@pytest.fixture
def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_study(
        # analysed
        Person(
            "a1",
            "expert",
            "SWOX",
            [("i1", True, 4), ("i2", True, 3), ("i3", False, 2), ("i4", True, 5)],
            checks=[True, True],
        ),
        # one failed attention check
        Person(
            "a2",
            "expert",
            "SWOX",
            [("i1", True, 4), ("i2", False, 1), ("i3", True, 3)],
            checks=[True, False],
        ),
        # abandoned, and also failed a check
        Person(
            "a3",
            "expert",
            "SWOX",
            [("i1", False, 2), ("i2", False, 2)],
            state="abandoned",
            checks=[False],
            unanswered=["i3", "i4"],
        ),
        # still active
        Person("a4", "expert", "CWOX-2s", [("i1", True, 5)], state="active"),
        # consented but never chose a group
        Person("a5", None, None, state="active"),
        # one answer too fast
        Person(
            "a6",
            "expert",
            "CWOX-2s",
            [("i1", True, 5), ("i2", True, 4), ("i3", False, 3)],
            response_ms=[100.0, 5000.0, 3000.0],
        ),
        # every answer too fast
        Person(
            "a7",
            "expert",
            "CWOX-2s",
            [("i1", True, 5), ("i2", False, 5)],
            response_ms=[100.0, 200.0],
        ),
        Person(
            "a8",
            "non-expert",
            "CWOX-2s",
            [("i1", True, 4), ("i2", True, 4), ("i3", False, 1)],
            checks=[True],
        ),
    )


def test_each_participant_gets_the_first_reason_that_applies(study):
    result = apply_exclusions(*study, RULES)
    reasons = result.participants.set_index("participant")["exclusion_reason"]
    assert reasons.fillna("analysed").to_dict() == {
        "a1": "analysed",
        "a2": "failed attention checks",
        "a3": "incomplete",
        "a4": "incomplete",
        "a5": "not assigned",
        "a6": "analysed",
        "a7": "no test trials",
        "a8": "analysed",
    }
    assert sorted(result.trials["participant"].unique()) == ["a1", "a6", "a8"]
    assert len(result.trials) == 4 + 2 + 3
    assert (result.trials["response_ms"] >= 500).all()


def test_counts_per_reason(study):
    counts = apply_exclusions(*study, RULES).counts.set_index("reason")
    assert counts["n_participants"].to_dict() == {
        "not assigned": 1,
        "incomplete": 2,
        "failed attention checks": 1,
        "no test trials": 1,
        "faster than min_response_ms": 0,
    }
    # a5 (active, unassigned) meets "incomplete"; a3 also failed its check; a5 has no trials
    assert counts["n_participants_meeting"].tolist() == [1, 3, 2, 2, 2]
    assert counts["n_test_trials"].tolist() == [0, 3, 3, 2, 1]
    assert counts["applied"].all()


def test_participant_table_keeps_statistics_of_excluded_participants(study):
    table = apply_exclusions(*study, RULES).participants.set_index("participant")
    assert table.loc["a2", "accuracy"] == pytest.approx(2 / 3)
    assert table.loc["a2", "n_failed_attention_checks"] == 1
    assert table.loc["a3", "n_test_trials"] == 2  # unanswered trials are not test trials
    assert table.loc["a6", "n_too_fast"] == 1
    assert table.loc["a6", "accuracy"] == pytest.approx(1 / 2)
    assert table.loc["a1", "mean_confidence"] == pytest.approx(3.5)
    assert table.loc["a5", "n_test_trials"] == 0
    assert pd.isna(table.loc["a5", "accuracy"])


def _check_arithmetic(flow: pd.DataFrame) -> None:
    """Each stage equals the previous stage minus the removed rows in between."""
    counted = flow[flow["kind"] != "info"]
    for column in ("n_participants", "n_test_trials"):
        previous, removed = None, 0
        for _, row in counted.iterrows():
            if row["kind"] == "stage":
                if previous is not None and not pd.isna(row[column]) and not pd.isna(previous):
                    assert row[column] == previous - removed, (row["step"], column)
                previous, removed = row[column], 0
            elif not pd.isna(row[column]):
                removed += row[column]


def test_flow_table_follows_consort(study):
    flow = flow_table(apply_exclusions(*study, RULES), declined=2, invited=20)
    steps = flow.set_index("step")
    assert steps["n_participants"].to_dict() == {
        "invited": 20,
        "declined consent": 2,
        "did not respond": 10,
        "consented": 8,
        "excluded: not assigned": 1,
        "assigned": 7,
        "not completed: active": 1,
        "not completed: abandoned": 1,
        "completed": 5,
        "excluded: failed attention checks": 1,
        "excluded: no test trials": 1,
        "test trials dropped: faster than min_response_ms": 0,
        "analysed": 3,
    }
    assert steps.loc["assigned", "n_test_trials"] == 18
    assert steps.loc["completed", "n_test_trials"] == 15
    assert steps.loc["analysed", "n_test_trials"] == 9
    _check_arithmetic(flow)


def test_no_rules_keeps_everyone_who_can_be_analysed(study):
    tables = analyse(*study, rules=None, invited=None)
    analysed = tables.participants.loc[~tables.participants["excluded"], "participant"]
    assert sorted(analysed) == ["a1", "a2", "a3", "a4", "a6", "a7", "a8"]
    assert len(tables.trials) == 18
    flow = tables.flow.set_index("step")
    assert "did not respond" not in flow.index
    assert pd.isna(flow.loc["invited", "n_participants"])
    assert flow.loc["completed", "kind"] == "info"
    assert flow.loc["analysed", "n_participants"] == 7
    assert not tables.exclusions.set_index("reason").loc["incomplete", "applied"]
    _check_arithmetic(tables.flow)


def test_allowing_one_failed_check_keeps_that_participant(study):
    rules = ExclusionRules(max_failed_attention_checks=1)
    table = apply_exclusions(*study, rules).participants.set_index("participant")
    assert not table.loc["a2", "excluded"]


def test_impossible_flow_counts_are_rejected(study):
    exclusions = apply_exclusions(*study, RULES)
    with pytest.raises(ValueError, match="invited \\(5\\) is smaller"):
        flow_table(exclusions, declined=0, invited=5)
    with pytest.raises(ValueError, match="declined must be >= 0"):
        flow_table(exclusions, declined=-1, invited=None)
    with pytest.raises(ValueError, match="min_response_ms"):
        ExclusionRules(min_response_ms=-5)
