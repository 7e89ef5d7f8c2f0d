"""From trials to the two analysis levels: tidy test trials and participant means."""

import pandas as pd

TEST_TRIAL_COLUMNS: tuple[str, ...] = (
    "participant",
    "group",
    "condition",
    "item",
    "position",
    "correct",
    "confidence",
    "response_ms",
)
PARTICIPANT_MEAN_COLUMNS: tuple[str, ...] = (
    "n_test_trials",
    "n_correct",
    "accuracy",
    "n_rated",
    "mean_confidence",
)


def tidy_test_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The answered test trials that count towards accuracy, one row per trial.

    Args:
        trials: a table validated by `schema.validate_trials`.

    Returns:
        Rows with block == "test", answered and not an attention check, with the columns
        `TEST_TRIAL_COLUMNS`; `correct` is bool, `confidence` Int64 (NA when not rated).
    """
    keep = (trials["block"] == "test") & trials["answered"] & ~trials["is_attention_check"]
    out = trials.loc[keep, list(TEST_TRIAL_COLUMNS)].reset_index(drop=True)
    out["correct"] = out["correct"].astype(bool)
    return out


def participant_means(trials: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and mean confidence of each participant over their test trials.

    Args:
        trials: tidy test trials as returned by `tidy_test_trials`.

    Returns:
        One row per participant present in `trials`, indexed by participant, with columns
        n_test_trials, n_correct, accuracy = n_correct / n_test_trials, n_rated (trials with a
        confidence rating) and mean_confidence (mean rating, NaN when none was given).
    """
    grouped = trials.assign(
        confidence=trials["confidence"].astype("float64"),
        rated=trials["confidence"].notna(),
    ).groupby("participant", sort=True)
    out = pd.DataFrame(
        {
            "n_test_trials": grouped.size(),
            "n_correct": grouped["correct"].sum(),
            "n_rated": grouped["rated"].sum(),
            "mean_confidence": grouped["confidence"].mean(),
        }
    )
    out["n_test_trials"] = out["n_test_trials"].astype("int64")
    out["n_correct"] = out["n_correct"].astype("int64")
    out["n_rated"] = out["n_rated"].astype("int64")
    out["accuracy"] = out["n_correct"] / out["n_test_trials"]
    return out.loc[:, list(PARTICIPANT_MEAN_COLUMNS)]
