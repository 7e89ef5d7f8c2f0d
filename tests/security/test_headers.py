"""Every page a participant or a researcher can reach carries the protective headers, and
no page holds an inline script or event handler (the CSP would block it)."""

from __future__ import annotations

import re

import pytest

from tests.security.conftest import csrf_token, join

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = (part.split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


def assert_protected(response) -> None:
    headers = response.headers
    assert headers.get("X-Frame-Options") == "DENY", response.url
    assert headers.get("X-Content-Type-Options") == "nosniff", response.url
    assert headers.get("Referrer-Policy") == "same-origin", response.url
    policy = _policy(response)
    assert policy.get("frame-ancestors") == ["'none'"], response.url
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], (response.url, scripts)
    if not response.url.path.startswith("/api/docs/"):  # Swagger UI sets inline styles
        assert "'unsafe-inline'" not in policy.get("style-src", []), response.url
    assert policy.get("object-src") == ["'none'"], response.url
    if headers.get("Content-Type", "").startswith("text/html"):
        assert not INLINE_SCRIPT.search(response.text), (
            response.url,
            INLINE_SCRIPT.findall(response.text),
        )
        assert not EVENT_HANDLER.search(response.text), response.url


def test_participant_pages_and_pictures_are_protected(study, browser):
    client = browser()
    assert_protected(client.get(f"/s/{study.slug}/"))
    participant = join(client, study)
    page = client.get(f"/p/{participant.token}/")
    assert page.status_code == 200
    assert_protected(page)
    trial = participant.trials.order_by("position").first()
    assert_protected(client.get(f"/p/{participant.token}/t/{trial.pk}/left.png"))
    assert_protected(client.get("/p/nobody/"))
    assert_protected(client.get("/no-such-page/"))


@pytest.mark.parametrize(
    "path",
    [
        "/admin/login/",
        "/admin/",
        "/admin/studies/study/",
        "/api/",
        "/api/studies/",
        "/api/docs/",
        "/healthz",
    ],
)
def test_researcher_pages_are_protected(study, browser, admin_user, path):
    if path == "/admin/login/":
        assert_protected(browser().get(path))
        return
    client = browser()
    client.post(
        "/admin/login/",
        data={
            "username": "admin",
            "password": "password",
            "csrfmiddlewaretoken": csrf_token(client.get("/admin/login/")),
        },
    )
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert_protected(response)
    if path == "/api/docs/":  # Swagger UI's start script comes from its own URL
        script = client.get(path, params={"script": ""})
        assert script.status_code == 200
        assert "javascript" in script.headers["Content-Type"]
