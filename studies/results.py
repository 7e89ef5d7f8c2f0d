"""A study's results: the database's trials and participants as the analysis package's tables.

Used alike by the admin dashboard, the API and ``manage.py export_results``, so every output
applies the study's exclusion rules the same way (see :mod:`studies.analysis`). The power
planner (``manage.py plan_power`` and the admin's "Power" page) takes a study's design and,
optionally, its analysed trials from here too (:func:`power_setting`, :func:`pilot_estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from studies.analysis import (
    ExclusionRules,
    PilotEstimate,
    PowerDesign,
    StudyTables,
    analyse,
    design_from_accuracy,
    empty_participants,
    empty_trials,
    estimate_from_trials,
    plot_calibration,
    plot_summary,
    save_figure,
)
from studies.analysis.schema import validate_participants, validate_trials
from studies.models import Participant, StimulusItem, Study, Trial
from studies.randomization import expire_abandoned


def exclusion_rules(study: Study) -> ExclusionRules:
    """The exclusion rules declared in the study's settings."""
    return ExclusionRules(
        max_failed_attention_checks=study.max_failed_attention_checks,
        exclude_incomplete=True,
        min_response_ms=study.min_response_ms,
    )


TRIAL_FIELDS = {
    "participant": "participant_id",
    "group": "participant__group__name",
    "condition": "condition__name",
    "item": "item__key",
    "block": "block",
    "position": "position",
    "is_attention_check": "is_attention_check",
    "answered": "answered_at",
    "correct": "correct",
    "confidence": "confidence",
    "response_ms": "client_response_ms",
}
"""Column of the analysis' trials table → the Trial field it comes from."""

PARTICIPANT_FIELDS = {
    "participant": "pk",
    "group": "group__name",
    "condition": "condition__name",
    "state": "state",
}
"""Column of the analysis' participants table → the Participant field it comes from."""


def trial_table(study: Study) -> pd.DataFrame:
    """One row per trial of the study's participants (schema of :mod:`studies.analysis`)."""
    rows = Trial.objects.filter(participant__study=study).values_list(*TRIAL_FIELDS.values())
    frame = pd.DataFrame.from_records(list(rows), columns=list(TRIAL_FIELDS))
    frame["participant"] = frame["participant"].map(_participant_id)
    frame["answered"] = frame["answered"].notna()
    return validate_trials(frame) if len(frame) else empty_trials()


def participant_table(study: Study) -> pd.DataFrame:
    """One row per participant who consented (abandoned ones marked first)."""
    expire_abandoned(study)
    rows = Participant.objects.filter(study=study).values_list(*PARTICIPANT_FIELDS.values())
    frame = pd.DataFrame.from_records(list(rows), columns=list(PARTICIPANT_FIELDS))
    frame["participant"] = frame["participant"].map(_participant_id)
    return validate_participants(frame) if len(frame) else empty_participants()


def _participant_id(pk: int) -> str:
    return f"P{pk:05d}"


def study_tables(
    study: Study, *, exclusions: bool = True, interval: str = "t", mixed_model: bool = False
) -> StudyTables:
    """Every result table of ``study``, with or without its exclusion rules."""
    invites = study.invites.count()
    return analyse(
        trial_table(study),
        participant_table(study),
        declined=study.declines.count(),
        invited=invites or None,
        rules=exclusion_rules(study) if exclusions else None,
        interval=interval,
        conditions=list(study.conditions.values_list("name", flat=True)),
        groups=list(study.groups.values_list("name", flat=True)),
        seed=study.seed,
        mixed_model=mixed_model,
    )


def result_figures(study: Study, tables: StudyTables) -> dict[str, Figure]:
    """The plots: accuracy and confidence per method and group with CIs; calibration."""
    conditions = list(study.conditions.values_list("name", flat=True))
    groups = list(study.groups.values_list("name", flat=True))
    return {
        "summary": plot_summary(tables.summary, conditions=conditions, groups=groups),
        "calibration": plot_calibration(tables.calibration, conditions=conditions, groups=groups),
    }


