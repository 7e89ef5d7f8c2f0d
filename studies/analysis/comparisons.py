"""Pairwise comparisons of conditions within each participant group.

For every group, every pair of conditions (a, b) in the given order (a before b), and each
measure, one row per test (`COMPARISON_COLUMNS`):

* "welch_t": Welch's t-test on participant means (two-sided); effect size Cohen's d with the
  pooled sd, d = (mean_a - mean_b) / s_p, and its exact interval from the noncentral t
  distribution (the noncentrality parameters whose cdf at the observed t is (1±level)/2,
  divided by sqrt(n_a·n_b / (n_a + n_b)));
* "mann_whitney_u": Mann-Whitney U on participant means (two-sided, scipy's "auto" method);
  statistic = U of condition a; effect size rank-biserial r = 2U / (n_a·n_b) - 1, no interval;
* accuracy only, pooled correctness of all trials in a 2×2 table (a/b × correct/wrong):
  "chi_square" (Pearson with Yates' continuity correction, df 1), or "fisher_exact" when any
  expected count is < 5 (statistic = sample odds ratio); effect size Cohen's h =
  2·asin(sqrt(p_a)) - 2·asin(sqrt(p_b)) with the normal-approximation interval
  h ± z·sqrt(1/n_a + 1/n_b) (n = trials; this ignores clustering within participants).

`p_holm` is Holm's step-down adjustment across the pairs of one group, measure and test family
(Welch; Mann-Whitney; pooled chi-square/Fisher), over the pairs that have a p-value.

Degenerate cases get no test: their statistic, p-value and effect are NaN (empty) and `note`
says why (`NO_TEST_REASONS`). Every test needs at least 2 participants in each condition;
Welch's t needs some spread in at least one condition (two constant cells would give t = ±inf
and p = 0, which reads as "highly significant"); Mann-Whitney needs at least two different
values overall; the pooled test needs both correct and wrong trials overall. `note` also flags
a Fisher row whose odds ratio is infinite or undefined (a zero cell; its p-value stands).
"""

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .intervals import MIN_PARTICIPANTS

COMPARISON_COLUMNS: tuple[str, ...] = (
    "group",
    "measure",
    "condition_a",
    "condition_b",
    "test",
    "n_participants_a",
    "n_participants_b",
    "n_trials_a",
    "n_trials_b",
    "mean_a",
    "mean_b",
    "difference",
    "statistic",
    "df",
    "p_value",
    "p_holm",
    "effect_size",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    "note",
)
FEW_PARTICIPANTS = "no test: fewer than 2 participants in a condition"
NO_SPREAD = "no test: no spread in either condition (every participant has the same value)"
ALL_TIED = "no test: every participant in both conditions has the same value"
ONE_OUTCOME = "no test: every trial in both conditions has the same outcome"
ZERO_CELL = "a zero cell in the 2x2 table: the odds ratio is 0 or infinite (the p-value stands)"
NO_TEST_REASONS: tuple[str, ...] = (FEW_PARTICIPANTS, NO_SPREAD, ALL_TIED, ONE_OUTCOME)
_FAMILY = {
    "welch_t": "welch_t",
    "mann_whitney_u": "mann_whitney_u",
    "chi_square": "pooled",
    "fisher_exact": "pooled",
}
_MIN_EXPECTED = 5
_MAX_BRACKET_STEPS = 60


