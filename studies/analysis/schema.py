"""Input schema: the columns, types and allowed values of the two input tables.

`validate_trials` and `validate_participants` return typed copies (extra columns dropped) or
raise `ValueError` naming the offending column and what was expected. `validate_study` also
checks that the two tables agree with each other.
"""

import pandas as pd

TRIAL_COLUMNS: tuple[str, ...] = (
    "participant",
    "group",
    "condition",
    "item",
    "block",
    "position",
    "is_attention_check",
    "answered",
    "correct",
    "confidence",
    "response_ms",
)
PARTICIPANT_COLUMNS: tuple[str, ...] = ("participant", "group", "condition", "state")
BLOCKS: tuple[str, ...] = ("training", "test")
STATES: tuple[str, ...] = ("active", "completed", "abandoned")
CONFIDENCE_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)

_SHOWN_IDS = 5  # how many offending participant ids an error message lists


def empty_trials() -> pd.DataFrame:
    """A trials table with no rows and the schema's columns and types."""
    return validate_trials(pd.DataFrame({column: [] for column in TRIAL_COLUMNS}))


def empty_participants() -> pd.DataFrame:
    """A participants table with no rows and the schema's columns and types."""
    return validate_participants(pd.DataFrame({column: [] for column in PARTICIPANT_COLUMNS}))


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {', '.join(map(repr, missing))}; "
            f"expected columns: {', '.join(required)}"
        )


def _text(series: pd.Series, name: str, *, allow_na: bool) -> pd.Series:
    out = series.astype("str")
    if not allow_na and out.isna().any():
        raise ValueError(f"{name}.{series.name} has missing values; every row needs one")
    return out


def _boolean(series: pd.Series, name: str, *, allow_na: bool) -> pd.Series:
    try:
        out = series.astype("boolean")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}.{series.name} must hold booleans: {error}") from None
    if allow_na:
        return out
    if out.isna().any():
        raise ValueError(f"{name}.{series.name} has missing values; expected True or False")
    return out.astype(bool)


def _allowed(series: pd.Series, allowed: tuple[str, ...], name: str) -> None:
    bad = sorted(set(series.dropna()) - set(allowed))
    if bad:
        raise ValueError(
            f"{name}.{series.name} has value(s) {', '.join(map(repr, bad))}; "
            f"expected one of {', '.join(map(repr, allowed))}"
        )


def validate_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Check the trials table and return a typed copy with exactly `TRIAL_COLUMNS`.

    Types of the copy: participant, group, condition, item, block: str (no missing values);
    position: int64; is_attention_check, answered: bool; correct: boolean (NA where not
    answered); confidence: Int64 in 1..5 (NA where not answered or not asked); response_ms:
    float64 (NaN when unknown). `correct` and `confidence` are set to NA on unanswered rows.

    Raises:
        ValueError: a column is missing, has a wrong type or value, or an answered trial has
            no `correct`, or one participant's trials disagree on group or condition.
    """
    name = "trials"
    _require_columns(trials, TRIAL_COLUMNS, name)
    frame = trials.loc[:, list(TRIAL_COLUMNS)].reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    for column in ("participant", "group", "condition", "item", "block"):
        out[column] = _text(frame[column], name, allow_na=False)
    _allowed(out["block"], BLOCKS, name)
    try:
        out["position"] = frame["position"].astype("Int64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"trials.position must hold integers: {error}") from None
    if out["position"].isna().any():
        raise ValueError("trials.position has missing values; every trial needs a position")
    out["position"] = out["position"].astype("int64")
    out["is_attention_check"] = _boolean(frame["is_attention_check"], name, allow_na=False)
    out["answered"] = _boolean(frame["answered"], name, allow_na=False)
    correct = _boolean(frame["correct"], name, allow_na=True)
    if (out["answered"] & correct.isna()).any():
        raise ValueError("trials.correct is missing on answered trials; expected True or False")
    out["correct"] = correct.where(out["answered"], pd.NA)
    try:
        confidence = frame["confidence"].astype("Int64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"trials.confidence must hold integers 1..5: {error}") from None
    if not confidence.dropna().isin(CONFIDENCE_LEVELS).all():
        raise ValueError("trials.confidence has values outside 1..5")
    out["confidence"] = confidence.where(out["answered"], pd.NA)
    try:
        out["response_ms"] = pd.to_numeric(frame["response_ms"]).astype("float64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"trials.response_ms must hold numbers (ms): {error}") from None
    for column in ("group", "condition"):
        per_participant = out.groupby("participant")[column].nunique()
        mixed = per_participant.index[per_participant > 1].tolist()
        if mixed:
            raise ValueError(
                f"trials.{column} differs between trials of participant(s) "
                f"{', '.join(map(repr, mixed[:_SHOWN_IDS]))}; expected one {column} each"
            )
    return out


def validate_participants(participants: pd.DataFrame) -> pd.DataFrame:
    """Check the participants table and return a typed copy with exactly `PARTICIPANT_COLUMNS`.

    Types of the copy: participant: str, unique, no missing values; group, condition: str (NA
    when not chosen / not yet assigned); state: str, one of `STATES`.

    Raises:
        ValueError: a column is missing, a participant id is missing or repeated, or a state
            is not one of `STATES`.
    """
    name = "participants"
    _require_columns(participants, PARTICIPANT_COLUMNS, name)
    frame = participants.loc[:, list(PARTICIPANT_COLUMNS)].reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    out["participant"] = _text(frame["participant"], name, allow_na=False)
    repeated = out["participant"][out["participant"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"participants.participant repeats id(s) {', '.join(map(repr, repeated[:_SHOWN_IDS]))}"
            "; expected one row per participant"
        )
    out["group"] = _text(frame["group"], name, allow_na=True)
    out["condition"] = _text(frame["condition"], name, allow_na=True)
    out["state"] = _text(frame["state"], name, allow_na=False)
    _allowed(out["state"], STATES, name)
    return out


def validate_study(
    trials: pd.DataFrame, participants: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate both tables and check that they agree; return the typed copies.

    Every participant in `trials` must have a row in `participants`, with the same group and
    condition as on their trials.

    Raises:
        ValueError: as `validate_trials` / `validate_participants`, or the tables disagree.
    """
    trials = validate_trials(trials)
    participants = validate_participants(participants)
    unknown = sorted(set(trials["participant"]) - set(participants["participant"]))
    if unknown:
        raise ValueError(
            f"trials.participant has id(s) {', '.join(map(repr, unknown[:_SHOWN_IDS]))} "
            "with no row in participants"
        )
    first = trials.drop_duplicates("participant").set_index("participant")
    registered = participants.set_index("participant").loc[first.index]
    for column in ("group", "condition"):
        differs = registered[column].isna() | (registered[column] != first[column])
        if differs.any():
            ids = differs.index[differs].tolist()
            raise ValueError(
                f"participants.{column} disagrees with trials.{column} for participant(s) "
                f"{', '.join(map(repr, ids[:_SHOWN_IDS]))}"
            )
    return trials, participants
