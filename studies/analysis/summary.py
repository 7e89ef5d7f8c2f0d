"""Per condition × group summary of accuracy and confidence, long form and paper layout.

Accuracy of a cell is the mean over its participants of each participant's share of correctly
matched test trials; confidence is the mean over participants of each participant's mean
rating. Interval methods (`INTERVAL_METHODS`):

* "t" (default, what the paper's "±" reports): t-interval over participant means;
* "wilson": accuracy is the pooled share of correct trials with a Wilson interval; confidence
  (not a proportion) keeps the t-interval and says so in `interval_method`;
* "bootstrap": two-way cluster bootstrap over participants and items (percentile interval),
  seeded per cell from (seed, group, condition) so a cell's interval does not depend on the
  other cells.
"""

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .intervals import (
    MIN_PARTICIPANTS,
    Interval,
    cluster_bootstrap_interval,
    t_interval,
    wilson_interval,
)

MEASURES: tuple[str, ...] = ("accuracy", "confidence")
INTERVAL_METHODS: tuple[str, ...] = ("t", "wilson", "bootstrap")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "group",
    "condition",
    "measure",
    "mean",
    "ci_low",
    "ci_high",
    "sd",
    "n_participants",
    "n_trials",
    "interval_method",
    "formatted",
)
# measure -> (participant-level column, trial-level column, participant column counting trials)
_MEASURE_COLUMNS = {
    "accuracy": ("accuracy", "correct", "n_test_trials"),
    "confidence": ("mean_confidence", "confidence", "n_rated"),
}


def cell_rng(seed: int, group: str, condition: str) -> np.random.Generator:
    """The random generator of one cell: seeded by (seed, CRC32(group), CRC32(condition))."""
    return np.random.default_rng([seed, zlib.crc32(group.encode()), zlib.crc32(condition.encode())])


def format_cell(interval: Interval, n_participants: int) -> str:
    """Text of a table cell, 2 decimals: "0.83 ± 0.09" for a t-interval, "0.83 [0.74, 0.90]"
    for other intervals, "1.00 (n=1)" when there is no interval, "" when there is no data."""
    if n_participants == 0 or np.isnan(interval.estimate):
        return ""
    if np.isnan(interval.low) or np.isnan(interval.high):
        return f"{interval.estimate:.2f} (n={n_participants})"
    if interval.method == "t":
        return f"{interval.estimate:.2f} ± {interval.half_width:.2f}"
    return f"{interval.estimate:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def _interval(
    measure: str,
    values: pd.Series,
    trials: pd.DataFrame,
    *,
    method: str,
    rng: np.random.Generator,
    resamples: int,
    level: float,
) -> Interval:
    if method == "wilson" and measure == "accuracy":
        pooled = wilson_interval(int(trials["correct"].sum()), len(trials), level)
        if len(values) < MIN_PARTICIPANTS:
            return Interval(pooled.estimate, np.nan, np.nan, pooled.method)
        return pooled
    if method == "bootstrap":
        _, column, _ = _MEASURE_COLUMNS[measure]
        return cluster_bootstrap_interval(trials, column, resamples=resamples, rng=rng, level=level)
    return t_interval(values, level)


def summarise(
    trials: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    conditions: Sequence[str],
    groups: Sequence[str],
    interval: str = "t",
    bootstrap_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Long-form summary: one row per group × condition × measure (`SUMMARY_COLUMNS`).

    Args:
        trials: analysed test trials (`Exclusions.trials`).
        participants: analysed participants (rows of `Exclusions.participants` not excluded).
        conditions, groups: the order of the rows; every pair gets rows, empty ones with
            n_participants = 0 and NaN statistics.
        interval: one of `INTERVAL_METHODS`.
        bootstrap_resamples, seed: for interval="bootstrap".
        level: confidence level of the intervals.

    Returns:
        mean, ci_low, ci_high (NaN with < 2 participants), sd of participant means,
        n_participants and n_trials contributing to the measure, interval_method, formatted.
    """
    if interval not in INTERVAL_METHODS:
        raise ValueError(f"interval must be one of {', '.join(INTERVAL_METHODS)}, got {interval!r}")
    if interval == "bootstrap" and bootstrap_resamples < 1:
        raise ValueError(f"bootstrap_resamples must be >= 1, got {bootstrap_resamples}")
    rows = []
    for group in groups:
        for condition in conditions:
            in_cell = (participants["group"] == group) & (participants["condition"] == condition)
            cell = participants[in_cell]
            cell_trials = trials[(trials["group"] == group) & (trials["condition"] == condition)]
            for measure in MEASURES:
                value_column, trial_column, count_column = _MEASURE_COLUMNS[measure]
                values = cell[value_column].dropna()
                result = _interval(
                    measure,
                    values,
                    cell_trials[cell_trials[trial_column].notna()],
                    method=interval,
                    rng=cell_rng(seed, group, condition),
                    resamples=bootstrap_resamples,
                    level=level,
                )
                rows.append(
                    {
                        "group": group,
                        "condition": condition,
                        "measure": measure,
                        "mean": result.estimate,
                        "ci_low": result.low,
                        "ci_high": result.high,
                        "sd": values.std(ddof=1) if len(values) >= MIN_PARTICIPANTS else np.nan,
                        "n_participants": len(values),
                        "n_trials": int(cell[count_column].sum()),
                        "interval_method": result.method,
                        "formatted": format_cell(result, len(values)),
                    }
                )
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return out.astype(
        {
            "group": "str",
            "condition": "str",
            "measure": "str",
            "mean": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "sd": "float64",
            "n_participants": "int64",
            "n_trials": "int64",
            "interval_method": "str",
            "formatted": "str",
        }
    )


def paper_table(
    summary: pd.DataFrame, *, conditions: Sequence[str], groups: Sequence[str]
) -> pd.DataFrame:
    """The paper's Tab. 4/5 layout for all groups stacked: columns group, measure, then one
    column per condition holding `formatted` cells ("" where a cell has no data)."""
    cells = summary.set_index(["group", "measure", "condition"])["formatted"]
    rows = []
    for group in groups:
        for measure in MEASURES:
            row = {"group": group, "measure": measure}
            for condition in conditions:
                row[condition] = cells.get((group, measure, condition), "")
            rows.append(row)
    columns = ["group", "measure", *conditions]
    return pd.DataFrame(rows, columns=columns).astype(dict.fromkeys(columns, "str"))
