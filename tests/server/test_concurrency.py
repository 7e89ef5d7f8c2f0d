"""Balanced assignment under concurrent arrivals, on real PostgreSQL (row locks)."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from studies.models import Participant, Trial
from tests.server.factories import make_study
from tests.server.participant_stages import answer_current, arrive, at_trials, right_answer

ARRIVALS = 200
THREADS = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row-lock concurrency needs PostgreSQL: set DATABASE_URL=postgres://… "
        "(scripts/test.sh does when PostgreSQL runs on 127.0.0.1:5432)",
    ),
]


def test_simultaneous_arrivals_are_balanced_within_each_group(tmp_path):
    study = make_study(tmp_path)
    groups = [g.slug for g in study.groups.all()]
    start = threading.Barrier(THREADS)

    def arrive(numbers: range) -> list[int]:
        try:
            start.wait()
            statuses = []
            for number in numbers:
                client = Client()
                link = reverse("studies:group-link", args=[study.slug, groups[number % 2]])
                statuses.append(client.post(link, {"decision": "agree"}).status_code)
            return statuses
        finally:
            connections.close_all()

    per_thread = ARRIVALS // THREADS
    with ThreadPoolExecutor(THREADS) as pool:
        batches = [range(t * per_thread, (t + 1) * per_thread) for t in range(THREADS)]
        statuses = [s for batch in pool.map(arrive, batches) for s in batch]

    assert Counter(statuses) == {302: ARRIVALS}
    assert Participant.objects.filter(condition__isnull=False).count() == ARRIVALS
    for group in study.groups.all():
        loads = Counter(
            Participant.objects.filter(group=group).values_list("condition__name", flat=True)
        )
        assert len(loads) == 3
        assert max(loads.values()) - min(loads.values()) <= 1, loads
    numbers = Participant.objects.values_list("group", "assignment_number")
    assert len(set(numbers)) == ARRIVALS
    trials_each = 2 + 4 + 1
    assert Trial.objects.count() == ARRIVALS * trials_each


SIMULTANEOUS = 6


def _at_once(shared: Client, url: str, fields: dict[str, str]) -> list[int]:
    """``SIMULTANEOUS`` identical POSTs of ``fields`` to ``url`` from browsers holding the
    cookies of ``shared`` (a double click, a second tab), released at the same instant."""
    start = threading.Barrier(SIMULTANEOUS)

    def send(_: int) -> int:
        client = Client()
        for name, morsel in shared.cookies.items():
            client.cookies[name] = morsel.value
        try:
            start.wait()
            return client.post(url, fields).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(SIMULTANEOUS) as pool:
        return list(pool.map(send, range(SIMULTANEOUS)))


def _answered(participant) -> list[dict]:
    return list(participant.trials.filter(answered_at__isnull=False).order_by("pk").values())


def test_simultaneous_consents_of_one_browser_make_one_participant(tmp_path):
    study = make_study(tmp_path)
    client = Client()
    link = reverse("studies:group-link", args=[study.slug, "expert"])
    assert client.get(link).status_code == 200
    statuses = _at_once(client, link, {"decision": "agree"})
    assert statuses == [302] * SIMULTANEOUS
    assert Participant.objects.count() == 1
    assert Trial.objects.count() == 2 + 4 + 1


def test_simultaneous_starts_move_on_once(tmp_path):
    study = make_study(tmp_path)
    client, participant = arrive(study)
    statuses = _at_once(client, reverse("studies:start-trials", args=[participant.token]), {})
    assert statuses == [302] * SIMULTANEOUS
    participant.refresh_from_db()
    assert participant.stage == Participant.Stage.TRIALS


@pytest.mark.parametrize("final", [False, True], ids=["first-trial", "final-trial"])
def test_simultaneous_identical_answers_are_stored_once(tmp_path, final):
    study = make_study(tmp_path, training_trials=0, test_trials=2, attention_check_positions=())
    client, participant = at_trials(study)
    if final:
        answer_current(client, participant)
    trial = participant.trials.filter(answered_at__isnull=True).order_by("position").first()
    url = reverse("studies:answer", args=[participant.token])
    statuses = _at_once(client, url, right_answer(trial))
    assert statuses == [302] * SIMULTANEOUS
    stored = _answered(participant)
    assert [row["id"] for row in stored][-1] == trial.pk
    participant.refresh_from_db()
    assert (participant.state == Participant.State.COMPLETED) is final
    if final:
        assert participant.completed_at >= max(row["answered_at"] for row in stored)
    replay = client.post(url, right_answer(trial))
    assert replay.status_code == 302
    assert _answered(participant) == stored


def test_simultaneous_continues_after_the_last_feedback_complete_once(tmp_path):
    study = make_study(tmp_path, training_trials=2, test_trials=0, attention_check_positions=())
    client, participant = at_trials(study)
    answer_current(client, participant)
    last = participant.trials.order_by("position").last()
    client.post(reverse("studies:answer", args=[participant.token]), right_answer(last))
    url = reverse("studies:continue", args=[participant.token])
    statuses = _at_once(client, url, {"trial": str(last.pk)})
    assert statuses == [302] * SIMULTANEOUS
    participant.refresh_from_db()
    assert participant.state == Participant.State.COMPLETED
    seen = Trial.objects.get(pk=last.pk).feedback_seen_at
    assert participant.completed_at >= seen
    assert client.post(url, {"trial": str(last.pk)}).status_code == 302
    assert Participant.objects.get(pk=participant.pk).completed_at == participant.completed_at
