"""Routes of the API, included under ``/api/`` (namespace ``api``).

``router`` holds every resource endpoint: ``RESOURCES`` lists them as (URL prefix, viewset,
route basename), the result tables (:mod:`studies.api.results`) included. ``/api/schema/``
serves the OpenAPI document and ``/api/docs/`` its Swagger UI; like every endpoint, both
require a staff user.
"""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from studies.api import results, views

app_name = "api"

RESOURCES: tuple[tuple[str, type[GenericViewSet], str], ...] = (
    ("studies", views.StudyViewSet, "study"),
    ("conditions", views.ConditionViewSet, "condition"),
    ("groups", views.GroupViewSet, "group"),
    ("items", views.ItemViewSet, "item"),
    ("participants", views.ParticipantViewSet, "participant"),
    ("trials", views.TrialViewSet, "trial"),
    ("results", results.ResultsViewSet, "results"),
)


def build_router(resources: tuple[tuple[str, type[GenericViewSet], str], ...]) -> DefaultRouter:
    """A router with the browsable API root and one list/detail route pair per resource."""
    router = DefaultRouter()
    for prefix, viewset, basename in resources:
        router.register(prefix, viewset, basename=basename)
    return router


router = build_router(RESOURCES)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start script comes from its own URL (the split view), so no inline script
    # is needed; Swagger UI does insert inline styles, allowed on this staff page only.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    *router.urls,
]
