"""Participants (their progress) and trials (their responses).

Participants are named by their numeric id only: their token (the key to their pages) and any
external id (stored apart from the responses) are never shown.
"""

from __future__ import annotations

from rest_framework import serializers

from studies.models import Participant, Trial


class ParticipantSerializer(serializers.ModelSerializer):
    """Where a participant is in the study (the viewset annotates names and counts)."""

    group_name = serializers.CharField(read_only=True, allow_null=True)
    condition_name = serializers.CharField(read_only=True, allow_null=True)
    answered = serializers.IntegerField(read_only=True, help_text="Trials answered so far.")
    total_trials = serializers.IntegerField(read_only=True, help_text="Trials drawn.")

    class Meta:
        model = Participant
        fields = (
            "id",
            "study",
            "group",
            "group_name",
            "condition",
            "condition_name",
            "state",
            "stage",
            "assignment_number",
            "consented_at",
            "assigned_at",
            "last_seen_at",
            "completed_at",
            "answered",
            "total_trials",
        )


class TrialSerializer(serializers.ModelSerializer):
    """One trial: what was drawn for it and the response (the viewset annotates the names)."""

    study = serializers.IntegerField(read_only=True)
    item_key = serializers.CharField(read_only=True)
    condition_name = serializers.CharField(read_only=True)

    class Meta:
        model = Trial
        fields = (
            "id",
            "study",
            "participant",
            "position",
            "block",
            "item",
            "item_key",
            "condition",
            "condition_name",
            "is_attention_check",
            "heatmap_left",
            "label_first",
            "answer_left",
            "answer_right",
            "correct",
            "confidence",
            "shown_at",
            "answered_at",
            "client_response_ms",
            "feedback_seen_at",
        )
