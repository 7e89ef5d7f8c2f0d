"""The participant pages in a real browser: Playwright drives Debian's Chromium against the live
server. A participant completes consent, training and the test block; reload and Back resume
without losing or duplicating an answer; a test trial's page holds no correct answer; the form
works with the keyboard alone and on a phone; and screenshots of each condition's trial page are
written (to ``docs/screenshots/`` for the README when ``CWOX_SCREENSHOTS=1``, else to a temporary
folder, so that a test run leaves the checkout as it was)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from studies.flow import CONFIDENCE_LEVELS
from studies.models import HeatmapSet, Participant, Trial
from studies.models.participants import other_side
from tests.browser.realistic_stimuli import METHODS, make_chelsea_study
from tests.server.factories import make_study

pytestmark = pytest.mark.browser

README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CLUSTER_ONLY = (("CWOX-2s", "cwox-2s"),)
IMAGES_LOADED = "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*"')


# --- helpers ----------------------------------------------------------------------------------


def click_and_wait(page: Page, target: Locator) -> None:
    """Click ``target`` and wait for the page it leads to (every form posts and redirects)."""
    with page.expect_navigation():
        target.click()


def press_and_wait(page: Page, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name)


def start_trials(page: Page, link: str) -> Participant:
    """Consent through ``link``, read the instructions, start; the participant is returned."""
    page.goto(link)
    expect(page.get_by_role("heading", name="Consent")).to_be_visible()
    click_and_wait(page, button(page, "I agree to take part"))
    expect(page.get_by_role("heading", name="Instructions")).to_be_visible()
    click_and_wait(page, button(page, "Start"))
    token = re.fullmatch(r".*/p/([^/]+)/", page.url).group(1)
    return Participant.objects.select_related("condition", "group").get(token=token)


def shown_trial(page: Page) -> Trial:
    """The trial of the page's form, by its hidden trial id."""
    trial_id = page.locator('#answer-form input[name="trial"]').get_attribute("value")
    return Trial.objects.select_related("item", "condition").get(pk=int(trial_id))


def class_names(trial: Trial) -> dict[str, str]:
    return {"a": trial.item.class_a_name, "b": trial.item.class_b_name}


def choice(page: Page, legend: str, text: str) -> Locator:
    """The label (of a radio button) reading exactly ``text`` in the group ``legend``."""
    exact = re.compile(rf"^\s*{re.escape(text)}\s*$")
    return page.get_by_role("group", name=legend).locator("label.choice").filter(has_text=exact)


def confidence_text(level: int) -> str:
    return f"{level} – {CONFIDENCE_LEVELS[level]}"


def answer(page: Page, trial: Trial, *, correct: bool, confidence: int) -> None:
    """Match the labels to the heatmaps (rightly or wrongly) and rate confidence, by clicking
    the labels, then submit."""
    names = class_names(trial)
    left = trial.heatmap_left if correct else other_side(trial.heatmap_left)
    choice(page, "Heatmap 1 shows", names[left]).click()
    choice(page, "Heatmap 2 shows", names[other_side(left)]).click()
    choice(page, "How sure are you?", confidence_text(confidence)).click()
    click_and_wait(page, button(page, "Submit"))


def checked(page: Page, name: str) -> str | None:
    return page.evaluate(
        "name => document.querySelector(`input[name='${name}']:checked`)?.value ?? null", name
    )


def scroll_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def answered_count(participant: Participant) -> int:
    return participant.trials.filter(answered_at__isnull=False).count()


# --- the tests --------------------------------------------------------------------------------


