"""A study, its conditions (one explanation method each) and its participant groups."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from studies.condition_kinds import condition_kinds, shows_cluster_map

KNOWN_METHODS = tuple(name for name, kind in condition_kinds().items() if kind.engine_method)
"""Method names of the engine's registry (:mod:`studies.condition_kinds`); a condition may also
name another registered kind or a control arm, as long as every stimulus item has a heatmap
set under that name."""

DEFAULT_CONDITIONS = (("SWOX", "swox"), ("CWOX-1sB", "cwox-1sb"), ("CWOX-2s", "cwox-2s"))
"""The conditions of the paper's matching study (Section 5.2): display name, method."""

DEFAULT_GROUPS = (
    ("expert", "I have trained or studied deep neural networks (e.g. a CNN)."),
    ("non-expert", "I have no experience with training deep learning models."),
)
"""The participant groups of the paper's study (experts had trained CNNs, non-experts had no
experience with deep learning): name (and slug), answer to the group question."""

method_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]*$", "Use lower-case letters, digits and '-', e.g. cwox-2s."
)


class StudyFrozenError(ValidationError):
    """Raised when something that an open or closed study depends on is changed."""


class Study(models.Model):
    """One between-subjects experiment (see DESIGN.md, "Study platform")."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=60, unique=True, help_text="Appears in the participant links: /s/<slug>/."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    consent_text = models.TextField(help_text="Shown first; the participant agrees or declines.")
    instructions = models.TextField(help_text="Shown after consent, with the example images.")
    debrief_text = models.TextField(help_text="Shown at the end, with the completion code.")
    completion_code = models.CharField(max_length=64, blank=True)
    redirect_url = models.URLField(
        blank=True, help_text="Optional: where participants go after the debrief (e.g. Prolific)."
    )
    group_question = models.CharField(
        max_length=300,
        default="Which of these describes you best?",
        help_text="Asked when a participant arrives through the study link, without a group.",
    )
    training_trials = models.PositiveSmallIntegerField(
        default=3, validators=[MaxValueValidator(200)], help_text="Per participant, with feedback."
    )
    test_trials = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="Per participant, not counting attention checks.",
    )
    attention_check_positions = models.JSONField(
        default=list,
        blank=True,
        help_text="1-based positions in the test block where attention-check items are shown, "
        "e.g. [4, 9]. Empty: no attention checks.",
    )
    max_failed_attention_checks = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=0,
        help_text="Exclusion rule: participants failing more checks are excluded from analysis "
        "(empty: never excluded for this).",
    )
    min_response_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Exclusion rule: test answers faster than this (client-measured, ms) are "
        "dropped from analysis (empty: none dropped).",
    )
    abandonment_timeout_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A participant inactive this long is abandoned and their condition slot freed.",
    )
    seed = models.BigIntegerField(
        default=0, help_text="Seeds assignment tie-breaks and every participant's randomization."
    )
    flag_visible_area_below = models.FloatField(
        "flag heatmaps showing less than",
        default=0.02,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Stimulus review: a heatmap whose overlay visibly changes less than this share "
        "of the picture is flagged (0.02: a 32 × 32 spot on a 224-pixel picture).",
    )
    flag_pair_similarity_above = models.FloatField(
        "flag pairs alike from",
        default=0.99,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Stimulus review: a pair whose two class maps reach this rank correlation or "
        "SSIM is flagged as indistinguishable (0.99: near-duplicates only; see "
        "docs/stimulus-quality.md).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    frozen_manifest = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="Snapshot of the stimulus items and file hashes taken when the study opened.",
    )

    class Meta:
        verbose_name_plural = "studies"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.title

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def abandonment_timeout(self) -> timezone.timedelta:
        return timezone.timedelta(minutes=self.abandonment_timeout_minutes)

    @property
    def attention_checks(self) -> int:
        return len(self.attention_check_positions or [])

    def clean(self) -> None:
        positions = self.attention_check_positions
        if positions in (None, ""):
            self.attention_check_positions = positions = []
        if not isinstance(positions, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in positions
        ):
            raise ValidationError(
                {"attention_check_positions": "Give a list of whole numbers, e.g. [4, 9]."}
            )
        block = (self.test_trials or 0) + len(positions)
        if len(set(positions)) != len(positions) or any(p < 1 or p > block for p in positions):
            raise ValidationError(
                {
                    "attention_check_positions": f"Positions must be distinct and between 1 and "
                    f"{block} (test trials plus attention checks)."
                }
            )

    def require_draft(self, what: str) -> None:
        """Refuse a change to ``what`` unless the study is a draft."""
        if not self.is_draft:
            raise StudyFrozenError(
                f"The study “{self}” is {self.get_status_display().lower()}: its {what} are "
                "frozen. Back to draft is possible while nobody has taken part; otherwise create "
                "a new study."
            )


class StudyPart(models.Model):
    """Something a study is built from; frozen once the study leaves the draft status."""

    frozen_name = "settings"

    class Meta:
        abstract = True

    def owning_study(self) -> Study:
        return self.study  # type: ignore[attr-defined]

    def clean(self) -> None:
        super().clean()
        self.owning_study().require_draft(self.frozen_name)

    def save(self, *args, **kwargs) -> None:
        self.owning_study().require_draft(self.frozen_name)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self.owning_study().require_draft(self.frozen_name)
        return super().delete(*args, **kwargs)


class Condition(StudyPart):
    """One arm of the study: the explanation method its participants see."""

    frozen_name = "conditions"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=60, help_text="Shown in results, e.g. CWOX-2s.")
    method = models.CharField(
        max_length=40,
        validators=[method_name_validator],
        help_text="Heatmap set shown: " + ", ".join(KNOWN_METHODS) + " or a control arm's name.",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("study", "position", "pk")
        constraints = [
            models.UniqueConstraint(fields=("study", "name"), name="condition_unique_name"),
            models.UniqueConstraint(fields=("study", "method"), name="condition_unique_method"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def shows_cluster_map(self) -> bool:
        """Whether the method declares a stage-1 cluster map, shown as context (CWOX-2s, paper
        Fig. 7; :func:`studies.condition_kinds.shows_cluster_map`)."""
        return shows_cluster_map(self.method)


class ParticipantGroup(StudyPart):
    """A stratum of participants (e.g. expert / non-expert); assignment is balanced within it."""

    frozen_name = "participant groups"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=60, help_text="Shown in results, e.g. expert.")
    slug = models.SlugField(max_length=60, help_text="Appears in the group's link.")
    question_label = models.CharField(
        max_length=300,
        blank=True,
        help_text="The answer to the study's group question that puts a participant here.",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("study", "position", "pk")
        constraints = [
            models.UniqueConstraint(fields=("study", "slug"), name="group_unique_slug"),
            models.UniqueConstraint(fields=("study", "name"), name="group_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def answer_text(self) -> str:
        return self.question_label or self.name


class InstructionImage(models.Model):
    """An example picture shown with the instructions."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="instruction_images")
    image = models.ImageField(upload_to="instructions/")
    caption = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("study", "position", "pk")

    def __str__(self) -> str:
        return self.caption or self.image.name