def write_figures(study: Study, tables: StudyTables, out_dir: Path) -> list[Path]:
    """Save every plot as PNG and SVG into ``out_dir``."""
    written = []
    for name, figure in result_figures(study, tables).items():
        written += save_figure(figure, out_dir / name)
    return written


@dataclass(frozen=True)
class PowerSetting:
    """What the power planner takes from a study's design.

    Attributes:
        conditions, groups: names in study order.
        aliases: condition method -> condition name (so ``swox=0.6`` names "SWOX").
        items: test trials per participant; pool: test items a participant can be shown
            (not dropped in the review; at least ``items``).
    """

    conditions: tuple[str, ...]
    groups: tuple[str, ...]
    aliases: dict[str, str]
    items: int
    pool: int


def power_setting(study: Study) -> PowerSetting:
    """The conditions, groups, test trials and test-item pool of ``study``."""
    conditions = tuple(study.conditions.values_list("name", flat=True))
    groups = tuple(study.groups.values_list("name", flat=True))
    items = max(1, study.test_trials or 0)
    pool = (
        study.items.filter(role=StimulusItem.Role.TEST)
        .exclude(review=StimulusItem.Review.DROP)
        .count()
    )
    return PowerSetting(
        conditions=conditions,
        groups=groups,
        aliases=dict(study.conditions.values_list("method", "name")),
        items=items,
        pool=max(items, pool),
    )


def pilot_estimate(study: Study, *, variance_components: bool = True) -> PilotEstimate:
    """Accuracies (and random-effect sds) estimated from ``study``'s analysed test trials,
    with its exclusion rules (:func:`studies.analysis.estimate_from_trials`)."""
    setting = power_setting(study)
    return estimate_from_trials(
        study_tables(study).trials,
        conditions=setting.conditions,
        groups=setting.groups,
        seed=study.seed,
        variance_components=variance_components,
    )


DEFAULT_SD = 0.5
"""Random-intercept sd (logit scale) assumed when neither the user nor the data give one."""


def study_power_design(
    study: Study,
    accuracy: dict[str, float] | None = None,
    *,
    items: int | None = None,
    participant_sd: float | None = None,
    item_sd: float | None = None,
    from_data: bool = False,
) -> tuple[PowerDesign, dict[str, str]]:
    """The :class:`PowerDesign` of ``study``: each input as given, else (``from_data``)
    estimated from the study's analysed trials (:func:`pilot_estimate`), else the study's
    own value (items) or :data:`DEFAULT_SD`. Returns it with input -> where it came from.

    Raises:
        ValueError: no accuracy given and none estimated, or an input the design rejects.
    """
    setting = power_setting(study)
    estimate = pilot_estimate(study) if from_data else None
    sources = {"accuracy": "given", "items": "given" if items else "the study's test trials"}
    if accuracy is None:
        if estimate is None or not estimate.accuracy:
            raise ValueError(
                "accuracy: give the assumed accuracy of each condition (e.g. swox=0.6), or "
                "estimate it from the study's trials once it has some"
            )
        accuracy = {
            f"{group}:{condition}": v for (group, condition), v in estimate.accuracy.items()
        }
        sources["accuracy"] = "estimated from the study's trials"
    sds = {"participant_sd": participant_sd, "item_sd": item_sd}
    for name, value in sds.items():
        estimated = getattr(estimate, name, None)
        if value is None and estimated is not None:
            sds[name], sources[name] = estimated, "estimated from the study's trials"
        elif value is None:
            sds[name], sources[name] = DEFAULT_SD, "assumed (default)"
        else:
            sources[name] = "given"
    design = design_from_accuracy(
        accuracy,
        conditions=setting.conditions,
        groups=setting.groups,
        aliases=setting.aliases,
        items=setting.items if items is None else items,
        pool=max(setting.pool, setting.items if items is None else items),
        **sds,
    )
    return design, sources