def test_participant_completes_consent_training_and_test_block(new_page, tmp_path):
    study = make_study(tmp_path)  # 2 training trials, 4 test trials + 1 attention check
    page = new_page()
    participant = start_trials(page, f"/s/{study.slug}/expert/")
    assert participant.group.slug == "expert"
    intended: dict[int, tuple[bool, int]] = {}

    for number in (1, 2):
        expect(page.locator(".progress")).to_have_text(f"Practice {number} of 2")
        trial = shown_trial(page)
        assert (trial.participant_id, trial.block) == (participant.pk, Trial.Block.TRAINING)
        correct, confidence = number == 1, number + 2
        answer(page, trial, correct=correct, confidence=confidence)
        intended[trial.pk] = (correct, confidence)
        names = class_names(trial)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Correct" if correct else "Not quite"
        )
        feedback = page.locator(".feedback")
        expect(feedback).to_contain_text(
            f"Heatmap 1 explains {names[trial.heatmap_left]}; "
            f"heatmap 2 explains {names[trial.heatmap_right]}."
        )
        expect(feedback.locator("figcaption").filter(has_text="Heatmap 1")).to_have_text(
            f"Heatmap 1: {names[trial.heatmap_left]}"
        )
        if not correct:
            expect(feedback).to_contain_text(
                f"You matched heatmap 1 with {names[trial.heatmap_right]} "
                f"and heatmap 2 with {names[trial.heatmap_left]}."
            )
        click_and_wait(page, button(page, "Continue"))

    for number in range(1, 6):
        expect(page.locator(".progress")).to_have_text(f"Question {number} of 5")
        trial = shown_trial(page)
        assert trial.block == Trial.Block.TEST and not trial.answered
        correct, confidence = number % 2 == 1, number
        answer(page, trial, correct=correct, confidence=confidence)
        intended[trial.pk] = (correct, confidence)

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    expect(page.locator(".code")).to_have_text("C0DE42")

    participant.refresh_from_db()
    assert participant.state == Participant.State.COMPLETED
    assert participant.stage == Participant.Stage.DEBRIEF
    assert participant.completed_at is not None
    trials = list(participant.trials.all())
    assert len(trials) == 7 and {t.pk for t in trials} == set(intended)
    assert sum(t.is_attention_check for t in trials) == 1
    for trial in trials:
        assert trial.answered
        assert (trial.correct, trial.confidence) == intended[trial.pk]
        # Measured by trial.js from display to submit: positive and within the server's view.
        server_ms = (trial.answered_at - trial.shown_at) / timedelta(milliseconds=1)
        assert 0 < trial.client_response_ms <= server_ms + 50
    assert all(t.feedback_seen_at for t in trials if t.block == Trial.Block.TRAINING)


def test_reload_resumes_and_back_neither_loses_nor_duplicates_an_answer(new_page, tmp_path):
    study = make_study(tmp_path, training_trials=0, attention_check_positions=())
    page = new_page()
    participant = start_trials(page, f"/s/{study.slug}/non-expert/")
    first = shown_trial(page)
    answer(page, first, correct=True, confidence=4)

    expect(page.locator(".progress")).to_have_text("Question 2 of 4")
    second = shown_trial(page)
    shown_at = Trial.objects.get(pk=second.pk).shown_at
    choice(page, "Heatmap 1 shows", class_names(second)["a"]).click()
    page.reload()
    expect(page.locator(".progress")).to_have_text("Question 2 of 4")
    assert shown_trial(page).pk == second.pk
    assert Trial.objects.get(pk=second.pk).shown_at == shown_at
    assert answered_count(participant) == 1
    old_page = page.content()

    answer(page, second, correct=False, confidence=2)
    expect(page.locator(".progress")).to_have_text("Question 3 of 4")
    third = shown_trial(page)
    stored = Trial.objects.get(pk=second.pk)
    assert (stored.correct, stored.confidence) == (False, 2)
    assert answered_count(participant) == 2

    # Back: every page is served at the participant's one URL, so Chromium shows the current
    # trial again (its latest copy of that URL), not the answered one; nothing is sent.
    page.go_back()
    expect(page.locator(".progress")).to_have_text("Question 3 of 4")
    assert shown_trial(page).pk == third.pk
    page.go_back()
    expect(page.locator(".progress")).to_have_text("Question 3 of 4")
    assert answered_count(participant) == 2

    # A browser that restores the old page itself (a back-forward cache) lets its form be sent
    # again, with another answer: the stored answer stays and the participant continues at
    # the current trial.
    token_page = f"**/p/{participant.token}/"
    page.route(token_page, lambda route: route.fulfill(body=old_page, content_type="text/html"))
    page.goto(f"/p/{participant.token}/")
    page.unroute(token_page)
    expect(page.locator(".progress")).to_have_text("Question 2 of 4")
    assert shown_trial(page).pk == second.pk
    answer(page, second, correct=True, confidence=5)
    expect(page.locator(".progress")).to_have_text("Question 3 of 4")
    assert shown_trial(page).pk == third.pk
    assert answered_count(participant) == 2
    again = Trial.objects.get(pk=second.pk)
    assert (again.answer_left, again.answer_right, again.correct, again.confidence) == (
        stored.answer_left,
        stored.answer_right,
        False,
        2,
    )
    assert (again.answered_at, again.client_response_ms) == (
        stored.answered_at,
        stored.client_response_ms,
    )

    # Forward, reload: still the current trial, which can be answered as usual.
    page.go_forward()
    page.reload()
    expect(page.locator(".progress")).to_have_text("Question 3 of 4")
    answer(page, third, correct=True, confidence=3)
    expect(page.locator(".progress")).to_have_text("Question 4 of 4")
    assert answered_count(participant) == 3
    assert participant.trials.count() == 4


