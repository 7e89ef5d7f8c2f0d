"""95% (or other) confidence intervals for a cell's mean.

* `t_interval`: mean of participant means ± t_{1-a/2, n-1} · sd / sqrt(n) (the paper's ±).
* `wilson_interval`: Wilson score interval for a proportion of pooled trials.
  (Both are `explain_engine.intervals`, the one implementation that the faithfulness tables
  use too; that module needs neither torch nor Django.)
* `cluster_bootstrap_interval`: percentile interval of a two-way cluster bootstrap that
  resamples participants and items independently (with replacement) and keeps the trials in
  the crossing; the statistic is the mean of participant means, as for the t-interval.

Intervals need at least 2 participants; below that `low` and `high` are NaN. `clip_to_scale`
bounds an interval by the range of the measure (a t-interval on few participants can reach
below 0 or above 1 for a proportion).
"""

import numpy as np
import pandas as pd

from explain_engine.intervals import MIN_VALUES as MIN_PARTICIPANTS
from explain_engine.intervals import Interval, t_interval, wilson_interval

__all__ = [
    "MIN_PARTICIPANTS",
    "Interval",
    "bootstrap_estimates",
    "clip_to_scale",
    "cluster_bootstrap_interval",
    "t_interval",
    "wilson_interval",
]


def clip_to_scale(interval: Interval, low: float, high: float) -> Interval:
    """`interval` with its bounds clipped to the scale [low, high] of the measure.

    Clipping keeps the coverage of the interval: every value of the parameter on the scale
    lies in the clipped interval exactly when it lies in the original one. When a bound moves,
    the method becomes "<method>-clipped" (e.g. "t-clipped"): the interval is no longer
    symmetric and must not be written as "±".
    """
    clipped_low, clipped_high = max(interval.low, low), min(interval.high, high)
    if (clipped_low, clipped_high) == (interval.low, interval.high) or np.isnan(interval.low):
        return interval
    return Interval(interval.estimate, clipped_low, clipped_high, f"{interval.method}-clipped")


def _crossing(trials: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    values = trials[column].astype("float64")
    usable = trials.loc[values.notna(), ["participant", "item"]]
    participants = np.unique(trials["participant"])
    items = np.unique(trials["item"])
    p = np.searchsorted(participants, usable["participant"].to_numpy())
    i = np.searchsorted(items, usable["item"].to_numpy())
    sums = np.zeros((len(participants), len(items)))
    counts = np.zeros_like(sums)
    np.add.at(sums, (p, i), values.dropna().to_numpy())
    np.add.at(counts, (p, i), 1.0)
    return sums, counts


def bootstrap_estimates(
    trials: pd.DataFrame,
    column: str,
    participant_counts: np.ndarray,
    item_counts: np.ndarray,
) -> np.ndarray:
    """Mean of participant means in each bootstrap replicate, for given resampling counts.

    Args:
        trials: tidy trials with participant, item and `column` (NaN values are ignored).
        column: the trial value to average ("correct" or "confidence").
        participant_counts: (B, P) how often each participant (in sorted id order) is drawn.
        item_counts: (B, I) how often each item (in sorted order) is drawn.

    Returns:
        (B,) estimates: a participant drawn k times whose trials on drawn items carry weights
        (item multiplicities) contributes k times their weighted mean; participants left
        with no trial drop out of that replicate (NaN when none is left).
    """
    sums, counts = _crossing(trials, column)
    item_counts = np.asarray(item_counts, dtype="float64")
    participant_counts = np.asarray(participant_counts, dtype="float64")
    weighted_sums = item_counts @ sums.T  # (B, P)
    weighted_counts = item_counts @ counts.T
    has_trials = weighted_counts > 0
    means = np.divide(
        weighted_sums, weighted_counts, out=np.zeros_like(weighted_sums), where=has_trials
    )
    weights = participant_counts * has_trials
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights * means).sum(axis=1) / total, np.nan)


def cluster_bootstrap_interval(
    trials: pd.DataFrame,
    column: str,
    *,
    resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> Interval:
    """Two-way (participants × items) cluster bootstrap percentile interval.

    Each replicate draws as many participants and as many items as there are, with
    replacement and independently, and evaluates `bootstrap_estimates`. The estimate is the
    observed mean of participant means; bounds are the (1-level)/2 and (1+level)/2 quantiles
    of the replicates. Fewer than 2 participants: NaN bounds.
    """
    if resamples < 1:
        raise ValueError(f"bootstrap resamples must be >= 1, got {resamples}")
    rated = trials[trials[column].notna()]
    per_participant = rated.assign(value=rated[column].astype("float64"))
    observed = t_interval(per_participant.groupby("participant")["value"].mean())
    n_participants = per_participant["participant"].nunique()
    if n_participants < MIN_PARTICIPANTS:
        return Interval(observed.estimate, np.nan, np.nan, "bootstrap")
    n_items = rated["item"].nunique()
    participant_counts = rng.multinomial(
        n_participants, np.full(n_participants, 1 / n_participants), size=resamples
    )
    item_counts = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=resamples)
    estimates = bootstrap_estimates(rated, column, participant_counts, item_counts)
    low, high = np.nanquantile(estimates, [(1 - level) / 2, (1 + level) / 2])
    return Interval(observed.estimate, float(low), float(high), "bootstrap")
