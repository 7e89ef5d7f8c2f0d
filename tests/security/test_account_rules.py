"""Lockout scopes and password rules of researcher accounts (through Django's test client,
which can send from any client address)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a long and uncommon passphrase 7"


def _login(username: str, password: str, address: str) -> int:
    client = Client(REMOTE_ADDR=address)
    data = {"username": username, "password": password}
    return client.post("/admin/login/?next=/admin/", data).status_code


def _fail(times: int, username: str | None, address: str | None) -> None:
    for attempt in range(times):
        _login(username or f"someone{attempt}", "wrong", address or f"10.0.0.{attempt + 1}")


def test_an_account_is_locked_whatever_address_guesses(django_user_model):
    django_user_model.objects.create_superuser("researcher", "", PASSWORD)
    _fail(settings.AXES_FAILURE_LIMIT, "researcher", None)
    assert _login("researcher", PASSWORD, "10.9.9.9") == 429
    assert _login("colleague", "anything", "10.9.9.9") == 200  # that address is not locked


def test_an_address_is_locked_whatever_account_it_guesses(django_user_model):
    django_user_model.objects.create_superuser("researcher", "", PASSWORD)
    _fail(settings.AXES_FAILURE_LIMIT, None, "10.1.1.1")
    assert _login("researcher", PASSWORD, "10.1.1.1") == 429
    assert _login("researcher", PASSWORD, "10.2.2.2") == 302  # the account is not locked


@pytest.mark.parametrize("weak", ["password", "12345678", "short", "researcher1"])
def test_weak_passwords_are_refused(django_user_model, weak):
    user = django_user_model(username="researcher1")
    with pytest.raises(ValidationError):
        validate_password(weak, user)


def test_the_generated_researcher_password_passes_the_validators(django_user_model, capsys):
    call_command("ensure_researcher")
    password = re.search(r"password (\S+)", capsys.readouterr().out).group(1)
    validate_password(password, django_user_model.objects.get())
