"""Exclusion rules, applied in one place, and the CONSORT-style participant flow.

Participant-level reasons, checked in this order (an excluded participant is counted under the
first reason that applies):

1. "not assigned": no group or no condition (always applied: such a participant has no cell);
2. "incomplete": state != "completed" (when `ExclusionRules.exclude_incomplete`);
3. "failed attention checks": more answered-but-wrong attention checks (in any block) than
   `ExclusionRules.max_failed_attention_checks` (when that is not None);
4. "no test trials": no analysable test trial left (always applied).

Trial-level reason: "faster than min_response_ms": answered test trials of analysed participants
with response_ms < `ExclusionRules.min_response_ms` are dropped (trials with unknown response_ms
are kept).
"""

from dataclasses import dataclass

import pandas as pd

from .levels import PARTICIPANT_MEAN_COLUMNS, participant_means, tidy_test_trials
from .schema import validate_study

NOT_ASSIGNED = "not assigned"
INCOMPLETE = "incomplete"
FAILED_CHECKS = "failed attention checks"
NO_TEST_TRIALS = "no test trials"
TOO_FAST = "faster than min_response_ms"

PARTICIPANT_TABLE_COLUMNS: tuple[str, ...] = (
    "participant",
    "group",
    "condition",
    "state",
    *PARTICIPANT_MEAN_COLUMNS,
    "n_too_fast",
    "n_attention_checks",
    "n_failed_attention_checks",
    "excluded",
    "exclusion_reason",
)
COUNT_COLUMNS: tuple[str, ...] = (
    "reason",
    "level",
    "applied",
    "n_participants",
    "n_participants_meeting",
    "n_test_trials",
)
FLOW_COLUMNS: tuple[str, ...] = ("step", "kind", "n_participants", "n_test_trials")


@dataclass(frozen=True)
class ExclusionRules:
    """Exclusion rules declared in a study's settings.

    Attributes:
        max_failed_attention_checks: participants with more failed attention checks than this
            are excluded; None disables the rule.
        exclude_incomplete: exclude participants whose state is not "completed".
        min_response_ms: drop test trials answered faster than this (ms); None disables it.
    """

    max_failed_attention_checks: int | None = 0
    exclude_incomplete: bool = True
    min_response_ms: float | None = None

    def __post_init__(self) -> None:
        if self.max_failed_attention_checks is not None and self.max_failed_attention_checks < 0:
            raise ValueError("max_failed_attention_checks must be >= 0 or None")
        if self.min_response_ms is not None and not self.min_response_ms >= 0:
            raise ValueError("min_response_ms must be >= 0 or None")

    @classmethod
    def none(cls) -> "ExclusionRules":
        """Rules that exclude nothing beyond what cannot be analysed at all."""
        return cls(max_failed_attention_checks=None, exclude_incomplete=False)


DEFAULT_RULES = ExclusionRules()


@dataclass(frozen=True)
class Exclusions:
    """The outcome of `apply_exclusions`.

    Attributes:
        rules: the rules that were applied.
        trials: analysed test trials (one row per trial, `levels.TEST_TRIAL_COLUMNS`).
        participants: every consented participant (`PARTICIPANT_TABLE_COLUMNS`), with their
            own accuracy and confidence over their analysable test trials (computed for
            excluded participants too) and whether and why they were excluded.
        counts: one row per reason (`COUNT_COLUMNS`): n_participants excluded for it (first
            reason), n_participants_meeting it whatever the order (NA for a disabled threshold),
            n_test_trials removed by it (answered non-attention test trials of those
            participants; for the trial-level reason, the dropped trials of analysed
            participants).
    """

    rules: ExclusionRules
    trials: pd.DataFrame
    participants: pd.DataFrame
    counts: pd.DataFrame


