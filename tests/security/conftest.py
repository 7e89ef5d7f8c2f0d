"""The adversarial suite: a curious or hostile participant (and a password guesser) against
pytest-django's live server on the loopback address, with httpx as the browser. Every loop
is bounded; nothing leaves 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from studies.models import Participant
from tests.server.factories import make_study

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stimulus files under a temporary folder (the live server shares these settings)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def study(live_server, transactional_db, tmp_path):
    """An open study with the paper's three conditions and two groups."""
    return make_study(tmp_path)


@pytest.fixture
def browser(live_server) -> Iterator[Callable[[], httpx.Client]]:
    """``browser()``: a new browser (its own cookies) talking to the live server."""
    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        client = httpx.Client(base_url=live_server.url, timeout=TIMEOUT)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class FormTransport:
    """An httpx client as :class:`studies.simulation.Bot` uses a transport."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self.client.post(url, data=data)


def csrf_token(page: httpx.Response) -> str:
    """The CSRF token of the form on ``page``."""
    match = CSRF.search(page.text)
    assert match, f"no form on {page.url}"
    return match.group(1)


def submit(client: httpx.Client, page_url: str, action: str, fields: dict[str, str]):
    """Load ``page_url`` and post ``fields`` to ``action`` as its form would."""
    page = client.get(page_url)
    return client.post(action, data={**fields, "csrfmiddlewaretoken": csrf_token(page)})


def join(client: httpx.Client, study, group: str = "expert") -> Participant:
    """Consent through the group's link and start the trials, as a browser does."""
    link = f"/s/{study.slug}/{group}/"
    consent = submit(client, link, link, {"decision": "agree"})
    assert consent.status_code == 302
    page = consent.headers["Location"]
    participant = Participant.objects.get(token=page.strip("/").split("/")[-1])
    started = submit(client, page, page + "start/", {})
    assert started.status_code == 302
    participant.refresh_from_db()
    return participant
