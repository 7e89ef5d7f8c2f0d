"""Confidence calibration: accuracy at each confidence level, and how well confidence
separates correct from wrong answers.

AUROC = P(confidence of a correct answer > confidence of a wrong one) + 0.5·P(tie), over all
(correct, wrong) pairs of rated test trials in a cell, computed as U / (n_correct·n_wrong)
from the Mann-Whitney U statistic of the correct answers' ratings. 0.5: confidence carries no
information about correctness; 1: every correct answer was rated higher than every wrong one.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .intervals import MIN_PARTICIPANTS, wilson_interval
from .schema import CONFIDENCE_LEVELS

CALIBRATION_COLUMNS: tuple[str, ...] = (
    "group",
    "condition",
    "confidence",
    "n_participants",
    "n_trials",
    "n_correct",
    "accuracy",
    "ci_low",
    "ci_high",
)
AUROC_COLUMNS: tuple[str, ...] = (
    "group",
    "condition",
    "n_correct",
    "n_wrong",
    "auroc",
    "mann_whitney_u",
    "p_value",
)


def calibration_by_confidence(
    trials: pd.DataFrame, *, conditions: Sequence[str], groups: Sequence[str]
) -> pd.DataFrame:
    """Accuracy of the pooled rated test trials at each confidence level 1..5.

    Returns:
        One row per group × condition × level (`CALIBRATION_COLUMNS`), also for levels
        nobody chose (n_trials 0, accuracy NaN); ci_low/ci_high is the Wilson interval, NaN
        when fewer than 2 participants gave answers at that level.
    """
    rated = trials[trials["confidence"].notna()]
    rows = []
    for group in groups:
        for condition in conditions:
            cell = rated[(rated["group"] == group) & (rated["condition"] == condition)]
            for level in CONFIDENCE_LEVELS:
                at_level = cell[cell["confidence"] == level]
                n_participants = at_level["participant"].nunique()
                n_correct = int(at_level["correct"].sum())
                interval = wilson_interval(n_correct, len(at_level))
                has_interval = n_participants >= MIN_PARTICIPANTS
                rows.append(
                    {
                        "group": group,
                        "condition": condition,
                        "confidence": level,
                        "n_participants": n_participants,
                        "n_trials": len(at_level),
                        "n_correct": n_correct,
                        "accuracy": interval.estimate,
                        "ci_low": interval.low if has_interval else np.nan,
                        "ci_high": interval.high if has_interval else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS)).astype(
        {
            "group": "str",
            "condition": "str",
            "confidence": "int64",
            "n_participants": "int64",
            "n_trials": "int64",
            "n_correct": "int64",
            "accuracy": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
        }
    )


def confidence_auroc(
    trials: pd.DataFrame, *, conditions: Sequence[str], groups: Sequence[str]
) -> pd.DataFrame:
    """AUROC of confidence for telling correct from wrong answers, per group × condition.

    Returns:
        One row per group × condition (`AUROC_COLUMNS`): n_correct and n_wrong rated trials,
        auroc, the U statistic of the correct answers' ratings and its two-sided Mann-Whitney
        p-value (asymptotic, tie-corrected); NaN when either kind of answer is missing.
    """
    rated = trials[trials["confidence"].notna()]
    rows = []
    for group in groups:
        for condition in conditions:
            cell = rated[(rated["group"] == group) & (rated["condition"] == condition)]
            right = cell.loc[cell["correct"], "confidence"].to_numpy(dtype="float64")
            wrong = cell.loc[~cell["correct"], "confidence"].to_numpy(dtype="float64")
            row = {
                "group": group,
                "condition": condition,
                "n_correct": len(right),
                "n_wrong": len(wrong),
            }
            if len(right) and len(wrong):
                result = stats.mannwhitneyu(
                    right, wrong, alternative="two-sided", method="asymptotic"
                )
                row.update(
                    auroc=result.statistic / (len(right) * len(wrong)),
                    mann_whitney_u=result.statistic,
                    p_value=result.pvalue,
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=list(AUROC_COLUMNS)).astype(
        {
            "group": "str",
            "condition": "str",
            "n_correct": "int64",
            "n_wrong": "int64",
            "auroc": "float64",
            "mann_whitney_u": "float64",
            "p_value": "float64",
        }
    )