def apply_exclusions(
    trials: pd.DataFrame, participants: pd.DataFrame, rules: ExclusionRules | None
) -> Exclusions:
    """Apply `rules` (None: `ExclusionRules.none()`) to a study; see the module docstring.

    Raises:
        ValueError: the inputs do not follow the schema (see `schema.validate_study`).
    """
    rules = ExclusionRules.none() if rules is None else rules
    trials, participants = validate_study(trials, participants)

    checks = trials[trials["is_attention_check"]]
    failed = checks["answered"] & ~checks["correct"].fillna(False).astype(bool)
    candidates = tidy_test_trials(trials)
    too_fast = (
        candidates["response_ms"] < rules.min_response_ms
        if rules.min_response_ms is not None
        else pd.Series(False, index=candidates.index)
    )
    kept = candidates[~too_fast]

    table = participants.set_index("participant")
    means = participant_means(kept).reindex(table.index)
    for column in PARTICIPANT_MEAN_COLUMNS:
        table[column] = means[column]
    for column in ("n_test_trials", "n_correct", "n_rated"):
        table[column] = table[column].fillna(0).astype("int64")
    per_participant = {
        "n_too_fast": too_fast.groupby(candidates["participant"]).sum(),
        "n_attention_checks": checks.groupby("participant").size(),
        "n_failed_attention_checks": failed.groupby(checks["participant"]).sum(),
    }
    for column, counts in per_participant.items():
        table[column] = counts.reindex(table.index).fillna(0).astype("int64")

    max_failed = rules.max_failed_attention_checks
    meets = {
        NOT_ASSIGNED: table["group"].isna() | table["condition"].isna(),
        INCOMPLETE: table["state"] != "completed",
        FAILED_CHECKS: table["n_failed_attention_checks"] > (max_failed or 0),
        NO_TEST_TRIALS: table["n_test_trials"] == 0,
    }
    applied = {
        NOT_ASSIGNED: True,
        INCOMPLETE: rules.exclude_incomplete,
        FAILED_CHECKS: max_failed is not None,
        NO_TEST_TRIALS: True,
    }
    reason = pd.Series(pd.NA, index=table.index, dtype="str")
    for name, mask in meets.items():
        if applied[name]:
            reason = reason.mask(reason.isna() & mask, name)
    table["excluded"] = reason.notna()
    table["exclusion_reason"] = reason
    table = table.reset_index().loc[:, list(PARTICIPANT_TABLE_COLUMNS)]

    included = table.loc[~table["excluded"], "participant"]
    candidate_counts = candidates.groupby("participant").size()
    rows = []
    for name, mask in meets.items():
        primary = table.loc[table["exclusion_reason"] == name, "participant"]
        threshold_off = name == FAILED_CHECKS and max_failed is None
        rows.append(
            {
                "reason": name,
                "level": "participant",
                "applied": applied[name],
                "n_participants": len(primary),
                "n_participants_meeting": pd.NA if threshold_off else int(mask.sum()),
                "n_test_trials": int(candidate_counts.reindex(primary).fillna(0).sum()),
            }
        )
    dropped = too_fast & candidates["participant"].isin(included)
    rows.append(
        {
            "reason": TOO_FAST,
            "level": "trial",
            "applied": rules.min_response_ms is not None,
            "n_participants": 0,
            "n_participants_meeting": (
                int(candidates.loc[too_fast, "participant"].nunique())
                if rules.min_response_ms is not None
                else pd.NA
            ),
            "n_test_trials": int(dropped.sum()),
        }
    )
    counts = pd.DataFrame(rows, columns=list(COUNT_COLUMNS)).astype(
        {"n_participants": "int64", "n_participants_meeting": "Int64", "n_test_trials": "int64"}
    )
    analysed = kept[kept["participant"].isin(included)].reset_index(drop=True)
    return Exclusions(rules=rules, trials=analysed, participants=table, counts=counts)


def flow_table(exclusions: Exclusions, *, declined: int, invited: int | None) -> pd.DataFrame:
    """CONSORT-style flow: invited -> consented -> assigned -> completed -> analysed.

    Rows have kind "stage" (a count), "removed" (subtracted between the stages around it) or
    "info" (shown, not part of the arithmetic). Each stage's n equals the previous stage's n
    minus the removed rows in between, for participants and, from "assigned" on, test trials
    (answered, non-attention-check test trials). With `exclude_incomplete` off, "completed" is
    an info row and incomplete participants flow on to "analysed".

    Raises:
        ValueError: declined is negative, or invited is smaller than consented + declined.
    """
    if declined < 0:
        raise ValueError(f"declined must be >= 0, got {declined}")
    table = exclusions.participants
    counts = exclusions.counts.set_index("reason")
    consented = len(table)
    if invited is not None and invited < consented + declined:
        raise ValueError(
            f"invited ({invited}) is smaller than consented ({consented}) + declined ({declined})"
        )
    trials_of = table["n_test_trials"] + table["n_too_fast"]
    assigned = ~(table["group"].isna() | table["condition"].isna())
    completed = assigned & (table["state"] == "completed")

    def row(step: str, kind: str, n_participants: object, n_test_trials: object) -> dict:
        return {
            "step": step,
            "kind": kind,
            "n_participants": n_participants,
            "n_test_trials": n_test_trials,
        }

    def removed(reason: str) -> dict:
        return row(
            f"excluded: {reason}",
            "removed",
            counts.at[reason, "n_participants"],
            counts.at[reason, "n_test_trials"],
        )

    rows = [row("invited", "stage", pd.NA if invited is None else invited, pd.NA)]
    rows.append(row("declined consent", "removed", declined, pd.NA))
    if invited is not None:
        rows.append(row("did not respond", "removed", invited - consented - declined, pd.NA))
    rows.append(row("consented", "stage", consented, pd.NA))
    rows.append(removed(NOT_ASSIGNED))
    rows.append(row("assigned", "stage", int(assigned.sum()), int(trials_of[assigned].sum())))
    completed_row = row("completed", "stage", int(completed.sum()), int(trials_of[completed].sum()))
    if exclusions.rules.exclude_incomplete:
        for state in ("active", "abandoned"):
            lost = assigned & (table["state"] == state)
            rows.append(
                row(
                    f"not completed: {state}",
                    "removed",
                    int(lost.sum()),
                    int(trials_of[lost].sum()),
                )
            )
        rows.append(completed_row)
    else:
        rows.append({**completed_row, "kind": "info"})
    rows.append(removed(FAILED_CHECKS))
    rows.append(removed(NO_TEST_TRIALS))
    rows.append(
        row(
            f"test trials dropped: {TOO_FAST}",
            "removed",
            0,
            counts.at[TOO_FAST, "n_test_trials"],
        )
    )
    analysed = ~table["excluded"]
    rows.append(row("analysed", "stage", int(analysed.sum()), len(exclusions.trials)))
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS)).astype(
        {"n_participants": "Int64", "n_test_trials": "Int64"}
    )
