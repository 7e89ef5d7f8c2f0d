"""Stimulus items, their heatmap sets and where they came from.

Files are named by their path relative to the media folder, with their SHA-256: media is never
served at a public URL.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from studies.api.fields import StoredFileName
from studies.models import HeatmapSet, StimulusItem, StimulusManifest


class ManifestSerializer(serializers.ModelSerializer):
    """The provenance of an imported manifest: model, weights and explainer."""

    model_name = serializers.SerializerMethodField()
    weights_sha256 = serializers.SerializerMethodField()

    class Meta:
        model = StimulusManifest
        fields = (
            "id",
            "sha256",
            "model_name",
            "weights_sha256",
            "model",
            "explainer",
            "methods",
            "seed",
            "software",
            "imported_at",
        )

    def get_model_name(self, manifest: StimulusManifest) -> str | None:
        """The classifier's name, as the manifest gives it."""
        return _key(manifest.model, "name")

    def get_weights_sha256(self, manifest: StimulusManifest) -> str | None:
        """The SHA-256 of the classifier's weight file, as the manifest gives it."""
        return _key(manifest.model, "weights_sha256")


def _key(document: Any, key: str) -> str | None:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


class HeatmapSetSerializer(serializers.ModelSerializer):
    """The files one method shows for an item, with their hashes."""

    map_a = StoredFileName()
    map_b = StoredFileName()
    cluster_map = StoredFileName()

    class Meta:
        model = HeatmapSet
        fields = ("method", "map_a", "map_b", "cluster_map", "hashes")


class ItemSerializer(serializers.ModelSerializer):
    """An image with its confusing pair, its heatmap sets and its manifest."""

    image = StoredFileName()
    heatmap_sets = HeatmapSetSerializer(many=True, read_only=True)
    manifest = ManifestSerializer(read_only=True, allow_null=True)

    class Meta:
        model = StimulusItem
        fields = (
            "id",
            "study",
            "key",
            "role",
            "image",
            "image_sha256",
            "class_a_name",
            "class_a_index",
            "class_a_probability",
            "class_b_name",
            "class_b_index",
            "class_b_probability",
            "details",
            "heatmap_sets",
            "manifest",
        )
