"""A hostile participant sends what no browser would, over real HTTP with valid CSRF
tokens: odd numbers, NUL bytes, long and repeated fields, other bodies, odd tokens. Every
answer is a 4xx page, and nothing is stored."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from tests.security.conftest import csrf_token, join
from tests.server.participant_stages import right_answer, snapshot

ODD_VALUES = ("¹²", "①", "٣", "３", "-1", "1.5", "9" * 40, "", "1\x00", "7" * 5000)
ODD_TOKENS = ("tok\x00en", "¹²", "x" * 3000, "%25", "a b")


def _form(client, url: str, pairs: list[tuple[str, str]], token: str):
    body = urlencode([*pairs, ("csrfmiddlewaretoken", token)])
    return client.post(
        url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


def _refused(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])


@pytest.mark.parametrize("field", ["trial", "left", "right", "confidence", "client_ms"])
def test_odd_answer_fields_are_refused(study, browser, field):
    client = browser()
    participant = join(client, study)
    page = f"/p/{participant.token}/"
    token = csrf_token(client.get(page))
    valid = right_answer(participant.trials.order_by("position").first())
    before = snapshot()
    for value in ODD_VALUES:
        if field == "client_ms" and value == "":
            continue
        answer = {**valid, field: value}
        _refused(_form(client, page + "answer/", list(answer.items()), token))
    _refused(_form(client, page + "answer/", [*valid.items(), (field, valid[field])], token))
    assert snapshot() == before


def test_other_bodies_and_floods_are_refused(study, browser):
    client = browser()
    participant = join(client, study)
    page = f"/p/{participant.token}/"
    token = csrf_token(client.get(page))
    valid = right_answer(participant.trials.order_by("position").first())
    headers = {"X-CSRFToken": token}
    before = snapshot()
    _refused(client.post(page + "answer/", content=json.dumps(valid), headers=headers))
    broken = {**headers, "Content-Type": "multipart/form-data; boundary=x"}
    _refused(client.post(page + "answer/", content=b"--x\r\nno part", headers=broken))
    too_many = [(f"f{number}", "1") for number in range(1500)]
    _refused(_form(client, page + "answer/", [*valid.items(), *too_many], token))
    huge = [*valid.items(), ("padding", "p" * 3_000_000)]
    _refused(_form(client, page + "answer/", huge, token))
    assert snapshot() == before


def test_odd_tokens_and_ids_in_urls_are_not_found(study, browser):
    client = browser()
    participant = join(client, study)
    trial = participant.trials.first()
    token = csrf_token(client.get(f"/p/{participant.token}/"))
    before = snapshot()
    for odd in ODD_TOKENS:
        quoted = quote(odd, safe="")
        assert client.get(f"/p/{quoted}/").status_code == 404
        assert client.get(f"/i/{quoted}/").status_code == 404
        _refused(_form(client, f"/p/{quoted}/answer/", list(right_answer(trial).items()), token))
    for odd in ODD_VALUES:
        url = f"/p/{participant.token}/t/{quote(odd, safe='')}/left.png"
        _refused(client.get(url))
    for query in ("PROLIFIC_PID=a%00b", "external_id=" + "e" * 500, "STUDY_ID=%00&PROLIFIC_PID=x"):
        _refused(client.get(f"/s/{study.slug}/?{query}"))
    assert snapshot() == before
