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
from studies.models import Participant, Study, Trial
from studies.randomization import expire_abandoned


def exclusion_rules(study: Study) -> ExclusionRules:
    """The exclusion rules declared in the study's settings."""
    return ExclusionRules(
        max_failed_attention_checks=study.max_failed_attention_checks,
        exclude_incomplete=True,
        min_response_ms=study.min_response_ms,
    )


def trial_table(study: Study) -> pd.DataFrame:
    """One row per trial of the study's participants (schema of :mod:`studies.analysis`)."""
    rows = Trial.objects.filter(participant__study=study).values_list(
        "participant_id",
        "participant__group__name",
        "condition__name",
        "item__key",
        "block",
        "position",
        "is_attention_check",
        "answered_at",
        "correct",
        "confidence",
        "client_response_ms",
    )
    if not rows:
        return empty_trials()
    frame = pd.DataFrame.from_records(
        list(rows),
        columns=[
            "participant",
            "group",
            "condition",
            "item",
            "block",
            "position",
            "is_attention_check",
            "answered_at",
            "correct",
            "confidence",
            "response_ms",
        ],
    )
    frame["participant"] = frame["participant"].map(_participant_id)
    frame["answered"] = frame.pop("answered_at").notna()
    frame["correct"] = frame["correct"].astype("boolean")
    frame["confidence"] = frame["confidence"].astype("Int64")
    frame["response_ms"] = frame["response_ms"].astype("float64")
    frame["position"] = frame["position"].astype("int64")
    frame["is_attention_check"] = frame["is_attention_check"].astype(bool)
    return frame


def participant_table(study: Study) -> pd.DataFrame:
    """One row per participant who consented (abandoned ones marked first)."""
    expire_abandoned(study)
    rows = Participant.objects.filter(study=study).values_list(
        "pk", "group__name", "condition__name", "state"
    )
    if not rows:
        return empty_participants()
    frame = pd.DataFrame.from_records(
        list(rows), columns=["participant", "group", "condition", "state"]
    )
    frame["participant"] = frame["participant"].map(_participant_id)
    return frame


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
