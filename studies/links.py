"""A study's participant links, for the admin and the command line alike."""

from __future__ import annotations

from django.urls import reverse

from studies.models import Study

PROLIFIC_QUERY = (
    "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)
"""Appended to a link on Prolific, which fills in its placeholders per participant."""


def participant_links(study: Study, base_url: str) -> list[tuple[str, str]]:
    """(label, absolute URL): the study link (asks the group), then one link per group."""
    base = base_url.rstrip("/")
    links = [
        (
            "Study link (asks the group question)",
            base + reverse("studies:study-link", args=[study.slug]),
        )
    ]
    for group in study.groups.all():
        path = reverse("studies:group-link", args=[study.slug, group.slug])
        links.append((f"Group link: {group.name}", base + path))
    return links
