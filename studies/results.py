"""A study's results: the database's trials and participants as the analysis package's tables.

Used alike by the admin dashboard, the API and ``manage.py export_results``, so every output
applies the study's exclusion rules the same way (see :mod:`studies.analysis`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from studies.analysis import (
    ExclusionRules,
    StudyTables,
    analyse,
    empty_participants,
    empty_trials,
    plot_calibration,
    plot_summary,
    save_figure,
)
from studies.analysis.schema import validate_participants, validate_trials
from studies.models import Participant, Study, Trial
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
