"""The participant flow as operations on the database, without HTTP.

consent → (group question) → instructions → training trials with feedback → test trials →
debrief. Every operation checks that the study is open and that the participant is where the
operation belongs; a refused operation raises :class:`FlowError` and writes nothing.

A participant's operations run under their row lock (:func:`locked`), so simultaneous copies
of one form (a double click, two tabs) are carried out one after the other. A form of a step
the participant is already past is a replay and changes nothing; once the participant is at
the debrief, nothing of theirs changes any more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from studies.models import (
    ConsentDecline,
    ExternalIdentity,
    Invite,
    Participant,
    ParticipantGroup,
    Study,
    Trial,
)
from studies.randomization import assign

CONFIDENCE_LEVELS = {
    1: "not sure",
    2: "slightly sure",
    3: "moderately sure",
    4: "very sure",
    5: "completely sure",
}
MAX_CLIENT_RESPONSE_MS = 24 * 3600 * 1000


class FlowError(Exception):
    """A request the flow refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Recruitment:
    """Ids a recruitment platform put in the participant's link."""

    source: str
    external_id: str
    platform_study_id: str = ""
    platform_session_id: str = ""

    @classmethod
    def from_ids(cls, ids: Mapping[str, str]) -> Recruitment | None:
        """Prolific's ``PROLIFIC_PID``/``STUDY_ID``/``SESSION_ID``, or a generic
        ``external_id`` (validated by :class:`studies.forms.participant.RecruitmentForm`);
        None when the link has neither."""
        if pid := ids.get("PROLIFIC_PID", "").strip():
            return cls(
                ExternalIdentity.Source.PROLIFIC,
                pid,
                ids.get("STUDY_ID", "").strip(),
                ids.get("SESSION_ID", "").strip(),
            )
        if external := ids.get("external_id", "").strip():
            return cls(ExternalIdentity.Source.EXTERNAL, external)
        return None

    def returning_participant(self, study: Study) -> Participant | None:
        identity = (
            ExternalIdentity.objects.filter(
                study=study, source=self.source, external_id=self.external_id
            )
            .select_related("participant")
            .first()
        )
        return identity.participant if identity else None


STAGES = list(Participant.Stage)
"""The stages in the order a participant goes through them."""


@contextmanager
def locked(participant: Participant) -> Iterator[Participant]:
    """A transaction holding the participant's row lock (``SELECT … FOR UPDATE``), so that
    one participant's requests change their data one after the other; ``participant`` is
    refreshed with the stored progress first."""
    with transaction.atomic():
        stored = Participant.objects.select_for_update().get(pk=participant.pk)
        for field in PROGRESS_FIELDS:
            setattr(participant, field, getattr(stored, field))
        yield participant


PROGRESS_FIELDS = (
    "group_id",
    "condition_id",
    "state",
    "stage",
    "assignment_number",
    "assigned_at",
    "seed",
    "last_seen_at",
    "completed_at",
)


def is_past(participant: Participant, stage: str) -> bool:
    """Whether the participant is beyond ``stage`` (a form of that stage is a replay)."""
    return STAGES.index(participant.stage) > STAGES.index(stage)


def require_open(study: Study) -> None:
    if study.status == Study.Status.CLOSED:
        raise FlowError(410, "This study is closed", "Thank you for your interest.")
    if study.status != Study.Status.OPEN:
        raise FlowError(404, "This study is not open", "Please check the link you were given.")


def decline(study: Study) -> None:
    """Record a refusal of consent, and nothing else."""
    require_open(study)
    ConsentDecline.objects.create(study=study)


def consent(
    study: Study,
    group: ParticipantGroup | None = None,
    invite: Invite | None = None,
    recruitment: Recruitment | None = None,
) -> Participant:
    """Create the participant who just consented; assign them at once when the group is known
    (from the link, the invite, or because the study has a single group).

    A returning external id or a used invite gives back the existing participant.
    """
    require_open(study)
    if invite is not None:
        if invite.is_expired:
            raise FlowError(410, "This link has expired", "Please contact the researcher.")
        group = group or invite.group
    try:
        with transaction.atomic():
            participant = Participant.objects.create(study=study, invite=invite)
            if invite is not None:
                Invite.objects.filter(pk=invite.pk).update(used_at=participant.consented_at)
            if recruitment is not None:
                ExternalIdentity.objects.create(
                    participant=participant,
                    study=study,
                    source=recruitment.source,
                    external_id=recruitment.external_id,
                    platform_study_id=recruitment.platform_study_id,
                    platform_session_id=recruitment.platform_session_id,
                )
    except IntegrityError:
        existing = (recruitment and recruitment.returning_participant(study)) or (
            invite and Participant.objects.filter(invite=invite).first()
        )
        if existing is None:  # the other side of the race is gone again
            raise FlowError(
                409, "Please try again", "Your answer arrived twice; reload the page."
            ) from None
        return existing
    groups = list(study.groups.all())
    if group is None and len(groups) == 1:
        group = groups[0]
    if group is not None:
        participant = assign(participant, group)
    return participant


TOUCH_INTERVAL = timezone.timedelta(seconds=60)
"""``last_seen_at`` is rewritten at most this often (the abandonment timeout is minutes)."""


