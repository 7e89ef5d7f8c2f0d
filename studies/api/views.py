"""One read-only viewset per resource, each with a queryset that needs a fixed number of
queries per page (related rows joined, prefetched or counted in SQL), ordered by id."""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, Q, QuerySet
from rest_framework import viewsets

from studies.api import filters, serializers
from studies.api.counts import count_of
from studies.models import (
    Condition,
    HeatmapSet,
    Participant,
    ParticipantGroup,
    StimulusItem,
    StimulusManifest,
    Study,
    Trial,
)


class StudyViewSet(viewsets.ReadOnlyModelViewSet):
    """Studies with their conditions, groups and counts of items and participants."""

    serializer_class = serializers.StudySerializer
    filterset_class = filters.StudyFilter

    def get_queryset(self) -> QuerySet[Study]:
        completed = Participant.objects.filter(state=Participant.State.COMPLETED)
        return (
            Study.objects.defer("frozen_manifest")
            .prefetch_related("conditions", "groups")
            .annotate(
                item_count=count_of(StimulusItem.objects.all(), "study"),
                participant_count=count_of(Participant.objects.all(), "study"),
                completed_count=count_of(completed, "study"),
            )
            .order_by("pk")
        )


class ConditionViewSet(viewsets.ReadOnlyModelViewSet):
    """Conditions (study arms) with how many participants each was given."""

    serializer_class = serializers.ConditionSerializer
    filterset_class = filters.ConditionFilter

    def get_queryset(self) -> QuerySet[Condition]:
        return Condition.objects.annotate(participant_count=Count("participants")).order_by("pk")


class GroupViewSet(viewsets.ReadOnlyModelViewSet):
    """Participant groups (strata) with how many participants each holds."""

    serializer_class = serializers.GroupSerializer
    filterset_class = filters.GroupFilter

    def get_queryset(self) -> QuerySet[ParticipantGroup]:
        return ParticipantGroup.objects.annotate(participant_count=Count("participants")).order_by(
            "pk"
        )


class ItemViewSet(viewsets.ReadOnlyModelViewSet):
    """Stimulus items with their heatmap sets (file names and hashes) and manifest."""

    serializer_class = serializers.ItemSerializer
    filterset_class = filters.ItemFilter

    def get_queryset(self) -> QuerySet[StimulusItem]:
        manifests = StimulusManifest.objects.defer("document")
        return StimulusItem.objects.prefetch_related(
            Prefetch("heatmap_sets", queryset=HeatmapSet.objects.order_by("method")),
            Prefetch("manifest", queryset=manifests),
        ).order_by("pk")


class ParticipantViewSet(viewsets.ReadOnlyModelViewSet):
    """Participants' progress: group, condition, state, stage, times and trial counts."""

    serializer_class = serializers.ParticipantSerializer
    filterset_class = filters.ParticipantFilter

    def get_queryset(self) -> QuerySet[Participant]:
        return (
            Participant.objects.defer("token")
            .annotate(
                group_name=F("group__name"),
                condition_name=F("condition__name"),
                answered=Count("trials", filter=Q(trials__answered_at__isnull=False)),
                total_trials=Count("trials"),
            )
            .order_by("pk")
        )


class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    """Trials with the randomized sides and the participant's response."""

    serializer_class = serializers.TrialSerializer
    filterset_class = filters.TrialFilter

    def get_queryset(self) -> QuerySet[Trial]:
        return Trial.objects.annotate(
            study=F("participant__study_id"),
            item_key=F("item__key"),
            condition_name=F("condition__name"),
        ).order_by("pk")
