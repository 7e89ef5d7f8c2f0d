"""Study views (the participant flow arrives with the study-server issue)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """Landing page: what the platform is and where researchers sign in."""
    return render(request, "studies/home.html")