def touch(participant: Participant) -> None:
    """Note that the participant is here now (an abandoned participant is active again).

    To spare a database write per page view, a recent ``last_seen_at`` (newer than
    ``TOUCH_INTERVAL`` or a tenth of the study's timeout, whichever is shorter) is kept.
    """
    require_open(participant.study)
    now = timezone.now()
    fresh = min(TOUCH_INTERVAL, participant.study.abandonment_timeout / 10)
    active = participant.state != Participant.State.ABANDONED
    if active and now - participant.last_seen_at < fresh:
        return
    updates = {"last_seen_at": now}
    if participant.state == Participant.State.ABANDONED:
        updates["state"] = Participant.State.ACTIVE
    Participant.objects.filter(pk=participant.pk).update(**updates)
    for field, value in updates.items():
        setattr(participant, field, value)


def choose_group(participant: Participant, group: ParticipantGroup) -> Participant:
    """The participant's answer to the group question; a replay once assigned changes
    nothing."""
    with locked(participant):
        if is_past(participant, Participant.Stage.GROUP):
            return participant
        _require_stage(participant, Participant.Stage.GROUP)
        return assign(participant, group)


def finish_instructions(participant: Participant) -> None:
    """Start the trials; a replay once started changes nothing."""
    with locked(participant):
        if is_past(participant, Participant.Stage.INSTRUCTIONS):
            return
        _require_stage(participant, Participant.Stage.INSTRUCTIONS)
        Participant.objects.filter(pk=participant.pk).update(stage=Participant.Stage.TRIALS)
        participant.stage = Participant.Stage.TRIALS


TO_DO = Q(answered_at__isnull=True) | Q(block=Trial.Block.TRAINING, feedback_seen_at__isnull=True)
"""A trial still to do: unanswered, or a training trial whose feedback was not seen."""


def current_trial(participant: Participant) -> Trial | None:
    """The trial the participant is at: an answered training trial whose feedback is still to
    be seen, else the first unanswered trial; None when every trial is done."""
    # One query: trials are done in position order, so an answered training trial whose
    # feedback is pending comes before every unanswered trial.
    trials = participant.trials.select_related("item", "condition").order_by("position")
    return trials.filter(TO_DO).first()


def show(trial: Trial) -> None:
    """Record when the trial was first shown (server clock); later views keep that time."""
    if trial.shown_at is None:
        now = timezone.now()
        Trial.objects.filter(pk=trial.pk, shown_at__isnull=True).update(shown_at=now)
        trial.shown_at = now


@dataclass(frozen=True)
class Answer:
    """A validated submission (:class:`studies.forms.participant.AnswerForm`): the label
    positions (1 or 2, in display order) matched to the left and right heatmaps, the
    confidence 1-5 and the browser's response time."""

    left_label: int
    right_label: int
    confidence: int
    client_response_ms: int | None


def submit(participant: Participant, trial_id: int, answer: Answer) -> Trial:
    """Store the answer to the participant's current trial; a repeated submission of an
    answered trial, or any submission once the participant is done, returns the stored
    trial unchanged."""
    with locked(participant):
        trial = _own_trial(participant, trial_id)
        if trial.answered or participant.stage == Participant.Stage.DEBRIEF:
            return trial
        _require_stage(participant, Participant.Stage.TRIALS)
        if trial != current_trial(participant):
            raise FlowError(409, "This is not your current trial", "Please continue where you are.")
        labels = {1: trial.label_first, 2: trial.label_second}
        trial.answer_left = labels[answer.left_label]
        trial.answer_right = labels[answer.right_label]
        trial.correct = trial.answer_left == trial.heatmap_left
        trial.confidence = answer.confidence
        trial.client_response_ms = answer.client_response_ms
        trial.answered_at = timezone.now()
        trial.shown_at = trial.shown_at or trial.answered_at
        trial.save(update_fields=[*ANSWER_FIELDS, "shown_at"])
        _complete_if_done(participant)
    return trial


def acknowledge_feedback(participant: Participant, trial_id: int) -> None:
    """The participant saw the feedback of a training trial; repeating it changes nothing."""
    with locked(participant):
        trial = _own_trial(participant, trial_id)
        if participant.stage == Participant.Stage.DEBRIEF:
            return
        if trial.block != Trial.Block.TRAINING or not trial.answered:
            raise FlowError(409, "No feedback to continue from", "Please continue where you are.")
        seen = Trial.objects.filter(pk=trial.pk, feedback_seen_at__isnull=True).update(
            feedback_seen_at=timezone.now()
        )
        if seen:
            _complete_if_done(participant)


ANSWER_FIELDS = (
    "answer_left",
    "answer_right",
    "correct",
    "confidence",
    "client_response_ms",
    "answered_at",
)


def _complete_if_done(participant: Participant) -> None:
    if participant.completed_at is None and not participant.trials.filter(TO_DO).exists():
        now = timezone.now()
        Participant.objects.filter(pk=participant.pk, completed_at__isnull=True).update(
            state=Participant.State.COMPLETED,
            stage=Participant.Stage.DEBRIEF,
            completed_at=now,
        )
        participant.state = Participant.State.COMPLETED
        participant.stage = Participant.Stage.DEBRIEF
        participant.completed_at = now


def _own_trial(participant: Participant, trial_id: int) -> Trial:
    trial = Trial.objects.filter(pk=trial_id, participant=participant).first()
    if trial is None:
        raise FlowError(404, "Trial not found", "This trial is not one of yours.")
    return trial


def _require_stage(participant: Participant, stage: str) -> None:
    require_open(participant.study)
    if participant.stage != stage:
        raise FlowError(
            409, "That step is already done", "Please continue from the page you are on."
        )
