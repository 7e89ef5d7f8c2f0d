"""Query parameters of the list endpoints (django-filter).

Every resource takes ``?study=<id>`` and ``?study__slug=<slug>``. Related rows are named by
their numeric id (never by their text, which for participants would contain their token).
"""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from studies.models import Condition, Participant, ParticipantGroup, StimulusItem, Study, Trial


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A whole-number id (``?study=3``); anything else is refused with 400."""

    field_class = forms.IntegerField


class StudyFilter(filters.FilterSet):
    """Studies by id, slug or status."""

    study = IdFilter(field_name="id", help_text="The study's id.")
    study__slug = filters.CharFilter(field_name="slug", help_text="The study's slug.")

    class Meta:
        model = Study
        fields = ("status",)


class ByStudyFilter(filters.FilterSet):
    """The study filters shared by every resource that belongs to a study."""

    study = IdFilter(field_name="study_id", help_text="The study's id.")
    study__slug = filters.CharFilter(field_name="study__slug", help_text="The study's slug.")


class ConditionFilter(ByStudyFilter):
    """Conditions by study and method."""

    class Meta:
        model = Condition
        fields = ("method",)


class GroupFilter(ByStudyFilter):
    """Participant groups by study and slug."""

    class Meta:
        model = ParticipantGroup
        fields = ("slug",)


class ItemFilter(ByStudyFilter):
    """Stimulus items by study, role and key."""

    class Meta:
        model = StimulusItem
        fields = ("role", "key")


class ParticipantFilter(ByStudyFilter):
    """Participants by study, group, condition, state and stage."""

    group = IdFilter(field_name="group_id", help_text="The participant group's id.")
    condition = IdFilter(field_name="condition_id", help_text="The condition's id.")

    class Meta:
        model = Participant
        fields = ("state", "stage")


class TrialFilter(ByStudyFilter):
    """Trials by study, participant, block, condition, item and whether they were answered."""

    study = IdFilter(field_name="participant__study_id", help_text="The study's id.")
    study__slug = filters.CharFilter(
        field_name="participant__study__slug", help_text="The study's slug."
    )
    participant = IdFilter(field_name="participant_id", help_text="The participant's id.")
    condition = IdFilter(field_name="condition_id", help_text="The condition's id.")
    item = IdFilter(field_name="item_id", help_text="The stimulus item's id.")
    answered = filters.BooleanFilter(
        method="filter_answered", help_text="true: answered trials only; false: unanswered."
    )

    class Meta:
        model = Trial
        fields = ("block", "is_attention_check")

    def filter_answered(self, queryset: QuerySet[Trial], name: str, value: bool) -> QuerySet:
        """Keep the trials whose answer is (``value``) or is not yet (``not value``) stored."""
        return queryset.filter(answered_at__isnull=not value)
