"""Result tables of a study (``studies.results``), as JSON or CSV downloads.

``GET /api/results/{study id}/`` — every table; ``GET /api/results/{study id}/tables/{name}/``
— one table (``?format=csv`` downloads it). Both take ``?exclusions=0`` (ignore the study's
exclusion rules) and ``?interval=t|wilson|bootstrap``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from studies.analysis import INTERVAL_METHODS, StudyTables
from studies.models import Study
from studies.results import study_tables

PARAMETERS = [
    OpenApiParameter("id", int, OpenApiParameter.PATH, description="The study's id."),
    OpenApiParameter("exclusions", bool, description="Apply the study's exclusion rules (1)."),
    OpenApiParameter("interval", str, enum=INTERVAL_METHODS, description="CI method (t)."),
]


class CsvRenderer(BaseRenderer):
    """One table (``{"columns", "rows"}``) as CSV; anything else (an error) as its JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> str:
        if isinstance(data, dict) and {"columns", "rows"} <= set(data):
            return pd.DataFrame(data["rows"], columns=data["columns"]).to_csv(index=False)
        return json.dumps(data)


def table_payload(table: pd.DataFrame) -> dict[str, Any]:
    """A table as JSON-safe columns and rows (missing values become null)."""
    split = json.loads(table.to_json(orient="split", index=False, date_format="iso"))
    return {"columns": split["columns"], "rows": split["data"]}


class ResultsViewSet(viewsets.ViewSet):
    """A study's result tables, computed from its stored responses on each request."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]

    def _tables(self, request: Request, pk: str) -> tuple[Study, StudyTables]:
        if not str(pk).isdigit():
            raise NotFound("Study ids are whole numbers.")
        study = get_object_or_404(Study, pk=pk)
        exclusions = request.query_params.get("exclusions", "1")
        interval = request.query_params.get("interval", "t")
        if exclusions not in ("0", "1") or interval not in INTERVAL_METHODS:
            raise ValidationError(
                {"detail": f"exclusions must be 0 or 1; interval one of {INTERVAL_METHODS}"}
            )
        return study, study_tables(study, exclusions=exclusions == "1", interval=interval)

    @extend_schema(parameters=PARAMETERS, responses=OpenApiTypes.OBJECT)
    def retrieve(self, request: Request, pk: str) -> Response:
        """Every table: {"study", "tables": {name: {"columns", "rows"}}}."""
        if request.accepted_renderer.format == "csv":
            raise NotFound("CSV is per table: /api/results/{id}/tables/{name}/?format=csv")
        study, tables = self._tables(request, pk)
        payload = {name: table_payload(t) for name, t in tables.as_dict().items()}
        return Response({"study": study.pk, "tables": payload})

    @extend_schema(parameters=PARAMETERS, responses=OpenApiTypes.OBJECT)
    @action(detail=True, url_path=r"tables/(?P<table>[a-z_]+)")
    def table(self, request: Request, pk: str, table: str) -> Response:
        """One table: {"columns", "rows"}; ``?format=csv`` downloads it as CSV."""
        study, tables = self._tables(request, pk)
        found = tables.as_dict().get(table)
        if found is None:
            raise NotFound(f"No table {table!r}; tables: {', '.join(tables.as_dict())}.")
        response = Response(table_payload(found))
        if request.accepted_renderer.format == "csv":
            name = f"{study.slug}-{table}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
