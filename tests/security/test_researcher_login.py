"""A password guesser against the researcher login, over HTTP: after the allowed failures the
account is locked with a clear message, the right password no longer gets in, and the
documented command unlocks it. A successful login gets a new session."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command

from tests.security.conftest import csrf_token, join

PASSWORD = "a long and uncommon passphrase 7"


def _login(client, username: str, password: str):
    token = csrf_token(client.get("/admin/login/"))
    return client.post(
        "/admin/login/?next=/admin/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
    )


def test_guessing_locks_the_account_until_an_administrator_unlocks_it(browser, django_user_model):
    django_user_model.objects.create_superuser("researcher", "", PASSWORD)
    guesser = browser()
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(guesser, "researcher", f"guess {attempt}").status_code == 200
    locked = _login(guesser, "researcher", "one more guess")
    assert locked.status_code == 429
    assert "locked" in locked.text and "axes_reset_username" in locked.text
    assert _login(browser(), "researcher", PASSWORD).status_code == 429
    call_command("axes_reset_username", "researcher")
    call_command("axes_reset_ip", "127.0.0.1")
    welcome = _login(browser(), "researcher", PASSWORD)
    assert welcome.status_code == 302 and welcome.headers["Location"] == "/admin/"


def test_login_rotates_the_session(study, browser, django_user_model):
    django_user_model.objects.create_superuser("researcher", "", PASSWORD)
    client = browser()
    join(client, study)  # a participant's session in this browser
    before = client.cookies.get(settings.SESSION_COOKIE_NAME)
    assert before
    assert _login(client, "researcher", PASSWORD).status_code == 302
    after = client.cookies.get(settings.SESSION_COOKIE_NAME)
    assert after and after != before
    assert client.get("/admin/").status_code == 200
