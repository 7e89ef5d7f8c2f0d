"""The researcher pages work under the Content-Security-Policy: signing in, the study list and
form, the progress page (which polls its data from a static script) and the API's Swagger UI
load without a single CSP violation."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.server.factories import make_study

pytestmark = pytest.mark.browser

PASSWORD = "a long and uncommon passphrase 7"


def test_admin_and_api_pages_run_without_csp_violations(new_page, tmp_path, django_user_model):
    django_user_model.objects.create_superuser("researcher", "", PASSWORD)
    study = make_study(tmp_path)
    page = new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text[:60]}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto("/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("researcher")
    for name, args in (
        ("admin:studies_study_changelist", []),
        ("admin:studies_study_change", [study.pk]),
        ("admin:studies_study_progress", [study.pk]),
    ):
        page.goto(reverse(name, args=args))
        page.wait_for_load_state("networkidle")
    progress = page.locator("#progress-updated")
    expect(progress).to_contain_text("Updated")
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert violations == []
