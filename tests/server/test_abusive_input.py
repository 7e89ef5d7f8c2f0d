"""Every participant endpoint against abusive input: each bad value in each field and URL
parameter, repeated fields, and bodies that are not a form. The answer is always a 4xx page
that says what was wrong, never a server error, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import reverse

from studies.models import Trial
from tests.server.factories import make_study
from tests.server.participant_stages import arrive, at_trials, right_answer, snapshot

pytestmark = pytest.mark.django_db

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Bad versions of a field's valid value ``v``: (name, make), one test each.
NUMBER_ABUSE: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("arabic-indic", lambda v: v.translate(ARABIC_INDIC)),
    ("superscript", lambda v: v.translate(SUPERSCRIPT)),
    ("fullwidth", lambda v: v.translate(FULLWIDTH)),
    ("circled", lambda v: "①"),
    ("negative", lambda v: "-" + v),
    ("float", lambda v: v + ".0"),
    ("exponent", lambda v: v + "e0"),
    ("huge", lambda v: "9" * 40),
    ("empty", lambda v: ""),
    ("spaces", lambda v: "  "),
    ("nul", lambda v: v + "\x00"),
    ("long", lambda v: v * 20_000),
    ("text", lambda v: "<script>"),
)
TEXT_ABUSE: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("nul", lambda v: v + "\x00"),
    ("long", lambda v: "p" * 20_000),
)
CHOICE_ABUSE = (
    *TEXT_ABUSE,
    ("empty", lambda v: ""),
    ("spaces", lambda v: "  "),
    ("unknown", lambda v: v + "x"),
)


@dataclass(frozen=True)
class Endpoint:
    """A participant form: how to bring a participant to it, its URL and its valid fields."""

    prepare: Callable[[object], tuple[Client, str, dict[str, str]]]
    optional: tuple[str, ...] = ()
    """Fields whose empty value is valid."""


def _consent(study):
    return Client(), reverse("studies:study-link", args=[study.slug]), {"decision": "agree"}


def _group(study):
    client = Client()
    page = client.post(reverse("studies:study-link", args=[study.slug]), {"decision": "agree"})
    token = page.headers["Location"].strip("/").split("/")[-1]
    return client, reverse("studies:choose-group", args=[token]), {"group": "expert"}


def _answer(study):
    client, participant = at_trials(study)
    trial = participant.trials.order_by("position").first()
    return client, reverse("studies:answer", args=[participant.token]), right_answer(trial)


def _continue(study):
    client, participant, trial = _at_feedback(study)
    return client, reverse("studies:continue", args=[participant.token]), {"trial": str(trial.pk)}


def _at_feedback(study):
    client, participant = at_trials(study)
    trial = participant.trials.order_by("position").first()
    assert trial.block == Trial.Block.TRAINING
    client.post(reverse("studies:answer", args=[participant.token]), right_answer(trial))
    return client, participant, trial


ENDPOINTS = {
    "consent": Endpoint(_consent),
    "group": Endpoint(_group),
    "answer": Endpoint(_answer, optional=("client_ms",)),
    "continue": Endpoint(_continue),
}
CHOICE_FIELDS = {"decision", "group"}
FIELD_CASES = [
    pytest.param(endpoint, field, make, id=f"{endpoint}-{field}-{name}")
    for endpoint, fields in (
        ("consent", ("decision",)),
        ("group", ("group",)),
        ("answer", ("trial", "left", "right", "confidence", "client_ms")),
        ("continue", ("trial",)),
    )
    for field in fields
    for name, make in (CHOICE_ABUSE if field in CHOICE_FIELDS else NUMBER_ABUSE)
    if not (name == "empty" and field in ENDPOINTS[endpoint].optional)
]


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path, training_trials=2, attention_check_positions=())


def _post_form(client: Client, url: str, pairs: list[tuple[str, str]]):
    return client.post(url, urlencode(pairs), content_type="application/x-www-form-urlencoded")


def _assert_refused(response, before) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    assert b'role="alert"' in response.content
    assert snapshot() == before


@pytest.mark.parametrize(("endpoint", "field", "make"), FIELD_CASES)
def test_each_bad_value_in_each_field_is_refused(study, endpoint, field, make):
    client, url, valid = ENDPOINTS[endpoint].prepare(study)
    before = snapshot()
    response = _post_form(client, url, list({**valid, field: make(valid[field])}.items()))
    _assert_refused(response, before)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_repeated_field_is_refused(study, endpoint):
    client, url, valid = ENDPOINTS[endpoint].prepare(study)
    field, value = next(iter(valid.items()))
    before = snapshot()
    response = _post_form(client, url, [*valid.items(), (field, value + "1")])
    _assert_refused(response, before)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", ["json", "broken-multipart", "empty"])
def test_a_body_that_is_not_a_form_is_refused(study, endpoint, body):
    client, url, valid = ENDPOINTS[endpoint].prepare(study)
    before = snapshot()
    if body == "json":
        response = client.post(url, json.dumps(valid), content_type="application/json")
    elif body == "broken-multipart":
        response = client.post(
            url, b"--x\r\nnot a part", content_type="multipart/form-data; boundary=x"
        )
    else:
        response = client.post(url, b"", content_type="application/x-www-form-urlencoded")
    _assert_refused(response, before)


@pytest.mark.parametrize("parameter", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "external_id"])
@pytest.mark.parametrize(("name", "make"), TEXT_ABUSE)
def test_bad_recruitment_ids_in_the_link_are_refused(study, parameter, name, make):
    ids = {"PROLIFIC_PID": "pid1", "STUDY_ID": "s1", "SESSION_ID": "x1"}
    if parameter == "external_id":
        ids = {"external_id": "e1"}
    query = urlencode({**ids, parameter: make(ids.get(parameter, "e1"))})
    link = reverse("studies:study-link", args=[study.slug]) + "?" + query
    client = Client()
    before = snapshot()
    _assert_refused(client.get(link), before)
    _assert_refused(client.post(link, {"decision": "agree"}), before)


@pytest.mark.parametrize(("name", "make"), NUMBER_ABUSE)
@pytest.mark.parametrize("picture", ["image", "left", "right"])
def test_bad_trial_ids_in_picture_urls_are_not_found(study, picture, name, make):
    client, participant = at_trials(study)
    trial = participant.trials.order_by("position").first()
    good = reverse("studies:trial-picture", args=[participant.token, trial.pk, picture])
    assert client.get(good).status_code == 200
    bad = good.replace(f"/t/{trial.pk}/", f"/t/{quote(make(str(trial.pk)), safe='')}/")
    response = client.get(bad)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "token", ["tok\x00en", "¹²", "٣", "t" * 5000, "../..", "%", "a b"], ids=repr
)
@pytest.mark.parametrize("page", ["participant", "choose-group", "start-trials", "answer"])
def test_bad_participant_tokens_are_not_found(study, page, token):
    arrive(study)
    before = snapshot()
    url = reverse(f"studies:{page}", args=["TOKEN"]).replace("TOKEN", quote(token, safe=""))
    response = Client().get(url) if page == "participant" else Client().post(url, {"trial": "1"})
    _assert_refused(response, before)
    assert response.status_code == 404


@pytest.mark.parametrize("token", ["inv\x00ite", "i" * 5000, "¹²"], ids=repr)
def test_bad_invite_tokens_are_not_found(study, token):
    url = reverse("studies:invite-link", args=["TOKEN"]).replace("TOKEN", quote(token, safe=""))
    before = snapshot()
    _assert_refused(Client().post(url, {"decision": "agree"}), before)
