"""Draft studies for the job tests (no stimuli yet: the jobs make them)."""

from __future__ import annotations

from studies.models import Condition, Study


def make_draft(slug: str = "draft", methods: tuple[str, ...] = ("swox", "cwox-2s")) -> Study:
    """A draft study with one condition per method and no stimuli yet."""
    study = Study.objects.create(
        title=f"Study {slug}",
        slug=slug,
        consent_text="You agree.",
        instructions="Match the heatmaps.",
        debrief_text="Thanks.",
    )
    for position, method in enumerate(methods):
        Condition.objects.create(study=study, name=method.upper(), method=method, position=position)
    return study