def _ncp_for_cdf(t_observed: float, df: float, target: float) -> float:
    """The noncentrality ncp with nct.cdf(t_observed, df, ncp) == target (cdf falls in ncp)."""

    def gap(ncp: float) -> float:
        return stats.nct.cdf(t_observed, df, ncp) - target

    step = 1.0
    for _ in range(_MAX_BRACKET_STEPS):
        low, high = t_observed - step, t_observed + step
        if gap(low) > 0 > gap(high):
            return optimize.brentq(gap, low, high, xtol=1e-10)
        step *= 2
    return np.nan


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis: with the m non-NaN p sorted
    ascending, the i-th (1-based) is max over j <= i of min(1, (m - j + 1)·p_(j)), returned
    in the input order; NaN (no test) stays NaN and does not count towards m.

    Same values as `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`, which
    is not used because it runs a full `gc.collect()` on every call (~70 ms here, one call per
    test family, more inside a large web process). Accepts (..., m) arrays, e.g. one family
    per simulated study.
    """
    p = np.asarray(p_values, dtype="float64")
    order = np.argsort(p, axis=-1, kind="stable")  # NaN sorts last
    ranked = np.take_along_axis(p, order, axis=-1)
    m = (~np.isnan(p)).sum(axis=-1, keepdims=True)
    scaled = np.minimum(1.0, (m - np.arange(p.shape[-1])) * ranked)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.fmax.accumulate(scaled, axis=-1), axis=-1)
    return np.where(np.isnan(p), np.nan, adjusted)


def cohens_d(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Cohen's d of a vs b with the pooled sd and its noncentral-t interval.

    Returns (d, low, high); all NaN when either sample has < 2 values or the pooled sd is 0.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    n_a, n_b = len(a), len(b)
    if min(n_a, n_b) < MIN_PARTICIPANTS:
        return np.nan, np.nan, np.nan
    df = n_a + n_b - 2
    pooled_sd = np.sqrt(((n_a - 1) * a.var(ddof=1) + (n_b - 1) * b.var(ddof=1)) / df)
    if pooled_sd == 0:
        return np.nan, np.nan, np.nan
    d = (a.mean() - b.mean()) / pooled_sd
    scale = np.sqrt(n_a * n_b / (n_a + n_b))
    t_observed = d * scale
    low = _ncp_for_cdf(t_observed, df, (1 + level) / 2) / scale
    high = _ncp_for_cdf(t_observed, df, (1 - level) / 2) / scale
    return float(d), float(low), float(high)


def cohens_h(
    successes_a: int, n_a: int, successes_b: int, n_b: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Cohen's h of two proportions with the interval h ± z·sqrt(1/n_a + 1/n_b)."""
    h = 2 * np.arcsin(np.sqrt(successes_a / n_a)) - 2 * np.arcsin(np.sqrt(successes_b / n_b))
    half = stats.norm.ppf((1 + level) / 2) * np.sqrt(1 / n_a + 1 / n_b)
    return float(h), float(h - half), float(h + half)


