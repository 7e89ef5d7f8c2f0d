"""Trial pictures on a phone and a laptop: each picture can be seen large (tap, click or the
keyboard) in a dialog that closes with Escape and gives the focus back; alt texts say what
each picture is without naming a class; no Content-Security-Policy violation on the way."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.browser.realistic_stimuli import make_chelsea_study
from tests.browser.test_participant_browser import (
    IMAGES_LOADED,
    README_SCREENSHOTS,
    class_names,
    shown_trial,
    start_trials,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1280, "height": 800}
ALT_TEXTS = ("The photograph", "Cluster map", "Heatmap 1", "Heatmap 2")


def _open_cwox_2s_trial(new_page, study, viewport, **options):
    """A page at the first trial of a CWOX-2s participant (the condition with 4 pictures),
    and the list its CSP violations are collected in."""
    for _ in range(3):
        page = new_page(viewport=viewport, **options)
        violations: list[str] = []
        page.on(
            "console",
            lambda message, seen=violations: (
                seen.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        participant = start_trials(page, f"/s/{study.slug}/everyone/")
        if participant.condition.shows_cluster_map:
            page.wait_for_function(IMAGES_LOADED)
            return page, violations
        page.context.close()
    raise AssertionError("no CWOX-2s participant in three arrivals")


def _screenshots(tmp_path):
    folder = README_SCREENSHOTS if os.environ.get("CWOX_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_picture_is_enlarged_by_tap_and_by_keyboard_on_a_phone(new_page, tmp_path):
    study = make_chelsea_study(tmp_path)
    page, violations = _open_cwox_2s_trial(
        new_page, study, PHONE, device_scale_factor=2.625, is_mobile=True, has_touch=True
    )
    trial = shown_trial(page)
    links = page.locator(".pictures a[data-enlarge]")
    expect(links).to_have_count(4)
    alts = [links.nth(i).locator("img").get_attribute("alt") for i in range(4)]
    assert [alt.startswith(start) for alt, start in zip(alts, ALT_TEXTS, strict=True)] == [True] * 4
    for alt in alts:
        for name in class_names(trial).values():
            assert name.lower() not in alt.lower()
    small = links.nth(2).locator("img").bounding_box()["width"]
    address = page.url
    folder = _screenshots(tmp_path)
    page.screenshot(path=folder / "phone-trial.png", full_page=True)

    links.nth(2).tap()
    viewer = page.locator("dialog.picture-viewer")
    expect(viewer).to_be_visible()
    expect(viewer.get_by_role("heading")).to_have_text("Heatmap 1")
    large = viewer.locator("img")
    page.wait_for_function("() => document.querySelector('dialog img').complete")
    assert large.get_attribute("alt") == alts[2]
    width = large.bounding_box()["width"]
    assert width >= 2 * small and width <= PHONE["width"]
    page.screenshot(path=folder / "phone-enlarged.png")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Enlarge heatmap 1"
    )

    links.nth(3).focus()
    page.keyboard.press("Enter")
    expect(viewer).to_be_visible()
    expect(viewer.get_by_role("heading")).to_have_text("Heatmap 2")
    viewer.get_by_role("button", name="Close").tap()
    expect(viewer).to_be_hidden()
    assert page.url == address
    assert violations == []


def test_a_picture_is_enlarged_by_click_on_a_laptop(new_page, tmp_path):
    study = make_chelsea_study(tmp_path)
    page, violations = _open_cwox_2s_trial(new_page, study, LAPTOP)
    folder = _screenshots(tmp_path)
    page.screenshot(path=folder / "laptop-trial.png", full_page=True)
    link = page.locator(".pictures a[data-enlarge]").nth(1)
    link.click()
    viewer = page.locator("dialog.picture-viewer")
    expect(viewer.get_by_role("heading")).to_have_text("Both classes together")
    page.wait_for_function("() => document.querySelector('dialog img').complete")
    assert viewer.locator("img").bounding_box()["width"] > link.bounding_box()["width"]
    page.screenshot(path=folder / "laptop-enlarged.png")
    page.mouse.click(5, 5)  # beside the picture: on the backdrop
    expect(viewer).to_be_hidden()
    assert violations == []
