"""Serializer fields shared by the API's resources."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.STR)
class StoredFileName(serializers.Field):
    """A stored file's name relative to the media folder (never a URL: media is not public);
    ``None`` when no file is stored."""

    def __init__(self, **kwargs) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: FieldFile) -> str | None:
        return value.name or None
