"""Production configuration: the deployment checks pass and the health endpoint answers."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def _environment(**settings: str) -> dict[str, str]:
    """This process's environment without test-only switches (the browser tests set
    DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy checks rightly refuse), plus ``settings``."""
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**inherited, **settings}


def test_check_deploy_passes_with_production_settings():
    env = _environment(
        DJANGO_DEBUG="0",
        DJANGO_HTTPS="1",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="study.example.org",
    )
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_default_settings_fail_the_deploy_checks():
    """Without HTTPS the deploy checks must complain (the test above can fail)."""
    env = _environment(DJANGO_DEBUG="0", DJANGO_HTTPS="0")
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "security.W004" in run.stderr + run.stdout  # no HSTS


@pytest.mark.django_db
def test_health_endpoint(client):
    response = client.get(reverse("studies:health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]
