"""URL routes: the researcher admin, the researchers' API and the study pages."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("studies.api.urls")),
    path("", include("studies.urls")),
]
