"""Power of the planned comparisons by simulation: many studies drawn from a `PowerDesign`
(vectorised numpy, seeded), each analysed with the tests of `comparisons`.

For each number of participants per cell n, `simulate_power` draws `simulations` studies with
n participants in every group × condition and, within each group, tests every planned pair
with

* "welch_t": Welch's t-test on participant means (`comparisons.welch_test`), and
* "pooled": the pooled-trials chi-square (Yates) / Fisher test (`comparisons.pooled_tests`),

each family Holm-corrected across the group's pairs (`comparisons.holm`), as `analyse`
reports them. Power is the share of simulated studies whose Holm-adjusted p-value is below
alpha (an untestable study, e.g. both cells constant, counts as not significant); its Monte
Carlo standard error is sqrt(power (1 - power) / simulations). The generator of each n is
seeded with (seed, n), so one n's result does not depend on which other n are simulated.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special

from .comparisons import holm, pooled_tests, welch_test
from .power_design import Cell, PowerDesign, check_counts

TESTS: tuple[str, ...] = ("welch_t", "pooled")
POWER_COLUMNS: tuple[str, ...] = (
    "group",
    "condition_a",
    "condition_b",
    "test",
    "n_per_cell",
    "accuracy_a",
    "accuracy_b",
    "power",
    "mc_se",
    "simulations",
)
TARGETS: tuple[float, ...] = (0.8, 0.9)
DEFAULT_N_PER_CELL: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 80, 100)
_QUADRATURE = np.polynomial.hermite_e.hermegauss(64)  # nodes, weights for E[f(Z)], Z ~ N(0, 1)
_LOGIT_BRACKET = 40.0


def marginal_intercept(accuracy: float, sd: float) -> float:
    """The logit intercept b with E[expit(b + sd·Z)] = accuracy, Z ~ N(0, 1) (Gauss-Hermite
    quadrature, 64 nodes); logit(accuracy) when sd is 0."""
    if sd == 0:
        return float(special.logit(accuracy))
    nodes, weights = _QUADRATURE
    weights = weights / weights.sum()

    def gap(intercept: float) -> float:
        return float(weights @ special.expit(intercept + sd * nodes)) - accuracy

    return optimize.brentq(gap, -_LOGIT_BRACKET, _LOGIT_BRACKET, xtol=1e-12)


def simulate_correct_counts(
    design: PowerDesign, n: int, simulations: int, rng: np.random.Generator
) -> dict[Cell, np.ndarray]:
    """Correct answers of every simulated participant: cell -> (simulations, n) counts out of
    `design.items`, drawn as `PowerDesign` describes (cells in `design.cells` order)."""
    total_sd = float(np.hypot(design.participant_sd, design.item_sd))
    item_effects = rng.normal(0.0, design.item_sd, (simulations, 1, design.item_pool))
    counts = {}
    for cell in design.cells:
        intercept = marginal_intercept(design.accuracy[cell], total_sd)
        person = rng.normal(0.0, design.participant_sd, (simulations, n, 1))
        if design.item_pool == design.items:
            seen = np.broadcast_to(item_effects, (simulations, n, design.items))
        else:
            shown = rng.random((simulations, n, design.item_pool)).argsort(axis=-1)
            seen = np.take_along_axis(
                np.broadcast_to(item_effects, shown.shape), shown[..., : design.items], axis=-1
            )
        correct = rng.random(seen.shape) < special.expit(intercept + person + seen)
        counts[cell] = correct.sum(axis=-1)
    return counts


def _group_p_values(
    design: PowerDesign, counts: dict[Cell, np.ndarray], group: str, n: int
) -> dict[str, np.ndarray]:
    """test -> (simulations, pairs) Holm-adjusted p-values of one group's planned pairs."""
    trials = n * design.items
    raw: dict[str, list[np.ndarray]] = {test: [] for test in TESTS}
    for a, b in design.comparisons:
        correct_a, correct_b = counts[(group, a)], counts[(group, b)]
        raw["welch_t"].append(welch_test(correct_a / design.items, correct_b / design.items)[2])
        pooled = pooled_tests(correct_a.sum(axis=1), trials, correct_b.sum(axis=1), trials)
        raw["pooled"].append(pooled[3])
    return {test: holm(np.column_stack(p)) for test, p in raw.items()}