def _normalized(html: str) -> str:
    """The page without its CSRF token (masked afresh on every render)."""
    return CSRF_VALUE.sub(r'\1"', html)


def test_test_trial_page_holds_no_correct_answer(new_page, tmp_path):
    study = make_study(
        tmp_path, training_trials=0, attention_check_positions=(), conditions=CLUSTER_ONLY
    )
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    participant = start_trials(page, f"/s/{study.slug}/expert/")
    trial = shown_trial(page)
    names = class_names(trial)
    maps = HeatmapSet.objects.get(item=trial.item, method="cwox-2s")
    base = f"/p/{participant.token}/t/{trial.pk}"
    expected_sources = [f"{base}/{name}.png" for name in ("image", "cluster", "left", "right")]

    pages = {}
    for left, first in (("a", "a"), ("b", "a"), ("b", "b"), ("a", "b")):
        Trial.objects.filter(pk=trial.pk).update(heatmap_left=left, label_first=first)
        page.reload()
        page.wait_for_function(IMAGES_LOADED)
        html = page.content()
        sources = page.locator(".pictures img").evaluate_all(
            "images => images.map(i => new URL(i.src).pathname)"
        )
        assert sources == expected_sources
        # The drawn side changes what the left picture shows, and nothing else.
        left_picture = page.request.get(f"{base}/left.png").body()
        with maps.map_of(left).open("rb") as stored:
            assert left_picture == stored.read()
        labels = [names[first], names[other_side(first)]]
        for legend in ("Heatmap 1 shows", "Heatmap 2 shows"):
            texts = page.get_by_role("group", name=legend).locator("label").all_inner_texts()
            assert [text.strip() for text in texts] == labels
        pages[left, first] = _normalized(html)

    # Same label order: the pages are identical whichever heatmap is on the left.
    assert pages["a", "a"] == pages["b", "a"]
    assert pages["a", "b"] == pages["b", "b"]
    # Other label order: identical once the two labels are swapped back.
    a, b = names["a"], names["b"]
    swapped = pages["a", "b"].replace(a, "\0").replace(b, a).replace("\0", b)
    assert swapped == pages["a", "a"]

    # Every test trial of the block, as drawn: no stimulus path, method or answer in the page
    # source or in anything the page loaded, and the same page apart from the trial id, the
    # labels (in their drawn order) and the question number.
    secrets = ("/media/", "stimuli/", "swox", "cwox", "-a.png", "-b.png", "heatmap_left")
    skeletons = set()
    for number in range(1, 5):
        expect(page.locator(".progress")).to_have_text(f"Question {number} of 4")
        html = page.content()
        for secret in (*secrets, "correct"):
            assert secret not in html.lower(), secret
        shown = shown_trial(page)
        names = class_names(shown)
        skeleton = (
            _normalized(html)
            .replace(f"/t/{shown.pk}/", "/t/ID/")
            .replace(f'name="trial" value="{shown.pk}"', 'name="trial" value="ID"')
            .replace(f"Question {number} of 4", "Question N of 4")
            .replace(names[shown.label_first], "FIRST LABEL")
            .replace(names[shown.label_second], "SECOND LABEL")
        )
        skeletons.add(skeleton)
        answer(page, shown, correct=number % 2 == 0, confidence=3)
    assert len(skeletons) == 1
    assert not [url for url in requests if any(secret in url.lower() for secret in secrets)]
    assert any(url.endswith("/left.png") for url in requests)


