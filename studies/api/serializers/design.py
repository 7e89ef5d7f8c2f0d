"""Studies, their conditions and their participant groups."""

from __future__ import annotations

from rest_framework import serializers

from studies.models import Condition, ParticipantGroup, Study


class ConditionBriefSerializer(serializers.ModelSerializer):
    """A condition as listed inside its study."""

    class Meta:
        model = Condition
        fields = ("id", "name", "method")


class GroupBriefSerializer(serializers.ModelSerializer):
    """A participant group as listed inside its study."""

    class Meta:
        model = ParticipantGroup
        fields = ("id", "name", "slug")


class StudySerializer(serializers.ModelSerializer):
    """A study's settings, arms and counts (the viewset annotates the counts)."""

    conditions = ConditionBriefSerializer(many=True, read_only=True)
    groups = GroupBriefSerializer(many=True, read_only=True)
    item_count = serializers.IntegerField(read_only=True)
    participant_count = serializers.IntegerField(read_only=True)
    completed_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Study
        fields = (
            "id",
            "title",
            "slug",
            "status",
            "created_at",
            "opened_at",
            "closed_at",
            "consent_text",
            "instructions",
            "debrief_text",
            "completion_code",
            "redirect_url",
            "group_question",
            "training_trials",
            "test_trials",
            "attention_check_positions",
            "max_failed_attention_checks",
            "min_response_ms",
            "abandonment_timeout_minutes",
            "seed",
            "conditions",
            "groups",
            "item_count",
            "participant_count",
            "completed_count",
        )


class ConditionSerializer(serializers.ModelSerializer):
    """One arm of a study and how many participants it was given."""

    shows_cluster_map = serializers.BooleanField(read_only=True)
    participant_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Condition
        fields = (
            "id",
            "study",
            "name",
            "method",
            "position",
            "shows_cluster_map",
            "participant_count",
        )


class GroupSerializer(serializers.ModelSerializer):
    """One participant group (stratum) and how many participants it holds."""

    participant_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ParticipantGroup
        fields = ("id", "study", "name", "slug", "question_label", "position", "participant_count")
