"""Participants brought to a given step of the flow through the real views, and a snapshot
of everything the flow may write (to assert that a refused request wrote nothing)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from studies.models import ConsentDecline, ExternalIdentity, Invite, Participant, Trial


def arrive(study, group: str = "expert") -> tuple[Client, Participant]:
    """A new participant of ``group`` in a browser of their own, at the instructions."""
    client = Client()
    response = client.post(
        reverse("studies:group-link", args=[study.slug, group]), {"decision": "agree"}
    )
    assert response.status_code == 302
    return client, Participant.objects.order_by("-pk").first()


def at_trials(study, group: str = "expert") -> tuple[Client, Participant]:
    """A new participant at their first trial."""
    client, participant = arrive(study, group)
    client.post(reverse("studies:start-trials", args=[participant.token]))
    participant.refresh_from_db()
    return client, participant


def right_answer(trial: Trial) -> dict[str, str]:
    """The form fields of a correct, complete answer to ``trial``."""
    number = {trial.label_first: "1", trial.label_second: "2"}
    return {
        "trial": str(trial.pk),
        "left": number[trial.heatmap_left],
        "right": number[trial.heatmap_right],
        "confidence": "4",
        "client_ms": "2500",
    }


def answer_current(client: Client, participant: Participant) -> Trial:
    """Answer the participant's current trial (and continue after its feedback)."""
    trial = participant.trials.filter(answered_at__isnull=True).order_by("position").first()
    response = client.post(reverse("studies:answer", args=[participant.token]), right_answer(trial))
    assert response.status_code == 302
    if trial.block == Trial.Block.TRAINING:
        response = client.post(
            reverse("studies:continue", args=[participant.token]), {"trial": str(trial.pk)}
        )
        assert response.status_code == 302
    return trial


def complete(client: Client, participant: Participant) -> None:
    """Answer every remaining trial."""
    while participant.trials.filter(answered_at__isnull=True).exists():
        answer_current(client, participant)
    participant.refresh_from_db()
    assert participant.state == Participant.State.COMPLETED


def snapshot() -> tuple:
    """Every row the participant flow writes."""
    return (
        list(Participant.objects.order_by("pk").values()),
        list(Trial.objects.order_by("pk").values()),
        list(ExternalIdentity.objects.order_by("pk").values()),
        list(ConsentDecline.objects.order_by("pk").values()),
        list(Invite.objects.order_by("pk").values()),
    )
