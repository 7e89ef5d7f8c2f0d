"""`analyse`: the one entry point from raw study tables to every result table."""

from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd

from .calibration import calibration_by_confidence, confidence_auroc
from .comparisons import compare_conditions
from .exclusions import DEFAULT_RULES, ExclusionRules, apply_exclusions, flow_table
from .mixed import mixed_logit
from .summary import paper_table, summarise


@dataclass(frozen=True)
class StudyTables:
    """Every result table of one analysis (columns: see CODEBOOK.md / `codebook.CODEBOOK`).

    Attributes:
        trials: analysed test trials, one row per trial.
        participants: every consented participant with accuracy, confidence, attention-check
            counts and whether / why they were excluded.
        summary: long form, one row per group × condition × measure.
        paper: the paper's Tab. 4/5 layout, groups stacked (see `paper_for`).
        comparisons: pairwise tests between conditions within each group.
        calibration: accuracy by confidence level per group × condition.
        calibration_auroc: AUROC of confidence for correct vs wrong answers.
        exclusions: counts per exclusion reason.
        flow: CONSORT-style participant flow.
        mixed_model: mixed-effects logistic regression, or None when not requested.
    """

    trials: pd.DataFrame
    participants: pd.DataFrame
    summary: pd.DataFrame
    paper: pd.DataFrame
    comparisons: pd.DataFrame
    calibration: pd.DataFrame
    calibration_auroc: pd.DataFrame
    exclusions: pd.DataFrame
    flow: pd.DataFrame
    mixed_model: pd.DataFrame | None = None

    def as_dict(self) -> dict[str, pd.DataFrame]:
        """Table name -> table, in declaration order, leaving out absent (None) tables."""
        tables = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: table for name, table in tables.items() if table is not None}

    def paper_for(self, group: str) -> pd.DataFrame:
        """One group's table in the paper's layout: index measure, one column per condition.

        Raises:
            KeyError: the group is not in the analysis.
        """
        rows = self.paper[self.paper["group"] == group]
        if rows.empty:
            raise KeyError(f"group {group!r} is not in the analysis")
        return rows.drop(columns="group").set_index("measure")


def _order(explicit: Sequence[str] | None, present: pd.Series, name: str) -> list[str]:
    found = set(present.dropna())
    if explicit is None:
        return sorted(found)
    order = list(explicit)
    repeated = sorted({value for value in order if order.count(value) > 1})
    if repeated:
        raise ValueError(f"{name}s lists {', '.join(map(repr, repeated))} more than once")
    unknown = sorted(found - set(order))
    if unknown:
        raise ValueError(
            f"participants have {name}(s) {', '.join(map(repr, unknown))} that are not in "
            f"{name}s={order!r}"
        )
    return order


def analyse(
    trials: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    declined: int = 0,
    invited: int | None = None,
    rules: ExclusionRules | None = DEFAULT_RULES,
    interval: str = "t",
    conditions: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    bootstrap_resamples: int = 2000,
    seed: int = 0,
    mixed_model: bool = False,
) -> StudyTables:
    """Analyse a study: exclusions, summary, comparisons, calibration and flow tables.

    Args:
        trials, participants: the input tables (schema: package docstring).
        declined: how many people refused consent; invited: how many were invited (None:
            unknown).
        rules: exclusion rules (default: `ExclusionRules()`); None applies none (only
            participants who cannot be analysed drop out).
        interval: "t" (default, the paper's ±), "wilson" or "bootstrap" (see `summary`).
        conditions, groups: row/column order; None: sorted names found in `participants`.
            Listed names with no data get empty cells.
        bootstrap_resamples, seed: for interval="bootstrap" (seed also seeds the mixed model).
        mixed_model: also fit the mixed-effects logistic regression (seconds per group).

    Raises:
        ValueError: an input breaks the schema, or conditions / groups miss a name present in
            the data or repeat one.
    """
    exclusions = apply_exclusions(trials, participants, rules)
    table = exclusions.participants
    condition_order = _order(conditions, table["condition"], "condition")
    group_order = _order(groups, table["group"], "group")
    analysed = table[~table["excluded"]]
    order = {"conditions": condition_order, "groups": group_order}
    summary = summarise(
        exclusions.trials,
        analysed,
        interval=interval,
        bootstrap_resamples=bootstrap_resamples,
        seed=seed,
        **order,
    )
    return StudyTables(
        trials=exclusions.trials,
        participants=table,
        summary=summary,
        paper=paper_table(summary, **order),
        comparisons=compare_conditions(exclusions.trials, analysed, **order),
        calibration=calibration_by_confidence(exclusions.trials, **order),
        calibration_auroc=confidence_auroc(exclusions.trials, **order),
        exclusions=exclusions.counts,
        flow=flow_table(exclusions, declined=declined, invited=invited),
        mixed_model=mixed_logit(exclusions.trials, seed=seed, **order) if mixed_model else None,
    )
