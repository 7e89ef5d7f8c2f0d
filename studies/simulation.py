"""Simulated participants: bots that go through the real participant pages over HTTP.

A bot reads each page the way a browser gets it (forms, hidden fields, CSRF token), so it
exercises the same views, validation and redirects as a person. The only thing it cannot read
from the pages is the right answer (the pages never contain it): an *oracle* looks the answer up
in the database, and the bot answers right with probability ``accuracy``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin

from studies.models import Trial

FORM = re.compile(r'<form[^>]*action="(?P<action>[^"]*)"', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')
GROUP_CHOICE = re.compile(r'name="group" value="(?P<slug>[^"]+)"')
MAX_PAGES = 2000


class Response(Protocol):
    status_code: int
    content: bytes
    headers: dict


class Transport(Protocol):
    """What a bot needs of an HTTP client (Django's test client or ``httpx.Client``)."""

    def get(self, url: str) -> Response: ...

    def post(self, url: str, data: dict[str, str]) -> Response: ...


Oracle = Callable[[int], tuple[str, str]]


def database_oracle(trial_id: int) -> tuple[str, str]:
    """The right answer of a trial: the label numbers (1/2, display order) of the left and
    right heatmaps."""
    trial = Trial.objects.get(pk=trial_id)
    number = {trial.label_first: "1", trial.label_second: "2"}
    return number[trial.heatmap_left], number[trial.heatmap_right]


class BotError(RuntimeError):
    """The pages did not behave as a participant would expect."""


@dataclass
class Bot:
    """One simulated participant."""

    transport: Transport
    oracle: Oracle = database_oracle
    accuracy: float = 0.8
    rng: random.Random = field(default_factory=random.Random)
    group_answer: str | None = None
    pages: int = 0
    answers: int = 0

    def run(self, link: str) -> str:
        """Consent at ``link`` and go through the whole study; returns the participant URL."""
        page = self._get(link)
        self._require(b'name="decision"' in page.content, "no consent form", link)
        page = self._post(link, {"decision": "agree"}, page)
        url = page.headers["Location"]
        while True:
            page = self._get(url)
            self._require(page.status_code == 200, f"status {page.status_code}", url)
            action = FORM.search(page.content.decode())
            if action is None:
                self._require(b"Thank you" in page.content, "a page without a form", url)
                return url
            target = urljoin(url, action.group("action"))
            answer = self._respond(target, page.content.decode())
            reply = self._post(target, answer, page)
            self._require(reply.status_code in (302, 303), f"status {reply.status_code}", target)

    def _respond(self, action: str, html: str) -> dict[str, str]:
        if action.endswith("/group/"):
            slugs = GROUP_CHOICE.findall(html)
            return {"group": self.group_answer or self.rng.choice(slugs)}
        if action.endswith("/answer/"):
            trial = self._hidden(html)["trial"]
            left, right = self.oracle(int(trial))
            correct = self.rng.random() < self.accuracy
            if not correct:
                left, right = right, left
            self.answers += 1
            confidence = self.rng.randint(3, 5) if correct else self.rng.randint(1, 4)
            return {
                "trial": trial,
                "left": left,
                "right": right,
                "confidence": str(confidence),
                "client_ms": str(self.rng.randint(1500, 9000)),
            }
        if action.endswith("/continue/"):
            return {"trial": self._hidden(html)["trial"]}
        return {}

    @staticmethod
    def _hidden(html: str) -> dict[str, str]:
        return {m.group("name"): m.group("value") for m in HIDDEN.finditer(html)}

    def _get(self, url: str) -> Response:
        self._count(url)
        return self.transport.get(url)

    def _post(self, url: str, data: dict[str, str], page: Response) -> Response:
        self._count(url)
        token = self._hidden(page.content.decode()).get("csrfmiddlewaretoken")
        return self.transport.post(url, {**data, "csrfmiddlewaretoken": token or ""})

    def _count(self, url: str) -> None:
        self.pages += 1
        self._require(self.pages < MAX_PAGES, "too many pages (a loop?)", url)

    @staticmethod
    def _require(condition: bool, problem: str, url: str) -> None:
        if not condition:
            raise BotError(f"{url}: {problem}")
