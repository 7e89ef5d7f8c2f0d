"""Participants, how they arrived (invites, external ids), and their trials."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from studies.models.stimuli import StimulusItem
from studies.models.study import Condition, ParticipantGroup, Study

SIDES = (("a", "class a"), ("b", "class b"))


def new_token() -> str:
    """An unguessable URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


class Invite(models.Model):
    """A personal link for one participant, optionally pre-assigned to a group."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invites")
    group = models.ForeignKey(
        ParticipantGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="invites"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="For the researcher only.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When its participant consented."
    )

    class Meta:
        ordering = ("study", "-created_at")

    def __str__(self) -> str:
        return self.note or f"invite {self.token[:8]}…"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class Participant(models.Model):
    """An anonymous participant who consented, identified by an unguessable token."""

    class State(models.TextChoices):
        ACTIVE = "active", "In progress"
        COMPLETED = "completed", "Completed"
        ABANDONED = "abandoned", "Abandoned"

    class Stage(models.TextChoices):
        GROUP = "group", "Group question"
        INSTRUCTIONS = "instructions", "Instructions"
        TRIALS = "trials", "Trials"
        DEBRIEF = "debrief", "Debrief"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    group = models.ForeignKey(
        ParticipantGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="participants",
    )
    condition = models.ForeignKey(
        Condition, null=True, blank=True, on_delete=models.PROTECT, related_name="participants"
    )
    invite = models.OneToOneField(
        Invite, null=True, blank=True, on_delete=models.PROTECT, related_name="participant"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.GROUP)
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="Drew this participant's item order and sides."
    )
    assignment_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="1 for the first participant assigned in the group, …"
    )
    consented_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("study", "consented_at")
        indexes = [models.Index(fields=("group", "condition", "state", "last_seen_at"))]

    def __str__(self) -> str:
        return f"participant {self.token[:8]}…"


class ExternalIdentity(models.Model):
    """A recruitment platform's id for a participant, kept apart from the responses."""

    class Source(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        EXTERNAL = "external", "Other (external_id)"

    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="external_identity"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="external_identities")
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=128)
    platform_study_id = models.CharField(max_length=128, blank=True)
    platform_session_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(
                fields=("study", "source", "external_id"), name="external_id_unique_in_study"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.external_id}"


class ConsentDecline(models.Model):
    """A refusal of consent: the only thing stored about people who decline."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="declines")
    created_at = models.DateTimeField(auto_now_add=True)


class Trial(models.Model):
    """One item shown to one participant, with everything drawn for it and the response.

    ``heatmap_left`` names the class ('a' or 'b') whose heatmap is shown on the left;
    ``label_first`` the class whose label is listed first. ``answer_left`` / ``answer_right``
    are the classes the participant matched to the left / right heatmap.
    """

    class Block(models.TextChoices):
        TRAINING = "training", "Training"
        TEST = "test", "Test"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    position = models.PositiveSmallIntegerField(help_text="0-based, over the whole session.")
    block = models.CharField(max_length=8, choices=Block.choices)
    item = models.ForeignKey(StimulusItem, on_delete=models.PROTECT, related_name="trials")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="trials")
    is_attention_check = models.BooleanField(default=False)
    heatmap_left = models.CharField(max_length=1, choices=SIDES)
    label_first = models.CharField(max_length=1, choices=SIDES)
    answer_left = models.CharField(max_length=1, choices=SIDES, blank=True)
    answer_right = models.CharField(max_length=1, choices=SIDES, blank=True)
    correct = models.BooleanField(null=True, blank=True)
    confidence = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    shown_at = models.DateTimeField(null=True, blank=True, help_text="Server clock, first shown.")
    answered_at = models.DateTimeField(null=True, blank=True, help_text="Server clock.")
    client_response_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Measured in the browser from the page's last display to submit (a reload "
        "restarts it; answered_at - shown_at spans reloads, on the server clock).",
    )
    feedback_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("participant", "position")
        constraints = [
            models.UniqueConstraint(
                fields=("participant", "position"), name="trial_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} trial {self.position + 1}"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def heatmap_right(self) -> str:
        return other_side(self.heatmap_left)

    @property
    def label_second(self) -> str:
        return other_side(self.label_first)


def other_side(side: str) -> str:
    return "b" if side == "a" else "a"
