"""A study's live progress for the researcher: participants per group × condition, declines,
and recent activity (what happened when, never what anyone answered)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from heapq import nlargest

from django.db.models import Count, Q
from django.utils import timezone

from studies.models import ConsentDecline, Participant, Study, Trial

RECENT = 20
FIELDS = ("started", "in_progress", "completed", "abandoned")
FIELD_LABELS = {
    "started": "Started (assigned)",
    "in_progress": "In progress",
    "completed": "Completed",
    "abandoned": "Abandoned",
}


@dataclass(frozen=True)
class Row:
    """Counts of one group × condition (or a total: ``condition`` / ``group`` is "all").

    ``started`` counts participants assigned a condition; ``abandoned`` includes active
    participants unseen for longer than the study's abandonment timeout.
    """

    key: str
    group: str
    condition: str
    started: int = 0
    in_progress: int = 0
    completed: int = 0
    abandoned: int = 0

    def plus(self, other: Row, key: str, group: str, condition: str) -> Row:
        totals = {field: getattr(self, field) + getattr(other, field) for field in FIELDS}
        return Row(key, group, condition, **totals)


@dataclass(frozen=True)
class Event:
    """One recent event: a consent, a decline, an answered trial or a completion."""

    at: datetime
    what: str
    participant: str = ""
    group: str = ""
    condition: str = ""

    def as_json(self) -> dict[str, str]:
        local = timezone.localtime(self.at)
        return {**asdict(self), "at": local.isoformat(), "at_display": f"{local:%Y-%m-%d %H:%M:%S}"}


def study_progress(study: Study, now: datetime | None = None) -> dict:
    """The progress of ``study`` as JSON-ready data (the admin page and its polling share it).

    Keys: ``rows`` (per group × condition, then per-group totals, then the overall total, each
    with the :data:`FIELDS` counts and a ``key`` naming its cells), ``waiting`` (consented,
    active, not yet in a condition), ``declines``, ``recent`` (the last :data:`RECENT` events,
    newest first), ``status`` and ``generated_at``.
    """
    now = now or timezone.now()
    cutoff = now - study.abandonment_timeout
    participants = Participant.objects.filter(study=study)
    return {
        "study": study.slug,
        "status": study.status,
        "generated_at": timezone.localtime(now).isoformat(),
        "generated_display": f"{timezone.localtime(now):%Y-%m-%d %H:%M:%S}",
        "rows": [asdict(row) for row in count_rows(study, cutoff)],
        "waiting": participants.filter(
            condition__isnull=True, state=Participant.State.ACTIVE, last_seen_at__gte=cutoff
        ).count(),
        "declines": ConsentDecline.objects.filter(study=study).count(),
        "recent": [event.as_json() for event in recent_events(study)],
    }


def count_rows(study: Study, cutoff: datetime) -> list[Row]:
    """Per group × condition counts (zeros included), per-group totals and the overall total."""
    state = Participant.State
    stale = Q(state=state.ABANDONED) | Q(state=state.ACTIVE, last_seen_at__lt=cutoff)
    counted = (
        Participant.objects.filter(study=study, condition__isnull=False)
        .values("group_id", "condition_id")
        .annotate(
            started=Count("pk"),
            in_progress=Count("pk", filter=Q(state=state.ACTIVE, last_seen_at__gte=cutoff)),
            completed=Count("pk", filter=Q(state=state.COMPLETED)),
            abandoned=Count("pk", filter=stale),
        )
    )
    found = {(c["group_id"], c["condition_id"]): c for c in counted}
    conditions = list(study.conditions.all())
    overall = Row("all-all", "all", "all")
    rows, totals = [], []
    for group in study.groups.all():
        total = Row(f"{group.pk}-all", group.name, "all")
        for condition in conditions:
            counts = found.get((group.pk, condition.pk), {})
            row = Row(
                f"{group.pk}-{condition.pk}",
                group.name,
                condition.name,
                **{field: counts.get(field, 0) for field in FIELDS},
            )
            rows.append(row)
            total = total.plus(row, total.key, group.name, "all")
        totals.append(total)
        overall = overall.plus(total, overall.key, "all", "all")
    return [*rows, *totals, overall]


def recent_events(study: Study, limit: int = RECENT) -> list[Event]:
    """The newest ``limit`` consents, declines, answered trials and completions of ``study``."""
    people = Participant.objects.filter(study=study).select_related("group", "condition")
    trials = (
        Trial.objects.filter(participant__study=study, answered_at__isnull=False)
        .select_related("participant__group", "condition")
        .order_by("-answered_at")[:limit]
    )
    events = [
        _about(p, p.consented_at, "consented") for p in people.order_by("-consented_at")[:limit]
    ]
    events += [
        _about(p, p.completed_at, "completed")
        for p in people.filter(completed_at__isnull=False).order_by("-completed_at")[:limit]
    ]
    events += [
        Event(d.created_at, "declined consent")
        for d in ConsentDecline.objects.filter(study=study).order_by("-created_at")[:limit]
    ]
    events += [_about(t.participant, t.answered_at, _trial_text(t)) for t in trials]
    return nlargest(limit, events, key=lambda event: event.at)


def _about(participant: Participant, at: datetime, what: str) -> Event:
    group = participant.group.name if participant.group else ""
    condition = participant.condition.name if participant.condition else ""
    return Event(at, what, f"{participant.token[:8]}…", group, condition)


def _trial_text(trial: Trial) -> str:
    kind = f"{trial.block}, attention check" if trial.is_attention_check else trial.block
    return f"answered trial {trial.position + 1} ({kind})"


def table(progress: dict) -> list[tuple[dict, list[tuple[str, int]]]]:
    """The rows of ``progress`` with their cells as (cell key, count), for the page; a cell's
    key is the row's key and the field joined by '.', as the page's script looks it up."""
    return [
        (row, [(f"{row['key']}.{field}", row[field]) for field in FIELDS])
        for row in progress["rows"]
    ]