def _two_by_two(
    successes_a: np.ndarray, n_a: np.ndarray, successes_b: np.ndarray, n_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The (..., 2, 2) tables (a/b × correct/wrong) and their expected counts under
    independence (NaN for an empty table)."""
    a, b = np.asarray(successes_a, "float64"), np.asarray(successes_b, "float64")
    table = np.stack(
        [np.stack([a, np.subtract(n_a, a)], -1), np.stack([b, np.subtract(n_b, b)], -1)], -2
    )
    total = table.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = table.sum(-1, keepdims=True) * table.sum(-2, keepdims=True) / total
    return table, expected


def _needs_fisher(expected: np.ndarray) -> np.ndarray:
    """Tables with an expected count < 5 (or an empty row: NaN expected counts)."""
    return ~(expected >= _MIN_EXPECTED).all(axis=(-2, -1))


def pooled_test_name(successes_a: int, n_a: int, successes_b: int, n_b: int) -> str:
    """ "fisher_exact" when any expected count of the 2×2 table is < 5, else "chi_square"."""
    _, expected = _two_by_two(successes_a, n_a, successes_b, n_b)
    return "fisher_exact" if _needs_fisher(expected) else "chi_square"


def pooled_tests(
    successes_a: np.ndarray, n_a: np.ndarray, successes_b: np.ndarray, n_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pooled test of many 2×2 tables at once (arrays broadcast together).

    Pearson's chi-square with Yates' correction, as `scipy.stats.chi2_contingency(table,
    correction=True)` computes it (each |observed - expected| reduced by min(0.5, itself)),
    df 1; where an expected count is < 5, Fisher's exact test (scipy, once per distinct
    table; statistic = odds ratio, df NaN). Returns (is_fisher, statistic, df, p-value).
    """
    counts = np.broadcast_arrays(successes_a, n_a, successes_b, n_b)
    shape = counts[0].shape
    table, expected = _two_by_two(*(np.ravel(count) for count in counts))
    fisher = _needs_fisher(expected)
    deviation = np.abs(table - expected)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = ((deviation - np.minimum(0.5, deviation)) ** 2 / expected).sum(axis=(-2, -1))
    p_value = stats.chi2.sf(statistic, 1)
    df = np.where(fisher, np.nan, 1.0)
    small = table[fisher].astype("int64")
    distinct, back = np.unique(small.reshape(len(small), 4), axis=0, return_inverse=True)
    exact = np.array([stats.fisher_exact(t.reshape(2, 2)) for t in distinct]).reshape(-1, 2)
    statistic[fisher], p_value[fisher] = exact[back.ravel()].T
    return tuple(value.reshape(shape) for value in (fisher, statistic, df, p_value))


def pooled_correctness_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int
) -> tuple[str, float, float, float]:
    """Chi-square (Yates) or, when an expected count is < 5, Fisher's exact test of a 2×2
    table (`pooled_tests` of one table). Returns (test name, statistic, df (NaN for
    Fisher), p-value)."""
    fisher, statistic, df, p_value = pooled_tests(successes_a, n_a, successes_b, n_b)
    name = "fisher_exact" if fisher else "chi_square"
    return name, float(statistic), float(df), float(p_value)


def welch_test(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's two-sided t-test of a vs b along the last axis: (t, df, p), shape a.shape[:-1].

    Vectorised over leading axes (one test per row, e.g. per simulated study). Where both
    samples are constant (max == min in each) there is no test: t, df and p are NaN rather
    than scipy's ±inf / 0. Fewer than 2 values in a sample: NaN everywhere.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    if min(a.shape[-1], b.shape[-1]) < MIN_PARTICIPANTS:
        return (np.full(shape, np.nan),) * 3
    no_spread = (np.ptp(a, axis=-1) == 0) & (np.ptp(b, axis=-1) == 0)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False, axis=-1)
    return tuple(
        np.where(no_spread, np.nan, np.broadcast_to(value, shape))
        for value in (result.statistic, result.df, result.pvalue)
    )


def _participant_tests(a: np.ndarray, b: np.ndarray, level: float) -> list[dict]:
    welch = {"test": "welch_t", "effect_size": "cohens_d"}
    mwu = {"test": "mann_whitney_u", "effect_size": "rank_biserial"}
    if min(len(a), len(b)) < MIN_PARTICIPANTS:
        return [{**welch, "note": FEW_PARTICIPANTS}, {**mwu, "note": FEW_PARTICIPANTS}]
    t, df, p = (float(value) for value in welch_test(a, b))
    if np.isnan(p):
        welch["note"] = NO_SPREAD
    else:
        d, d_low, d_high = cohens_d(a, b, level)
        welch.update(
            statistic=t, df=df, p_value=p, effect=d, effect_ci_low=d_low, effect_ci_high=d_high
        )
    if np.ptp(np.concatenate([a, b])) == 0:
        mwu["note"] = ALL_TIED
    else:
        u_result = stats.mannwhitneyu(a, b, alternative="two-sided")
        mwu.update(
            statistic=u_result.statistic,
            p_value=u_result.pvalue,
            effect=2 * u_result.statistic / (len(a) * len(b)) - 1,
        )
    return [welch, mwu]


