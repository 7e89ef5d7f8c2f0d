"""Input validation: clear errors naming the column, and typed copies of good input."""

import pandas as pd
import pytest
from analysis_studies import Person, build_study

from studies.analysis import analyse, validate_study
from studies.analysis.schema import PARTICIPANT_COLUMNS, TRIAL_COLUMNS


@pytest.fixture
def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_study(
        Person("p1", "expert", "SWOX", [("i1", True, 4), ("i2", False, 2)]),
        Person("p2", "expert", "CWOX-2s", [("i1", True, 5)], unanswered=["i2"]),
    )


@pytest.mark.parametrize("column", TRIAL_COLUMNS)
def test_missing_trial_column_is_named(study, column):
    trials, participants = study
    with pytest.raises(ValueError, match=f"trials is missing column.*'{column}'"):
        analyse(trials.drop(columns=column), participants)


@pytest.mark.parametrize("column", PARTICIPANT_COLUMNS)
def test_missing_participant_column_is_named(study, column):
    trials, participants = study
    with pytest.raises(ValueError, match=f"participants is missing column.*'{column}'"):
        analyse(trials, participants.drop(columns=column))


def test_valid_input_is_typed_and_unanswered_outcomes_are_cleared(study):
    trials, participants = study
    trials.loc[trials["answered"] == False, "correct"] = True  # noqa: E712 (pandas mask)
    typed, _ = validate_study(trials.assign(extra=1), participants)
    assert list(typed.columns) == list(TRIAL_COLUMNS)
    assert str(typed["confidence"].dtype) == "Int64"
    assert typed["is_attention_check"].dtype == bool
    assert typed.loc[~typed["answered"], "correct"].isna().all()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("block", "warmup", "trials.block has value.*'warmup'"),
        ("confidence", 7, "trials.confidence has values outside 1..5"),
        ("confidence", 2.5, "trials.confidence must hold integers"),
        ("answered", None, "trials.answered has missing values"),
        ("participant", None, "trials.participant has missing values"),
        ("position", "first", "trials.position must hold integers"),
    ],
)
def test_bad_trial_values_are_named(study, column, value, message):
    trials, participants = study
    trials = trials.astype({column: object})
    trials.loc[0, column] = value
    with pytest.raises(ValueError, match=message):
        validate_study(trials, participants)


def test_answered_trial_without_outcome_is_rejected(study):
    trials, participants = study
    trials.loc[trials["answered"].to_numpy().nonzero()[0][0], "correct"] = pd.NA
    with pytest.raises(ValueError, match="trials.correct is missing on answered trials"):
        validate_study(trials, participants)


def test_participant_with_two_conditions_is_rejected(study):
    trials, participants = study
    trials.loc[(trials["participant"] == "p1").to_numpy().nonzero()[0][0], "condition"] = "X"
    with pytest.raises(ValueError, match="trials.condition differs.*'p1'"):
        validate_study(trials, participants)


def test_tables_that_disagree_are_rejected(study):
    trials, participants = study
    with pytest.raises(ValueError, match="'p2' with no row in participants"):
        validate_study(trials, participants[participants["participant"] != "p2"])
    wrong = participants.assign(condition=["SWOX", "SWOX"])
    with pytest.raises(ValueError, match="participants.condition disagrees.*'p2'"):
        validate_study(trials, wrong)


def test_bad_participant_rows_are_rejected(study):
    trials, participants = study
    with pytest.raises(ValueError, match="participants.state has value.*'done'"):
        validate_study(trials, participants.assign(state="done"))
    doubled = pd.concat([participants, participants.iloc[[0]]])
    with pytest.raises(ValueError, match="repeats id.*'p1'"):
        validate_study(trials, doubled)


def test_unknown_condition_order_is_rejected(study):
    trials, participants = study
    with pytest.raises(ValueError, match=r"condition\(s\) 'CWOX-2s' that are not in"):
        analyse(trials, participants, conditions=["SWOX"])
    with pytest.raises(ValueError, match="'SWOX' more than once"):
        analyse(trials, participants, conditions=["SWOX", "CWOX-2s", "SWOX"])
