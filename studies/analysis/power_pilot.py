"""Power-planning inputs estimated from a study's own trials (e.g. a pilot).

* accuracy of each group × condition: the share of correct analysed test trials, shrunk
  towards 1/2 as (correct + 1/2) / (trials + 1) so that a cell with all answers right (or
  wrong) still gives an accuracy inside (0, 1);
* participant_sd and item_sd: the random-intercept sds of the mixed logistic regression
  (`mixed.mixed_logit`: participant and item random intercepts, condition effects), averaged
  over the groups it could fit, weighted by their trials.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .mixed import mixed_logit
from .power_design import Cell

_SHRINK = 0.5


@dataclass(frozen=True)
class PilotEstimate:
    """What a study's trials say about the inputs of `power_design.PowerDesign`.

    Attributes:
        accuracy: (group, condition) -> shrunk share of correct trials, for cells with trials.
        trials: (group, condition) -> analysed test trials behind each accuracy.
        participant_sd, item_sd: random-intercept sds (logit scale); None when the mixed model
            could not be fitted (no group with 2 conditions, or it did not converge).
    """

    accuracy: dict[Cell, float]
    trials: dict[Cell, int]
    participant_sd: float | None
    item_sd: float | None


def _mixed_sds(
    trials: pd.DataFrame, conditions: Sequence[str], groups: Sequence[str], seed: int
) -> list[float | None]:
    fit = mixed_logit(trials, conditions=conditions, groups=groups, seed=seed)
    fit = fit[fit["converged"]]
    sds = []
    for term in ("sd(participant)", "sd(item)"):
        rows = fit[fit["term"] == term]
        if rows.empty:
            sds.append(None)
            continue
        sds.append(float(np.average(rows["estimate"], weights=rows["n_trials"])))
    return sds


def estimate_from_trials(
    trials: pd.DataFrame,
    *,
    conditions: Sequence[str],
    groups: Sequence[str],
    seed: int = 0,
    variance_components: bool = True,
) -> PilotEstimate:
    """Estimate accuracies (and, with `variance_components`, the sds) from analysed test
    trials (`StudyTables.trials`: participant, group, condition, item, correct)."""
    accuracy, counts = {}, {}
    for (group, condition), cell in trials.groupby(["group", "condition"], sort=False):
        counts[(group, condition)] = len(cell)
        correct = int(cell["correct"].sum())
        accuracy[(group, condition)] = (correct + _SHRINK) / (len(cell) + 2 * _SHRINK)
    participant_sd = item_sd = None
    if variance_components and len(trials):
        participant_sd, item_sd = _mixed_sds(trials, conditions, groups, seed)
    return PilotEstimate(
        accuracy=accuracy,
        trials=counts,
        participant_sd=participant_sd,
        item_sd=item_sd,
    )
