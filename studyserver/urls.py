"""URL routes: the researcher admin and the study pages."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("studies.urls")),
]