def compare_conditions(
    trials: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    conditions: Sequence[str],
    groups: Sequence[str],
    level: float = 0.95,
) -> pd.DataFrame:
    """All pairwise condition comparisons within each group (see the module docstring).

    Args:
        trials: analysed test trials (`Exclusions.trials`).
        participants: analysed participants (not excluded rows of `Exclusions.participants`).
        conditions, groups: order of pairs and rows.
        level: confidence level of the effect-size intervals.

    Returns:
        One row per group × measure × pair × test with `COMPARISON_COLUMNS`; mean_a/mean_b
        are means of participant means for the participant-level tests and pooled shares of
        correct trials for the pooled test.
    """
    rows = []
    for group in groups:
        in_group = participants[participants["group"] == group]
        for condition_a, condition_b in itertools.combinations(conditions, 2):
            cell_a = in_group[in_group["condition"] == condition_a]
            cell_b = in_group[in_group["condition"] == condition_b]
            pair = {"group": group, "condition_a": condition_a, "condition_b": condition_b}
            for measure, column, count in (
                ("accuracy", "accuracy", "n_test_trials"),
                ("confidence", "mean_confidence", "n_rated"),
            ):
                a = cell_a[column].dropna().to_numpy(dtype="float64")
                b = cell_b[column].dropna().to_numpy(dtype="float64")
                base = {
                    **pair,
                    "measure": measure,
                    "n_participants_a": len(a),
                    "n_participants_b": len(b),
                    "n_trials_a": int(cell_a[count].sum()),
                    "n_trials_b": int(cell_b[count].sum()),
                    "mean_a": a.mean() if len(a) else np.nan,
                    "mean_b": b.mean() if len(b) else np.nan,
                }
                rows.extend({**base, **test} for test in _participant_tests(a, b, level))
                if measure == "accuracy":
                    rows.append(_pooled_row(base, cell_a, cell_b, level))
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    out["difference"] = out["mean_a"] - out["mean_b"]
    out["p_holm"] = np.nan
    family = out["test"].map(_FAMILY)
    for _, index in out.groupby([out["group"], out["measure"], family]).groups.items():
        p = out.loc[index, "p_value"].dropna()
        if len(p):
            out.loc[p.index, "p_holm"] = holm(p.to_numpy())
    out["note"] = out["note"].fillna("")
    text = ["group", "measure", "condition_a", "condition_b", "test", "effect_size", "note"]
    counts = ["n_participants_a", "n_participants_b", "n_trials_a", "n_trials_b"]
    numbers = [c for c in COMPARISON_COLUMNS if c not in text and c not in counts]
    return out.astype(
        {
            **dict.fromkeys(text, "str"),
            **dict.fromkeys(counts, "int64"),
            **dict.fromkeys(numbers, "float64"),
        }
    )


def _pooled_row(base: dict, cell_a: pd.DataFrame, cell_b: pd.DataFrame, level: float) -> dict:
    successes_a, n_a = int(cell_a["n_correct"].sum()), int(cell_a["n_test_trials"].sum())
    successes_b, n_b = int(cell_b["n_correct"].sum()), int(cell_b["n_test_trials"].sum())
    row = {
        **base,
        "test": pooled_test_name(successes_a, n_a, successes_b, n_b),
        "effect_size": "cohens_h",
        "mean_a": successes_a / n_a if n_a else np.nan,
        "mean_b": successes_b / n_b if n_b else np.nan,
    }
    if min(base["n_participants_a"], base["n_participants_b"]) < MIN_PARTICIPANTS:
        return {**row, "note": FEW_PARTICIPANTS}
    if successes_a + successes_b in (0, n_a + n_b):
        return {**row, "note": ONE_OUTCOME}
    test, statistic, df, p_value = pooled_correctness_test(successes_a, n_a, successes_b, n_b)
    h, h_low, h_high = cohens_h(successes_a, n_a, successes_b, n_b, level)
    zero_cell = 0 in (successes_a, n_a - successes_a, successes_b, n_b - successes_b)
    row.update(
        note=ZERO_CELL if test == "fisher_exact" and zero_cell else "",
        statistic=statistic,
        df=df,
        p_value=p_value,
        effect=h,
        effect_ci_low=h_low,
        effect_ci_high=h_high,
    )
    return row
