"""The participant flow as operations on the database, without HTTP.

consent → (group question) → instructions → training trials with feedback → test trials →
debrief. Every operation checks that the study is open and that the participant is where the
operation belongs; a refused operation raises :class:`FlowError` and writes nothing.
"""

from __future__ import annotations

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
    def from_query(cls, query: dict[str, str]) -> Recruitment | None:
        """Prolific's ``PROLIFIC_PID``/``STUDY_ID``/``SESSION_ID``, or a generic
        ``external_id``; None when the link has neither."""
        if pid := query.get("PROLIFIC_PID", "").strip():
            return cls(
                ExternalIdentity.Source.PROLIFIC,
                pid[:128],
                query.get("STUDY_ID", "").strip()[:128],
                query.get("SESSION_ID", "").strip()[:128],
            )
        if external := query.get("external_id", "").strip():
            return cls(ExternalIdentity.Source.EXTERNAL, external[:128])
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
        if existing is None:
            raise
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


def choose_group(participant: Participant, group_slug: str) -> Participant:
    """The participant's answer to the group question."""
    _require_stage(participant, Participant.Stage.GROUP)
    group = participant.study.groups.filter(slug=group_slug).first()
    if group is None:
        raise FlowError(400, "Please choose one of the answers", "The answer was not recognised.")
    return assign(participant, group)


def finish_instructions(participant: Participant) -> None:
    _require_stage(participant, Participant.Stage.INSTRUCTIONS)
    Participant.objects.filter(pk=participant.pk).update(stage=Participant.Stage.TRIALS)
    participant.stage = Participant.Stage.TRIALS


def current_trial(participant: Participant) -> Trial | None:
    """The trial the participant is at: an answered training trial whose feedback is still to
    be seen, else the first unanswered trial; None when every trial is done."""
    trials = participant.trials.select_related("item", "condition").order_by("position")
    pending = trials.filter(
        block=Trial.Block.TRAINING, answered_at__isnull=False, feedback_seen_at__isnull=True
    ).first()
    if pending is not None:
        return pending
    return trials.filter(answered_at__isnull=True).first()


def show(trial: Trial) -> None:
    """Record when the trial was first shown (server clock); later views keep that time."""
    if trial.shown_at is None:
        now = timezone.now()
        Trial.objects.filter(pk=trial.pk, shown_at__isnull=True).update(shown_at=now)
        trial.shown_at = now


@dataclass(frozen=True)
class Answer:
    """A validated submission: the label positions (1 or 2, in display order) matched to the
    left and right heatmaps, the confidence 1-5 and the browser's response time."""

    left_label: int
    right_label: int
    confidence: int
    client_response_ms: int | None

    @classmethod
    def parse(cls, data: dict[str, str]) -> Answer:
        left, right = data.get("left", ""), data.get("right", "")
        if left not in ("1", "2") or right not in ("1", "2"):
            raise FlowError(
                400, "Please match both heatmaps", "Choose a label for each of the two heatmaps."
            )
        if left == right:
            raise FlowError(
                400,
                "Each label goes with one heatmap",
                "You gave both heatmaps the same label; give each heatmap a different one.",
            )
        confidence = data.get("confidence", "")
        if confidence not in {str(level) for level in CONFIDENCE_LEVELS}:
            raise FlowError(400, "Please rate your confidence", "Choose a confidence from 1 to 5.")
        elapsed = data.get("client_ms", "")
        client_ms = None
        if elapsed:
            if not elapsed.isdigit() or int(elapsed) > MAX_CLIENT_RESPONSE_MS:
                raise FlowError(400, "Invalid submission", "The response time was malformed.")
            client_ms = int(elapsed)
        return cls(int(left), int(right), int(confidence), client_ms)


def submit(participant: Participant, trial_id: str, data: dict[str, str]) -> Trial:
    """Store the answer to the participant's current trial; a repeated submission of an
    answered trial returns the stored trial unchanged."""
    require_open(participant.study)
    trial = _own_trial(participant, trial_id)
    if trial.answered:
        return trial
    _require_stage(participant, Participant.Stage.TRIALS)
    if trial != current_trial(participant):
        raise FlowError(409, "This is not your current trial", "Please continue where you are.")
    answer = Answer.parse(data)
    labels = {1: trial.label_first, 2: trial.label_second}
    with transaction.atomic():
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        if trial.answered:
            return trial
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


def acknowledge_feedback(participant: Participant, trial_id: str) -> None:
    """The participant saw the feedback of a training trial (repeating it is harmless)."""
    trial = _own_trial(participant, trial_id)
    if trial.block != Trial.Block.TRAINING or not trial.answered:
        raise FlowError(409, "No feedback to continue from", "Please continue where you are.")
    with transaction.atomic():
        Trial.objects.filter(pk=trial.pk, feedback_seen_at__isnull=True).update(
            feedback_seen_at=timezone.now()
        )
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
    to_do = Q(answered_at__isnull=True) | Q(
        block=Trial.Block.TRAINING, feedback_seen_at__isnull=True
    )
    if not participant.trials.filter(to_do).exists():
        now = timezone.now()
        Participant.objects.filter(pk=participant.pk).update(
            state=Participant.State.COMPLETED,
            stage=Participant.Stage.DEBRIEF,
            completed_at=now,
        )
        participant.state = Participant.State.COMPLETED
        participant.stage = Participant.Stage.DEBRIEF
        participant.completed_at = now


def _own_trial(participant: Participant, trial_id: str) -> Trial:
    trial = (
        Trial.objects.filter(pk=trial_id, participant=participant).first()
        if str(trial_id).isdigit()
        else None
    )
    if trial is None:
        raise FlowError(404, "Trial not found", "This trial is not one of yours.")
    return trial


def _require_stage(participant: Participant, stage: str) -> None:
    require_open(participant.study)
    if participant.stage != stage:
        raise FlowError(
            409, "That step is already done", "Please continue from the page you are on."
        )
