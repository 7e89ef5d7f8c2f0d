"""Double clicks and second tabs over real HTTP: identical forms sent at the same instant
from one browser (same cookies, same CSRF token) are carried out once; every copy gets the
next page, none a server error. Real concurrency needs PostgreSQL's row locks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from studies.models import Participant
from tests.security.conftest import TIMEOUT, csrf_token, join
from tests.server.participant_stages import right_answer

COPIES = 6

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="simultaneous requests need PostgreSQL"
)


def _at_once(client: httpx.Client, action: str, fields: dict[str, str]) -> list[int]:
    start = threading.Barrier(COPIES)
    cookies = dict(client.cookies.items())

    def send(_: int) -> int:
        with httpx.Client(base_url=str(client.base_url), cookies=cookies, timeout=TIMEOUT) as c:
            start.wait()
            return c.post(action, data=fields).status_code

    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(send, range(COPIES)))


def test_a_double_clicked_consent_makes_one_participant(study, browser):
    client = browser()
    link = f"/s/{study.slug}/expert/"
    token = csrf_token(client.get(link))
    statuses = _at_once(client, link, {"decision": "agree", "csrfmiddlewaretoken": token})
    assert statuses == [302] * COPIES
    assert Participant.objects.count() == 1


def test_a_double_clicked_answer_is_stored_once(study, browser):
    client = browser()
    participant = join(client, study)
    page = f"/p/{participant.token}/"
    token = csrf_token(client.get(page))
    trial = participant.trials.order_by("position").first()
    fields = {**right_answer(trial), "csrfmiddlewaretoken": token}
    assert _at_once(client, page + "answer/", fields) == [302] * COPIES
    answered = participant.trials.filter(answered_at__isnull=False)
    assert list(answered.values_list("pk", flat=True)) == [trial.pk]
    continued = {"trial": str(trial.pk), "csrfmiddlewaretoken": token}
    assert _at_once(client, page + "continue/", continued) == [302] * COPIES
    assert participant.trials.filter(feedback_seen_at__isnull=False).count() == 1
