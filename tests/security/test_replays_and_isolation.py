"""Replays, forged requests and other participants' data: a finished participant's forms
change nothing; one participant cannot see or answer another's trials; a form without a
valid CSRF token is refused; the researchers' API and admin are closed without a login."""

from __future__ import annotations

from studies.models import Participant
from studies.simulation import Bot
from tests.security.conftest import FormTransport, csrf_token, join, submit
from tests.server.participant_stages import right_answer, snapshot


def test_a_finished_participants_replayed_forms_change_nothing(study, browser):
    client = browser()
    url = Bot(FormTransport(client), accuracy=1.0).run(f"/s/{study.slug}/expert/")
    participant = Participant.objects.get()
    assert participant.state == Participant.State.COMPLETED
    before = snapshot()
    token = csrf_token(client.get("/admin/login/"))  # the debrief has no form
    forms = [
        (f"/s/{study.slug}/expert/", {"decision": "agree"}),
        (f"/s/{study.slug}/", {"decision": "agree"}),
        (url + "group/", {"group": "non-expert"}),
        (url + "start/", {}),
    ]
    for trial in participant.trials.order_by("position"):
        answer = right_answer(trial)
        forms.append(
            (url + "answer/", {**answer, "left": answer["right"], "right": answer["left"]})
        )
        forms.append((url + "continue/", {"trial": str(trial.pk)}))
    for action, fields in forms:
        response = client.post(action, data={**fields, "csrfmiddlewaretoken": token})
        assert response.status_code in (200, 302), (action, response.status_code)
        final = client.get(url)
        assert "Thank you!" in final.text
        assert study.completion_code in final.text
        assert snapshot() == before, action


def test_one_participant_cannot_reach_anothers_trials(study, browser):
    me, other = browser(), browser()
    mine, theirs = join(me, study), join(other, study, "non-expert")
    their_trial = theirs.trials.order_by("position").first()
    me.get(f"/p/{mine.token}/")
    for picture in ("image", "left", "right", "cluster"):
        assert me.get(f"/p/{mine.token}/t/{their_trial.pk}/{picture}.png").status_code == 404
    before = snapshot()
    response = submit(
        me, f"/p/{mine.token}/", f"/p/{mine.token}/answer/", right_answer(their_trial)
    )
    assert response.status_code == 404
    assert snapshot() == before


def test_forms_without_a_valid_csrf_token_are_refused(study, browser):
    client = browser()
    participant = join(client, study)
    trial = participant.trials.order_by("position").first()
    token = csrf_token(client.get(f"/p/{participant.token}/"))
    before = snapshot()
    answer = f"/p/{participant.token}/answer/"
    assert client.post(answer, data=right_answer(trial)).status_code == 403
    forged = {**right_answer(trial), "csrfmiddlewaretoken": "x" * 64}
    assert client.post(answer, data=forged).status_code == 403
    stranger = browser()
    stolen = {**right_answer(trial), "csrfmiddlewaretoken": token}
    assert stranger.post(answer, data=stolen).status_code == 403
    consent = browser().post(f"/s/{study.slug}/", data={"decision": "agree"})
    assert consent.status_code == 403
    assert snapshot() == before


def test_the_api_and_the_admin_need_a_staff_login(study, browser):
    client = browser()
    for path in ("/api/", "/api/studies/", "/api/participants/", "/api/trials/", "/api/schema/"):
        response = client.get(path)
        assert response.status_code in (401, 403), path
        assert "results" not in response.text and "openapi" not in response.text
    bogus = client.get("/api/trials/", headers={"Authorization": "Token " + "0" * 40})
    assert bogus.status_code == 401
    for path in ("/admin/", f"/admin/studies/study/{study.pk}/change/", "/staff/media/x.png"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response.headers["Location"]
