"""The participant flow through the real views: consent to debrief, resume, idempotency."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from studies.models import ConsentDecline, ExternalIdentity, Participant, Trial
from studies.simulation import Bot
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db


def test_bot_completes_study_with_recorded_trials(client, tmp_path):
    study = make_study(tmp_path)
    bot = Bot(client, accuracy=1.0)
    bot.run(reverse("studies:study-link", args=[study.slug]))
    participant = Participant.objects.get()
    assert participant.state == Participant.State.COMPLETED
    trials = list(participant.trials.all())
    assert len(trials) == 2 + 4 + 1
    assert all(t.answered and t.correct for t in trials)
    assert [t.position for t in trials if t.is_attention_check] == [2 + 3 - 1]
    assert all(t.condition == participant.condition for t in trials)
    assert all(1 <= t.confidence <= 5 and t.client_response_ms > 0 for t in trials)
    assert all(t.shown_at <= t.answered_at for t in trials)


def test_accuracy_zero_bot_is_always_wrong(client, tmp_path):
    study = make_study(tmp_path)
    Bot(client, accuracy=0.0).run(reverse("studies:study-link", args=[study.slug]))
    assert not Trial.objects.filter(correct=True).exists()


def test_simulate_participants_command_covers_every_condition_and_group(tmp_path):
    study = make_study(tmp_path)
    for group in study.groups.all():
        call_command("simulate_participants", study.slug, n=6, group=group.slug, seed=group.pk)
    done = Participant.objects.filter(state=Participant.State.COMPLETED)
    assert done.count() == 12
    for group in study.groups.all():
        counts = [done.filter(group=group, condition=c).count() for c in study.conditions.all()]
        assert counts == [2, 2, 2]


def test_decline_stores_only_the_refusal(client, tmp_path):
    study = make_study(tmp_path)
    link = reverse("studies:study-link", args=[study.slug]) + "?PROLIFIC_PID=abc"
    response = client.post(link, {"decision": "decline"})
    assert response.status_code == 200
    assert b"Thank you" in response.content
    assert ConsentDecline.objects.filter(study=study).count() == 1
    assert not Participant.objects.exists()
    assert not ExternalIdentity.objects.exists()


def test_reload_resumes_same_trial_and_test_page_hides_answer(client, tmp_path):
    study = make_study(tmp_path, training_trials=0, attention_check_positions=())
    link = reverse("studies:group-link", args=[study.slug, "expert"])
    page = client.post(link, {"decision": "agree"})
    participant = Participant.objects.get()
    url = page.headers["Location"]
    client.post(reverse("studies:start-trials", args=[participant.token]))
    first = client.get(url).content.decode()
    again = client.get(url).content.decode()
    trial = participant.trials.get(position=0)
    assert f'name="trial" value="{trial.pk}"' in first
    assert f'name="trial" value="{trial.pk}"' in again
    shown = Trial.objects.get(pk=trial.pk).shown_at
    assert shown is not None
    client.get(url)
    assert Trial.objects.get(pk=trial.pk).shown_at == shown
    assert trial.item.class_a_name in first and trial.item.class_b_name in first
    for secret in ("swox", "cwox", "-a.png", "-b.png", "/media/", "heatmap_left", "correct"):
        assert secret not in first.lower().replace("cwox studies", "")


def test_prolific_id_resumes_instead_of_starting_again(client, tmp_path):
    study = make_study(tmp_path)
    link = reverse("studies:study-link", args=[study.slug])
    query = "?PROLIFIC_PID=p1&STUDY_ID=s1&SESSION_ID=x1"
    first = client.post(link + query, {"decision": "agree"})
    client.cookies.clear()
    second = client.get(link + query)
    assert second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    identity = ExternalIdentity.objects.get()
    assert (identity.external_id, identity.platform_study_id) == ("p1", "s1")
    assert Participant.objects.count() == 1


def _completed(tmp_path):
    from tests.server.participant_stages import at_trials, complete

    study = make_study(tmp_path)
    client, participant = at_trials(study)
    complete(client, participant)
    return study, client, participant


def _replays(study, participant):
    """Every earlier form of ``participant``, as (URL, fields) pairs, in the order they were
    first sent."""
    from tests.server.participant_stages import right_answer

    token = participant.token
    yield reverse("studies:group-link", args=[study.slug, "expert"]), {"decision": "agree"}
    yield reverse("studies:study-link", args=[study.slug]), {"decision": "agree"}
    yield reverse("studies:choose-group", args=[token]), {"group": "expert"}
    yield reverse("studies:choose-group", args=[token]), {"group": "non-expert"}
    yield reverse("studies:start-trials", args=[token]), {}
    for trial in participant.trials.order_by("position"):
        answer = right_answer(trial)
        yield reverse("studies:answer", args=[token]), answer
        yield (
            reverse("studies:answer", args=[token]),
            {**answer, "left": answer["right"], "right": answer["left"]},
        )
        yield reverse("studies:continue", args=[token]), {"trial": str(trial.pk)}


def test_replaying_any_earlier_form_after_completion_changes_nothing(tmp_path):
    from tests.server.participant_stages import snapshot

    study, client, participant = _completed(tmp_path)
    before = snapshot()
    for url, fields in _replays(study, participant):
        response = client.post(url, fields, follow=True)
        assert response.status_code == 200, url
        assert b"Thank you!" in response.content, url
        assert study.completion_code.encode() in response.content, url
        assert snapshot() == before, url


def test_replaying_the_last_continue_keeps_the_completion_time(tmp_path):
    study = make_study(tmp_path, training_trials=2, test_trials=0, attention_check_positions=())
    from tests.server.participant_stages import at_trials, complete

    client, participant = at_trials(study)
    complete(client, participant)
    last = participant.trials.order_by("position").last()
    assert last.block == Trial.Block.TRAINING
    completed_at = Participant.objects.get(pk=participant.pk).completed_at
    response = client.post(
        reverse("studies:continue", args=[participant.token]), {"trial": str(last.pk)}
    )
    assert response.status_code == 302
    assert Participant.objects.get(pk=participant.pk).completed_at == completed_at


def test_a_trial_page_and_an_answer_take_few_queries(
    tmp_path, django_assert_max_num_queries, django_assert_num_queries
):
    """Query budget per request (what 300 participants on 2 cores need): a shown trial's
    page reads the participant, the current trial and the trial counts; an answer reads the
    participant (twice: to find, then to lock), its trial and the current trial, writes the
    answer and checks for completion; a picture reads its trial and heatmap set."""
    from tests.server.participant_stages import at_trials, right_answer

    study = make_study(tmp_path, training_trials=0, attention_check_positions=())
    client, participant = at_trials(study)
    page = reverse("studies:participant", args=[participant.token])
    client.get(page)
    with django_assert_num_queries(3):
        assert client.get(page).status_code == 200
    trial = participant.trials.order_by("position").first()
    picture = reverse("studies:trial-picture", args=[participant.token, trial.pk, "left"])
    with django_assert_num_queries(2):
        assert client.get(picture).status_code == 200
    with django_assert_max_num_queries(6 + 2):  # + the savepoint and its release
        answered = client.post(
            reverse("studies:answer", args=[participant.token]), right_answer(trial)
        )
    assert answered.status_code == 302
