"""Tampered, replayed and out-of-place requests: a clear 4xx, nothing written, and the
participant can go on."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studies.lifecycle import close_study
from studies.models import Invite, Participant, Trial
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db


def _arrive(study, group="expert") -> Participant:
    """A new participant, in a browser of their own (a fresh client)."""
    client = Client()
    response = client.post(
        reverse("studies:group-link", args=[study.slug, group]), {"decision": "agree"}
    )
    assert response.status_code == 302
    participant = Participant.objects.order_by("-pk").first()
    client.post(reverse("studies:start-trials", args=[participant.token]))
    return participant


def _snapshot():
    return list(Trial.objects.order_by("pk").values()), list(Participant.objects.values())


def _answer(client, participant, answered, **fields):
    data = {"trial": str(answered.pk), "left": "1", "right": "2", "confidence": "3", **fields}
    return client.post(reverse("studies:answer", args=[participant.token]), data)


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path, training_trials=0, attention_check_positions=())


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"confidence": "0"}, 400, b"confidence"),
        ({"confidence": "6"}, 400, b"confidence"),
        ({"confidence": "sure"}, 400, b"confidence"),
        ({"left": ""}, 400, b"both heatmaps"),
        ({"right": "3"}, 400, b"both heatmaps"),
        ({"left": "2", "right": "2"}, 400, b"same label"),
        ({"client_ms": "-5"}, 400, b"response time"),
        ({"client_ms": "fast"}, 400, b"response time"),
        ({"trial": "x"}, 404, b"not one of yours"),
    ],
)
def test_malformed_answer_is_refused_and_nothing_written(client, study, fields, status, words):
    participant = _arrive(study)
    trial = participant.trials.first()
    before = _snapshot()
    response = _answer(client, participant, trial, **fields)
    assert response.status_code == status
    assert words in response.content
    assert _snapshot() == before
    assert reverse("studies:participant", args=[participant.token]).encode() in response.content
    assert _answer(client, participant, trial).status_code == 302
    assert Trial.objects.get(pk=trial.pk).answered


def test_another_participants_trial_is_not_found(client, study):
    me = _arrive(study)
    other = _arrive(study, "non-expert")
    before = _snapshot()
    response = _answer(client, me, other.trials.first())
    assert response.status_code == 404
    assert _snapshot() == before


def test_a_trial_of_another_study_is_not_found(client, study, tmp_path):
    other_study = make_study(tmp_path, slug="other", training_trials=0)
    me = _arrive(study)
    stranger = _arrive(other_study)
    before = _snapshot()
    assert _answer(client, me, stranger.trials.first()).status_code == 404
    assert _snapshot() == before


def test_a_future_trial_is_refused(client, study):
    me = _arrive(study)
    before = _snapshot()
    response = _answer(client, me, me.trials.get(position=2))
    assert response.status_code == 409
    assert _snapshot() == before


def test_replayed_submission_keeps_the_stored_answer(client, study):
    me = _arrive(study)
    trial = me.trials.first()
    assert _answer(client, me, trial, confidence="2").status_code == 302
    stored = Trial.objects.filter(pk=trial.pk).values().get()
    replay = _answer(client, me, trial, left="2", right="1", confidence="5")
    assert replay.status_code == 302
    assert Trial.objects.filter(pk=trial.pk).values().get() == stored
    assert Trial.objects.filter(participant=me, answered_at__isnull=False).count() == 1


def test_closed_study_gives_a_clear_page_and_stores_nothing(client, study):
    me = _arrive(study)
    close_study(study)
    before = _snapshot()
    assert _answer(client, me, me.trials.first()).status_code == 410
    link = reverse("studies:study-link", args=[study.slug])
    assert client.get(link).status_code == 410
    assert client.post(link, {"decision": "agree"}).status_code == 410
    assert b"closed" in client.get(reverse("studies:participant", args=[me.token])).content
    assert _snapshot() == before


def test_expired_invite_and_unknown_links(client, study):
    invite = Invite.objects.create(study=study, expires_at=timezone.now())
    response = client.post(
        reverse("studies:invite-link", args=[invite.token]), {"decision": "agree"}
    )
    assert response.status_code == 410
    assert b"expired" in response.content
    assert client.get(reverse("studies:invite-link", args=["nope"])).status_code == 404
    assert client.get(reverse("studies:participant", args=["nope"])).status_code == 404
    assert client.get(reverse("studies:group-link", args=[study.slug, "nobody"])).status_code == 404
    assert client.get(reverse("studies:study-link", args=["no-such-study"])).status_code == 404
    assert not Participant.objects.exists()


def test_invite_is_used_once_and_then_resumes(client, study):
    group = study.groups.get(slug="non-expert")
    invite = Invite.objects.create(study=study, group=group)
    link = reverse("studies:invite-link", args=[invite.token])
    first = client.post(link, {"decision": "agree"})
    client.cookies.clear()
    again = client.get(link)
    assert again.headers["Location"] == first.headers["Location"]
    participant = Participant.objects.get()
    assert (participant.invite, participant.group) == (invite, group)
    participant.delete()  # a withdrawal: the invite does not start a new session
    client.cookies.clear()
    assert client.get(link).status_code == 410
    assert not Participant.objects.exists()


def test_pictures_only_for_the_participants_own_trials(client, study):
    me = _arrive(study)
    other = _arrive(study, "non-expert")
    mine = me.trials.first()
    url = reverse("studies:trial-picture", args=[me.token, mine.pk, "left"])
    assert client.get(url).status_code == 200
    theirs = other.trials.first()
    assert (
        client.get(reverse("studies:trial-picture", args=[me.token, theirs.pk, "left"])).status_code
        == 404
    )
    assert (
        client.get(reverse("studies:trial-picture", args=[me.token, mine.pk, "answer"])).status_code
        == 404
    )


def test_repeated_steps_change_nothing_and_skipped_steps_are_refused(client, study):
    me = _arrive(study)
    before = _snapshot()
    again = client.post(reverse("studies:choose-group", args=[me.token]), {"group": "expert"})
    assert again.status_code == 302
    assert client.post(reverse("studies:start-trials", args=[me.token])).status_code == 302
    assert _snapshot() == before
    elsewhere = Client()
    page = elsewhere.post(reverse("studies:study-link", args=[study.slug]), {"decision": "agree"})
    newcomer = Participant.objects.get(token=page.headers["Location"].strip("/").split("/")[-1])
    assert newcomer.stage == Participant.Stage.GROUP
    before = _snapshot()
    skipped = elsewhere.post(reverse("studies:start-trials", args=[newcomer.token]))
    assert skipped.status_code == 409
    assert _snapshot() == before