def simulate_power(
    design: PowerDesign, n_per_cell: Sequence[int], *, simulations: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Power of each planned comparison and test against participants per cell.

    Args:
        design: the assumed study.
        n_per_cell: participants per group × condition to simulate (each >= 2).
        simulations: studies drawn per n (>= 1; the Monte Carlo error shrinks as 1/sqrt).
        seed: seeds the generator of each n together with n.

    Returns:
        One row per group × pair × test × n (`POWER_COLUMNS`), in that nesting order.

    Raises:
        ValueError: an n < 2, a repeated n, or simulations < 1.
    """
    counts_grid = check_counts(list(n_per_cell))
    if simulations < 1:
        raise ValueError(f"simulations must be >= 1, got {simulations}")
    rows = []
    for n in counts_grid:
        counts = simulate_correct_counts(design, n, simulations, np.random.default_rng([seed, n]))
        for group in design.groups:
            adjusted = _group_p_values(design, counts, group, n)
            for k, (a, b) in enumerate(design.comparisons):
                for test in TESTS:
                    power = float(np.mean(adjusted[test][:, k] < design.alpha))
                    rows.append(
                        {
                            "group": group,
                            "condition_a": a,
                            "condition_b": b,
                            "test": test,
                            "n_per_cell": n,
                            "accuracy_a": design.accuracy[(group, a)],
                            "accuracy_b": design.accuracy[(group, b)],
                            "power": power,
                            "mc_se": float(np.sqrt(power * (1 - power) / simulations)),
                            "simulations": simulations,
                        }
                    )
    nesting = ["group", "condition_a", "condition_b", "test"]  # first-seen order, then n
    table = pd.DataFrame(rows, columns=list(POWER_COLUMNS))
    block = table.groupby(nesting, sort=False).ngroup()
    return table.iloc[np.lexsort((table["n_per_cell"], block))].reset_index(drop=True)


def power_by_n(power: pd.DataFrame) -> pd.DataFrame:
    """`power` wide: one row per group × pair × test (columns group, condition_a,
    condition_b, test) and one column "n=<n>" of power per simulated n, in table order."""
    keys = ["group", "condition_a", "condition_b", "test"]
    wide = power.pivot_table(index=keys, columns="n_per_cell", values="power", sort=False)
    wide.columns = [f"n={n}" for n in wide.columns]
    return wide.reset_index()


def required_participants(power: pd.DataFrame, targets: Sequence[float] = TARGETS) -> pd.DataFrame:
    """The smallest simulated n per cell whose power reaches each target.

    Returns:
        One row per group × pair × test with columns group, condition_a, condition_b, test,
        accuracy_a, accuracy_b and "n_80", "n_90" (for targets 0.8, 0.9; Int64): the smallest
        n of `power` with power >= target, NA when no simulated n reaches it (simulate larger
        n).
    """
    keys = ["group", "condition_a", "condition_b", "test", "accuracy_a", "accuracy_b"]
    rows = []
    for values, rows_of_test in power.groupby(keys, sort=False):
        row = dict(zip(keys, values, strict=True))
        for target in targets:
            reached = rows_of_test.loc[rows_of_test["power"] >= target, "n_per_cell"]
            row[f"n_{round(target * 100)}"] = int(reached.min()) if len(reached) else pd.NA
        rows.append(row)
    needed = [f"n_{round(target * 100)}" for target in targets]
    return pd.DataFrame(rows, columns=keys + needed).astype(dict.fromkeys(needed, "Int64"))
