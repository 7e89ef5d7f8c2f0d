"""The stimulus review page in a real browser: a researcher sees every item × condition with
its pictures loaded, drops items, opens the study; a participant then goes through the whole
study and is never shown a dropped item."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Page, expect

from studies.models import Participant, Trial
from tests.browser.test_participant_browser import (
    IMAGES_LOADED,
    answer,
    button,
    click_and_wait,
    shown_trial,
    start_trials,
)
from tests.server.factories import make_study

pytestmark = pytest.mark.browser

PASSWORD = "review-page-Secret-42"


def log_in(page: Page, next_url: str) -> None:
    get_user_model().objects.create_superuser("researcher", "r@example.org", PASSWORD)
    page.goto(f"{reverse('admin:login')}?next={next_url}")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    click_and_wait(page, page.get_by_role("button", name="Log in"))


def test_review_shows_every_item_and_a_dropped_item_reaches_no_participant(new_page, tmp_path):
    # 4 test trials per participant from 6 test items: dropping 2 leaves exactly the 4 needed,
    # while without the drop a participant would see a dropped item with probability 14/15.
    study = make_study(tmp_path, test_trials=4, opened=False)
    page = new_page()
    review = reverse("admin:studies_study_review", args=[study.pk])
    log_in(page, review)
    expect(page.get_by_role("heading", name="Review stimuli")).to_be_visible()
    sections = page.locator("section.review-item")
    expect(sections).to_have_count(study.items.count())
    conditions = study.conditions.count()
    expect(page.locator(".review-cell")).to_have_count(study.items.count() * conditions)
    page.wait_for_function(IMAGES_LOADED)
    page.screenshot(path=tmp_path / "review.png", full_page=True)

    dropped = list(study.items.filter(role="test").order_by("key")[:2])
    for item in dropped:
        section = page.locator(f"#item-{item.pk}")
        click_and_wait(page, section.get_by_role("button", name="Drop"))
        expect(page.locator(f"#item-{item.pk}")).to_have_class("review-item review-drop")
    expect(page.locator(".review-summary")).to_contain_text("dropped: 2")

    page.goto(reverse("admin:studies_study_change", args=[study.pk]))
    click_and_wait(page, button(page, "Open study"))
    study.refresh_from_db()
    assert study.is_open

    participant_page = new_page()
    participant = start_trials(participant_page, f"/s/{study.slug}/expert/")
    shown = set()
    while participant_page.locator("#answer-form").count():
        trial = shown_trial(participant_page)
        shown.add(trial.item_id)
        answer(participant_page, trial, correct=True, confidence=4)
        if trial.block == Trial.Block.TRAINING:
            click_and_wait(participant_page, button(participant_page, "Continue"))
    expect(participant_page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    participant.refresh_from_db()
    assert participant.state == Participant.State.COMPLETED
    assert shown and not shown & {item.pk for item in dropped}
    assert set(participant.trials.values_list("item_id", flat=True)) == shown