def test_a_trial_can_be_done_with_the_keyboard_alone(new_page, tmp_path):
    study = make_study(tmp_path, training_trials=1, test_trials=1, attention_check_positions=())
    page = new_page()
    page.goto(f"/s/{study.slug}/expert/")

    def tab_to(condition: str, limit: int = 25) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(el => {condition})(document.activeElement)"):
                # Keyboard focus is visible (site.css draws an outline for :focus-visible).
                assert page.evaluate(
                    "getComputedStyle(document.activeElement).outlineStyle !== 'none'"
                    " && document.activeElement.matches(':focus-visible')"
                )
                return
        raise AssertionError(f"Tab never reached an element with {condition}")

    tab_to("el.value === 'agree'")
    press_and_wait(page, "Enter")
    expect(page.get_by_role("heading", name="Instructions")).to_be_visible()
    tab_to("el.textContent.trim() === 'Start'")
    press_and_wait(page, "Enter")
    expect(page.locator(".progress")).to_have_text("Practice 1 of 1")
    trial = shown_trial(page)
    names = class_names(trial)
    first, second = names[trial.label_first], names[trial.label_second]
    # Each radio button is named by its label, each group by its legend.
    for legend in ("Heatmap 1 shows", "Heatmap 2 shows"):
        group = page.get_by_role("group", name=legend)
        expect(group.get_by_role("radio", name=first, exact=True)).to_have_count(1)
        expect(group.get_by_role("radio", name=second, exact=True)).to_have_count(1)

    tab_to("el.name === 'left'")
    assert page.evaluate("document.activeElement.value") == "1"
    page.keyboard.press("Space")
    assert (checked(page, "left"), checked(page, "right")) == ("1", "2")
    page.keyboard.press("ArrowDown")  # moves to and selects the second label
    assert (checked(page, "left"), checked(page, "right")) == ("2", "1")
    page.keyboard.press("Tab")
    assert page.evaluate("[document.activeElement.name, document.activeElement.value]") == [
        "right",
        "1",
    ]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "confidence"
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert checked(page, "confidence") == "4"
    tab_to("el.textContent.trim() === 'Submit'", limit=2)
    press_and_wait(page, "Enter")

    stored = Trial.objects.get(pk=trial.pk)
    assert (stored.answer_left, stored.answer_right) == (trial.label_second, trial.label_first)
    assert stored.confidence == 4 and stored.client_response_ms > 0
    expect(page.locator(".feedback")).to_contain_text(
        f"Heatmap 1 explains {names[trial.heatmap_left]}"
    )
    # The feedback's Continue button has the focus: Enter goes on.
    assert page.evaluate("document.activeElement.textContent.trim()") == "Continue"
    press_and_wait(page, "Enter")
    expect(page.locator(".progress")).to_have_text("Question 1 of 1")


def test_trial_page_fits_a_phone(new_page, tmp_path):
    study = make_study(
        tmp_path, training_trials=0, attention_check_positions=(), conditions=CLUSTER_ONLY
    )
    width = 390
    page = new_page(
        viewport={"width": width, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    start_trials(page, f"/s/{study.slug}/non-expert/")
    expect(page.locator(".progress")).to_have_text("Question 1 of 4")
    page.wait_for_function(IMAGES_LOADED)
    assert page.evaluate("window.innerWidth") == width
    assert scroll_width(page) <= width

    pictures = page.locator(".pictures img")
    expect(pictures).to_have_count(4)
    targets = [pictures.nth(index) for index in range(4)]
    targets += [*page.locator("label.choice").all(), button(page, "Submit")]
    for target in targets:
        target.scroll_into_view_if_needed()
        expect(target).to_be_in_viewport(ratio=1)
        box = target.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    for index in range(4):
        assert pictures.nth(index).bounding_box()["width"] >= 150
    font_size = page.locator("label.choice").first.evaluate("el => getComputedStyle(el).fontSize")
    assert float(font_size.removesuffix("px")) >= 16
    assert page.evaluate("window.scrollX") == 0

    # Answering by touch works too.
    trial = shown_trial(page)
    names = class_names(trial)
    choice(page, "Heatmap 1 shows", names[trial.heatmap_left]).tap()
    assert checked(page, "right") is not None
    choice(page, "How sure are you?", confidence_text(5)).tap()
    with page.expect_navigation():
        button(page, "Submit").tap()
    expect(page.locator(".progress")).to_have_text("Question 2 of 4")
    assert Trial.objects.get(pk=trial.pk).correct is True


def test_screenshots_of_each_condition(new_page, tmp_path):
    study = make_chelsea_study(tmp_path)
    folder = README_SCREENSHOTS if os.environ.get("CWOX_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for _ in METHODS:
        page = new_page(viewport={"width": 1280, "height": 900})
        participant = start_trials(page, f"/s/{study.slug}/everyone/")
        method = participant.condition.method
        expect(page.locator(".progress")).to_have_text("Question 1 of 1")
        page.wait_for_function(IMAGES_LOADED)
        # Readable on a laptop: no horizontal scrolling, the pictures side by side and large.
        assert scroll_width(page) <= 1280
        boxes = [img.bounding_box() for img in page.locator(".pictures img").all()]
        assert len(boxes) == (4 if method == "cwox-2s" else 3)
        assert len({round(box["y"]) for box in boxes}) == 1
        assert min(box["width"] for box in boxes) >= 200
        path = folder / f"trial-{method}.png"
        page.screenshot(path=path, full_page=True)
        written[method] = path
    assert sorted(written) == sorted(METHODS)
    for path in written.values():
        with Image.open(path) as shot:
            assert shot.format == "PNG" and shot.width == 1280 and shot.height >= 900
