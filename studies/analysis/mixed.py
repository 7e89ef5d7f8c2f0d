"""Optional mixed-effects logistic regression of correctness (off by default: slower, and a
variational approximation).

Per participant group: logit P(correct) = intercept + condition effects (treatment coding
against the first condition present in the group) + participant and item random intercepts,
fitted with statsmodels' `BinomialBayesMixedGLM.fit_vb` (mean-field variational Bayes; priors:
fixed effects N(0, 2²), log random-effect sds N(0, 1²)). Intervals are posterior mean ±
z·posterior sd of the Gaussian approximation.
"""

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

MIXED_COLUMNS: tuple[str, ...] = (
    "group",
    "term",
    "reference",
    "estimate",
    "sd",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "n_participants",
    "n_items",
    "n_trials",
    "converged",
)
_FIXED_EFFECT_PRIOR_SD = 2.0
_RANDOM_EFFECT_PRIOR_SD = 1.0
_MIN_CONDITIONS = 2


def _fit_group(trials: pd.DataFrame, present: list[str], seed: int) -> tuple[object, bool]:
    participants, participant_index = np.unique(trials["participant"], return_inverse=True)
    items, item_index = np.unique(trials["item"], return_inverse=True)
    exog = np.column_stack(
        [np.ones(len(trials))]
        + [(trials["condition"] == condition).to_numpy(float) for condition in present[1:]]
    )
    exog_vc = np.zeros((len(trials), len(participants) + len(items)))
    rows = np.arange(len(trials))
    exog_vc[rows, participant_index] = 1.0
    exog_vc[rows, len(participants) + item_index] = 1.0
    ident = np.r_[np.zeros(len(participants), int), np.ones(len(items), int)]
    model = BinomialBayesMixedGLM(
        trials["correct"].to_numpy(float),
        exog,
        exog_vc,
        ident,
        vcp_p=_RANDOM_EFFECT_PRIOR_SD,
        fe_p=_FIXED_EFFECT_PRIOR_SD,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit_vb(rng=seed)
    return result, bool(result.optim_retvals.success)


def mixed_logit(
    trials: pd.DataFrame,
    *,
    conditions: Sequence[str],
    groups: Sequence[str],
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Fit the mixed logistic regression for each group with >= 2 conditions that have trials.

    Returns:
        `MIXED_COLUMNS`: per group the rows "intercept" (log-odds of a correct answer in the
        reference condition), one row per other condition (its log-odds ratio against the
        reference; odds_ratio = exp(estimate)), and "sd(participant)" / "sd(item)" (random
        intercept sds: exp of the posterior mean and bounds of the log sd). `converged` is
        the optimiser's success flag; a False row should not be reported.
    """
    z = stats.norm.ppf((1 + level) / 2)
    rows = []
    for group in groups:
        data = trials[trials["group"] == group]
        present = [c for c in conditions if (data["condition"] == c).any()]
        if len(present) < _MIN_CONDITIONS:
            continue
        result, converged = _fit_group(data, present, seed)
        common = {
            "group": group,
            "reference": present[0],
            "n_participants": data["participant"].nunique(),
            "n_items": data["item"].nunique(),
            "n_trials": len(data),
            "converged": converged,
        }
        for term, mean, sd in zip(
            ["intercept", *present[1:]], result.fe_mean, result.fe_sd, strict=True
        ):
            rows.append(
                {
                    **common,
                    "term": term,
                    "estimate": mean,
                    "sd": sd,
                    "ci_low": mean - z * sd,
                    "ci_high": mean + z * sd,
                    "odds_ratio": np.exp(mean),
                }
            )
        for term, mean, sd in zip(
            ["sd(participant)", "sd(item)"], result.vcp_mean, result.vcp_sd, strict=True
        ):
            rows.append(
                {
                    **common,
                    "term": term,
                    "estimate": np.exp(mean),
                    "sd": np.nan,
                    "ci_low": np.exp(mean - z * sd),
                    "ci_high": np.exp(mean + z * sd),
                    "odds_ratio": np.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(MIXED_COLUMNS)).astype(
        {
            "group": "str",
            "term": "str",
            "reference": "str",
            "estimate": "float64",
            "sd": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "odds_ratio": "float64",
            "n_participants": "int64",
            "n_items": "int64",
            "n_trials": "int64",
            "converged": "bool",
        }
    )
