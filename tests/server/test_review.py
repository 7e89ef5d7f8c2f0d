"""The stimulus review page: every item × condition with its pictures, measures and flags; the
keep/drop decision per item, frozen with the study; dropped items never reach a participant;
opening with flagged items nobody reviewed needs a confirmation."""

from __future__ import annotations

import html
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from studies.models import HeatmapSet, Participant, StimulusItem, StimulusManifest, Study
from studies.randomization import Pools, assign
from studies.stimulus_sheet import ROWS_PER_PAGE
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db


def review_url(study: Study, **query: str) -> str:
    url = reverse("admin:studies_study_review", args=[study.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def decide(client, study: Study, item: StimulusItem, decision: str, **extra):
    url = reverse("admin:studies_study_review_decision", args=[study.pk, item.pk])
    return client.post(url, {"decision": decision, **extra})


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def sections(text: str) -> list[str]:
    return re.findall(r'<section class="review-item[^"]*" id="item-(\d+)"', text)


def flag(item: StimulusItem, method: str) -> None:
    """Give ``method``'s map of class a a visible area of 1.2 % (below the 2 % default)."""
    maps = item.heatmap_sets.get(method=method)
    maps.quality = {
        "a": {"visible_area": 0.012, "n_delta": 140, "concentration": 0.4},
        "b": {"visible_area": 0.2},
        "pair": {"spearman": 0.97, "ssim": 0.5},
    }
    maps.save()


LOW_A = "class a map shows 1.2% of the picture (flagged below 2%)"


def test_every_item_and_condition_is_shown_with_its_pictures(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    text = page(admin_client, review_url(study))
    items = list(study.items.all())
    assert sorted(sections(text)) == sorted(str(i.pk) for i in items)
    conditions = list(study.conditions.all())
    assert text.count('class="review-cell"') == len(items) * len(conditions)
    for maps in HeatmapSet.objects.filter(item__study=study):
        files = [maps.map_a, maps.map_b] + ([maps.cluster_map] if maps.cluster_map else [])
        for file in files:
            assert reverse("studies:staff-media", args=[file.name]) in text
    for item in items:
        assert reverse("studies:staff-media", args=[item.image.name]) in text
        assert item.class_a_name in text and item.class_b_name in text


def test_measures_and_flags_are_shown_and_filter(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    flagged = study.items.filter(role="test").first()
    flag(flagged, "cwox-2s")
    text = page(admin_client, review_url(study))
    assert LOW_A in text
    assert "1.2%" in text and "0.97" in text and "140" in text
    only = page(admin_client, review_url(study, flagged="1"))
    assert sections(only) == [str(flagged.pk)]
    # The flag belongs to the CWOX-2s condition: filtering on SWOX hides it.
    swox = page(admin_client, review_url(study, flagged="1", method="swox"))
    assert sections(swox) == []
    one_condition = page(admin_client, review_url(study, method="swox"))
    assert one_condition.count('class="review-cell"') == study.items.count()


def test_flags_follow_the_studys_thresholds(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    item = study.items.filter(role="test").first()
    flag(item, "swox")
    Study.objects.filter(pk=study.pk).update(flag_visible_area_below=0.01)
    assert sections(page(admin_client, review_url(study, flagged="1"))) == []
    Study.objects.filter(pk=study.pk).update(flag_pair_similarity_above=0.95)
    text = page(admin_client, review_url(study, flagged="1"))
    assert sections(text) == [str(item.pk)]
    assert "class maps a and b look alike (rank correlation 0.970, SSIM 0.500" in text


def test_dropped_item_reaches_no_participant(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    dropped = study.items.filter(role="test").first()
    response = decide(admin_client, study, dropped, "drop", query="flagged=1&evil=<x>")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?flagged=1#item-{dropped.pk}")
    dropped.refresh_from_db()
    assert dropped.review == "drop" and dropped.reviewed_at is not None
    assert dropped not in Pools.of(study).test
    assert (
        admin_client.post(
            reverse("admin:studies_study_status", args=[study.pk, "open"])
        ).status_code
        == 302
    )
    study.refresh_from_db()
    assert study.is_open
    frozen = {i["key"]: i["review"] for i in study.frozen_manifest["items"]}
    assert frozen[dropped.key] == "drop"
    group = study.groups.first()
    shown = set()
    for _ in range(12):
        participant = assign(Participant.objects.create(study=study), group)
        shown |= set(participant.trials.values_list("item_id", flat=True))
    assert dropped.pk not in shown
    assert len(shown) == study.items.count() - 1  # every other item was drawn at least once


def test_decisions_are_frozen_once_the_study_opens(admin_client, tmp_path):
    study = make_study(tmp_path)
    item = study.items.first()
    response = decide(admin_client, study, item, "drop")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.review == "undecided"
    assert "Keep</button>" not in page(admin_client, review_url(study))


def test_a_tampered_decision_changes_nothing(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    item = study.items.first()
    assert decide(admin_client, study, item, "delete-everything").status_code == 302
    item.refresh_from_db()
    assert item.review == "undecided"
    other = make_study(tmp_path, slug="other", opened=False)
    foreign = other.items.first()
    assert decide(admin_client, study, foreign, "drop").status_code == 404
    assert (
        admin_client.get(
            reverse("admin:studies_study_review_decision", args=[study.pk, item.pk])
        ).status_code
        == 405
    )


def test_opening_with_unreviewed_flags_needs_a_confirmation(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    flagged = study.items.filter(role="test").first()
    flag(flagged, "swox")
    status = reverse("admin:studies_study_status", args=[study.pk, "open"])
    response = admin_client.post(status)
    assert response["Location"] == review_url(study, flagged="1")
    study.refresh_from_db()
    assert study.is_draft
    text = page(admin_client, review_url(study, flagged="1"))
    assert "items with quality flags that nobody has reviewed" in text
    assert "Open the study with 1 flagged item not reviewed" in text
    # Deciding on the flagged item lets the study open without a confirmation ...
    decide(admin_client, study, flagged, "keep")
    assert admin_client.post(status).status_code == 302
    study.refresh_from_db()
    assert study.is_open


def test_the_confirmation_opens_with_flagged_items(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    flag(study.items.filter(role="test").first(), "swox")
    status = reverse("admin:studies_study_status", args=[study.pk, "open"])
    admin_client.post(status, {"confirm": "flagged"})
    study.refresh_from_db()
    assert study.is_open


def test_bulk_open_action_also_holds_back_flagged_studies(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    flag(study.items.filter(role="test").first(), "swox")
    data = {"action": "open_studies", "_selected_action": [study.pk]}
    text = html.unescape(
        admin_client.post(
            reverse("admin:studies_study_changelist"), data, follow=True
        ).content.decode()
    )
    study.refresh_from_db()
    assert study.is_draft
    assert "nobody has reviewed" in text


def test_images_without_an_item_are_listed_with_their_reason(admin_client, tmp_path):
    study = make_study(tmp_path, opened=False)
    StimulusManifest.objects.filter(study=study).update(
        rejected=[
            {"id": "camera-crop2", "stage": "pairs", "reason": "top-2 in different clusters"},
            {"id": "rocket-tl60", "stage": "import", "reason": "swox map b is blank"},
        ]
    )
    text = page(admin_client, review_url(study))
    assert "camera-crop2" in text and "top-2 in different clusters" in text
    assert "rocket-tl60" in text and "swox map b is blank" in text


def test_stimulus_sheet_writes_every_item_as_pdf_and_png_pages(tmp_path):
    study = make_study(tmp_path, opened=False)
    pdf = tmp_path / "out" / "sheet.pdf"
    call_command("stimulus_sheet", study.slug, "--out", str(pdf), stdout=io.StringIO())
    assert pdf.read_bytes().startswith(b"%PDF")
    expected_pages = -(-study.items.count() // ROWS_PER_PAGE)
    out = io.StringIO()
    call_command("stimulus_sheet", study.slug, "--out", str(tmp_path / "png" / "s.png"), stdout=out)
    pngs = sorted((tmp_path / "png").glob("s-*.png"))
    assert len(pngs) == expected_pages
    assert f"{study.items.count()} items on {expected_pages} file(s)" in out.getvalue()
    with Image.open(pngs[0]) as first:
        assert first.width > 1000


def test_stimulus_sheet_refuses_unknown_study_and_method(tmp_path):
    study = make_study(tmp_path, opened=False)
    out = ("--out", str(tmp_path / "s.pdf"))
    with pytest.raises(CommandError, match="no study"):
        call_command("stimulus_sheet", "nope", *out)
    with pytest.raises(CommandError, match="the study's methods are"):
        call_command("stimulus_sheet", study.slug, *out, "--method", "x")
    with pytest.raises(CommandError, match="no items"):
        call_command("stimulus_sheet", study.slug, *out, "--flagged")
