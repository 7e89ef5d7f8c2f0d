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
