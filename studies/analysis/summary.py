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

Every interval lies on the scale of its measure (`SCALES`: accuracy [0, 1], confidence [1, 5]):
a t-interval reaching beyond it is clipped (method "t-clipped", see `intervals.clip_to_scale`,
which keeps its coverage). The t-interval is kept, rather than replaced by a Wilson interval on
pooled trials, because it is the paper's participant-level interval: pooled trials of one
participant are not independent, and a Wilson interval over them is too narrow when
participants differ. Each cell's text carries its number of participants; a cell with fewer
than `SMALL_CELL` participants is marked †, one whose participants all have the same value
(a zero-width interval that understates the uncertainty) ‡, and `note` says so in words.
"""

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .intervals import (
    MIN_PARTICIPANTS,
    Interval,
    clip_to_scale,
    cluster_bootstrap_interval,
    t_interval,
    wilson_interval,
)
from .schema import CONFIDENCE_LEVELS

MEASURES: tuple[str, ...] = ("accuracy", "confidence")
SCALES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "confidence": (float(min(CONFIDENCE_LEVELS)), float(max(CONFIDENCE_LEVELS))),
}
INTERVAL_METHODS: tuple[str, ...] = ("t", "wilson", "bootstrap")
INTERVAL_DESCRIPTIONS: dict[str, str] = {
    "t": "mean ± half-width of the t-interval over participant means",
    "t-clipped": "mean [low, high] of the t-interval over participant means, clipped to the "
    "scale of the measure",
    "wilson": "pooled share of correct trials [low, high] of the Wilson score interval",
    "bootstrap": "mean [low, high] of the two-way (participants × items) cluster bootstrap "
    "percentile interval",
}
"""interval_method -> how a cell with that method is written and computed (for captions)."""
SMALL_CELL = 5
SMALL_MARK = "†"
NO_SPREAD_MARK = "‡"
CELL_MARKS: dict[str, str] = {
    SMALL_MARK: f"fewer than {SMALL_CELL} participants",
    NO_SPREAD_MARK: "no spread between participants: the interval has zero width",
}
"""Mark -> its meaning, for a table's note or caption."""
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
    "note",
)
# measure -> (participant-level column, trial-level column, participant column counting trials)
_MEASURE_COLUMNS = {
    "accuracy": ("accuracy", "correct", "n_test_trials"),
    "confidence": ("mean_confidence", "confidence", "n_rated"),
}


def cell_rng(seed: int, group: str, condition: str) -> np.random.Generator:
    """The random generator of one cell: seeded by (seed, CRC32(group), CRC32(condition))."""
    return np.random.default_rng([seed, zlib.crc32(group.encode()), zlib.crc32(condition.encode())])


def cell_marks(interval: Interval, n_participants: int) -> str:
    """The `CELL_MARKS` that apply to a cell with data, in order ("" when none)."""
    marks = SMALL_MARK if 0 < n_participants < SMALL_CELL else ""
    if n_participants >= MIN_PARTICIPANTS and interval.low == interval.high:
        marks += NO_SPREAD_MARK
    return marks


def marks_note(marks: str) -> str:
    """The meaning of each mark in `marks`, e.g. "† fewer than 5 participants"; joined by "; "."""
    return "; ".join(f"{mark} {CELL_MARKS[mark]}" for mark in marks)


def format_cell(interval: Interval, n_participants: int) -> str:
    """Text of a table cell, 2 decimals, with the number of participants and the marks of
    `cell_marks`: "0.83 ± 0.09 (n=12)" for a t-interval, "0.60 [0.00, 1.00] (n=2)†" for a
    clipped t-interval or another interval, "1.00 (n=1)†" without interval, "" without data."""
    if n_participants == 0 or np.isnan(interval.estimate):
        return ""
    marks = cell_marks(interval, n_participants)
    if np.isnan(interval.low) or np.isnan(interval.high):
        text = f"{interval.estimate:.2f}"
    elif interval.method == "t":
        text = f"{interval.estimate:.2f} ± {interval.half_width:.2f}"
    else:
        text = f"{interval.estimate:.2f} [{interval.low:.2f}, {interval.high:.2f}]"
    return f"{text} (n={n_participants}){marks}"


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
    return clip_to_scale(t_interval(values, level), *SCALES[measure])


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
        n_participants and n_trials contributing to the measure, interval_method, formatted
        and note (the cell's warnings in words, "" when none).
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
                        "note": marks_note(cell_marks(result, len(values))),
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
            "note": "str",
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
