"""The researcher admin through real requests: every page renders, status changes go through
the lifecycle, frozen parts refuse changes, stimuli import, links, invites and progress."""

from __future__ import annotations

import html
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studies.models import (
    Condition,
    ExternalIdentity,
    HeatmapSet,
    Invite,
    Job,
    Participant,
    StimulusItem,
    StimulusManifest,
    Study,
    Trial,
)
from tests.server.factories import make_study, write_manifest

pytestmark = pytest.mark.django_db

STUDY_FORM = (
    "title",
    "slug",
    "consent_text",
    "group_question",
    "instructions",
    "debrief_text",
    "completion_code",
    "redirect_url",
    "training_trials",
    "test_trials",
    "abandonment_timeout_minutes",
    "seed",
    "flag_visible_area_below",
    "flag_pair_similarity_above",
)
NEW_STUDY = {
    "title": "New study",
    "slug": "new-study",
    "consent_text": "Agree?",
    "group_question": "Which?",
    "instructions": "Match.",
    "debrief_text": "Thanks.",
    "completion_code": "",
    "redirect_url": "",
    "training_trials": 1,
    "test_trials": 2,
    "attention_check_positions": "[]",
    "abandonment_timeout_minutes": 60,
    "seed": 1,
    "flag_visible_area_below": 0.02,
    "flag_pair_similarity_above": 0.99,
}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The ``admin_client`` fixture's user is created per test: hash its password cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(name: str, *args) -> str:
    return reverse(f"admin:studies_{name}", args=args)


def text(response) -> str:
    return html.unescape(response.content.decode())


def simulate(study: Study, n: int, group: str) -> None:
    """``n`` bots complete ``study`` through ``group``'s link (distinct external ids)."""
    seed = study.participants.count()
    call_command(
        "simulate_participants", study.slug, n=n, group=group, seed=seed, stdout=io.StringIO()
    )


def inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    """POST data of an inline formset: management form and ``rows``."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{field}": value for field, value in row.items()})
    return data


def study_post(study: Study | None = None, **changes) -> dict:
    """The study change form's POST data: ``study``'s values (or a new study's), ``changes``."""
    if study is None:
        values = dict(NEW_STUDY)
    else:
        values = {field: getattr(study, field) for field in STUDY_FORM}
        values["attention_check_positions"] = json.dumps(study.attention_check_positions)
    empty = {"max_failed_attention_checks": "", "min_response_ms": ""}
    return {**values, **empty, **inline("instruction_images", []), **changes}


def existing_rows(prefix: str, objects, fk: str = "study") -> dict:
    """What a read-only inline posts: the management form and each row's id and parent."""
    rows = [{"id": obj.pk, fk: getattr(obj, f"{fk}_id")} for obj in objects]
    return inline(prefix, rows, initial=len(rows))


def zip_folder(folder: Path) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"stimuli/{path.relative_to(folder).as_posix()}")
    return SimpleUploadedFile("stimuli.zip", buffer.getvalue(), "application/zip")


def bare_draft(slug: str = "draft", **fields) -> Study:
    return Study.objects.create(
        title=f"Draft {slug}",
        slug=slug,
        consent_text="c",
        instructions="i",
        debrief_text="d",
        **fields,
    )


def test_every_registered_page_renders(admin_client, tmp_path):
    study = make_study(tmp_path)
    simulate(study, 1, "expert")
    Invite.objects.create(study=study)
    Job.objects.create(
        kind="build-tree",
        study=study,
        parameters={"arguments": ["docs.jsonl", "--out", "{work}/tree.json"]},
    )
    registered = [model for model in admin.site._registry if model._meta.app_label == "studies"]
    assert {m.__name__ for m in registered} >= {
        "Study",
        "StimulusItem",
        "StimulusManifest",
        "Participant",
        "ExternalIdentity",
        "Invite",
    }
    for model in registered:
        name = model._meta.model_name
        assert admin_client.get(url(f"{name}_changelist")).status_code == 200, name
        obj = model.objects.first()
        assert admin_client.get(url(f"{name}_change", obj.pk)).status_code == 200, name
    for page in ("progress", "links", "import"):
        assert admin_client.get(url(f"study_{page}", study.pk)).status_code == 200, page
    assert admin_client.get(url("study_add")).status_code == 200
    assert admin_client.get(url("stimulusitem_add")).status_code == 200


def test_new_study_is_prefilled_with_the_papers_design(admin_client):
    page = text(admin_client.get(url("study_add")))
    for value in ("SWOX", "cwox-1sb", "CWOX-2s", "non-expert"):
        assert f'value="{value}"' in page
    conditions = [
        {"name": name, "method": method, "position": position}
        for position, (name, method) in enumerate(
            (("SWOX", "swox"), ("CWOX-1sB", "cwox-1sb"), ("CWOX-2s", "cwox-2s"))
        )
    ]
    groups = [
        {"name": name, "slug": name, "question_label": "", "position": position}
        for position, name in enumerate(("expert", "non-expert"))
    ]
    data = {**study_post(), **inline("conditions", conditions), **inline("groups", groups)}
    assert admin_client.post(url("study_add"), data).status_code == 302
    study = Study.objects.get(slug="new-study")
    assert [c.method for c in study.conditions.all()] == ["swox", "cwox-1sb", "cwox-2s"]
    assert [g.slug for g in study.groups.all()] == ["expert", "non-expert"]
    assert study.is_draft

    removed = {**study_post(slug="fewer"), **inline("conditions", conditions[::2])}
    removed.update(inline("groups", [groups[0], {"name": "", "slug": "", "position": 1}]))
    assert admin_client.post(url("study_add"), removed).status_code == 302
    fewer = Study.objects.get(slug="fewer")
    assert [c.name for c in fewer.conditions.all()] == ["SWOX", "CWOX-2s"]
    assert [g.name for g in fewer.groups.all()] == ["expert"]


def test_open_action_opens_a_complete_draft_and_lists_what_is_missing(admin_client, tmp_path):
    ready = make_study(tmp_path, slug="ready", opened=False)
    empty = bare_draft("empty")
    data = {"action": "open_studies", "_selected_action": [ready.pk, empty.pk]}
    page = text(admin_client.post(url("study_changelist"), data, follow=True))
    ready.refresh_from_db()
    empty.refresh_from_db()
    assert ready.is_open and ready.frozen_manifest
    assert empty.is_draft
    assert "“Draft empty” cannot open yet: add at least one condition" in page
    assert "add at least one participant group" in page
    assert "3 training trials per participant but only 0 training items" in page
    assert "“Study ready” is open." in page


def test_status_buttons_close_and_refuse_draft_with_participants(admin_client, tmp_path):
    study = make_study(tmp_path)
    page = text(admin_client.get(url("study_change", study.pk)))
    assert url("study_status", study.pk, "close") in page
    assert url("study_status", study.pk, "open") not in page
    admin_client.post(url("study_status", study.pk, "close"))
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
    assert admin_client.get(url("study_status", study.pk, "open")).status_code == 405

    simulate_target = make_study(tmp_path, slug="taken")
    simulate(simulate_target, 1, "expert")
    response = admin_client.post(url("study_status", simulate_target.pk, "draft"), follow=True)
    assert "has participants: its stimuli stay frozen" in text(response)
    simulate_target.refresh_from_db()
    assert simulate_target.is_open


def test_frozen_item_is_read_only_and_refuses_crafted_posts(admin_client, tmp_path):
    study = make_study(tmp_path)
    item = study.items.first()
    maps = item.heatmap_sets.get(method="swox")
    page = text(admin_client.get(url("stimulusitem_change", item.pk)))
    assert "its stimulus items are frozen" in page
    assert 'name="class_a_name"' not in page
    assert 'name="heatmap_sets-0-method"' not in page

    crafted = {
        "study": study.pk,
        "key": item.key,
        "role": item.role,
        "class_a_name": "changed",
        "class_b_name": "changed",
        "details": "{}",
        **inline("heatmap_sets", [{"id": maps.pk, "item": item.pk, "method": "changed"}], 1),
    }
    response = admin_client.post(url("stimulusitem_change", item.pk), crafted, follow=True)
    assert response.status_code == 200
    assert "its stimulus items are frozen" in text(response)
    response = admin_client.post(url("stimulusitem_delete", item.pk), {"post": "yes"}, follow=True)
    assert "its stimulus items are frozen" in text(response)
    bulk = {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"}
    response = admin_client.post(url("stimulusitem_changelist"), bulk)
    assert "Cannot delete" in text(response)

    item.refresh_from_db()
    assert item.class_a_name.startswith("Egyptian cat")
    assert HeatmapSet.objects.get(pk=maps.pk).method == "swox"
    assert StimulusItem.objects.filter(pk=item.pk).exists()


def test_frozen_study_page_refuses_condition_changes(admin_client, tmp_path):
    study = make_study(tmp_path)
    conditions, groups = list(study.conditions.all()), list(study.groups.all())
    page = text(admin_client.get(url("study_change", study.pk)))
    assert "its conditions, participant groups and stimulus items are frozen" in page
    assert 'name="conditions-0-name"' not in page

    untouched = {
        **study_post(study),
        **existing_rows("conditions", conditions),
        **existing_rows("groups", groups),
    }
    added = {**untouched, "conditions-TOTAL_FORMS": "4", "conditions-3-name": "extra"}
    added.update({"conditions-3-method": "random", "conditions-3-position": "3"})
    renamed = {**untouched, "groups-0-name": "renamed"}
    deleted = {**untouched, "conditions-0-DELETE": "on"}
    for crafted in (added, renamed, deleted):
        response = admin_client.post(url("study_change", study.pk), crafted, follow=True)
        assert response.status_code == 200
        assert "its conditions, participant groups and stimulus items are frozen" in text(response)
    assert list(study.conditions.all()) == conditions
    assert [g.name for g in study.groups.all()] == ["expert", "non-expert"]

    texts = {**untouched, "debrief_text": "Thank you very much."}
    assert admin_client.post(url("study_change", study.pk), texts).status_code == 302
    study.refresh_from_db()
    assert study.debrief_text == "Thank you very much."


def test_import_page_imports_a_zip_and_refuses_a_tampered_one(admin_client, tmp_path):
    study = bare_draft()
    folder = write_manifest(tmp_path / "manifest")
    png = folder / "heatmaps" / "item-04" / "cwox-2s-b.png"
    good = zip_folder(folder)
    original = png.read_bytes()
    png.write_bytes(original[:40] + bytes([original[40] ^ 1]) + original[41:])
    tampered = zip_folder(folder)

    response = admin_client.post(
        url("study_import", study.pk), {"archive": tampered, "training": 0}
    )
    assert response.status_code == 200
    assert "item item-04: heatmaps/item-04/cwox-2s-b.png does not match its SHA-256" in text(
        response
    )
    assert not StimulusItem.objects.exists() and not StimulusManifest.objects.exists()

    response = admin_client.post(url("study_import", study.pk), {"archive": good, "training": 0})
    assert response.status_code == 302
    assert study.items.count() == 11
    assert study.items.filter(role="attention").count() == 2
    manifest = StimulusManifest.objects.get(study=study)
    page = text(admin_client.get(url("stimulusmanifest_change", manifest.pk)))
    assert "efficientnet-lite0" in page and manifest.document["files"]["images/item-00.png"] in page
    assert 'name="sha256"' not in page


def test_import_page_refuses_an_open_study(admin_client, tmp_path):
    study = make_study(tmp_path)
    upload = zip_folder(write_manifest(tmp_path / "more", training=1, test=1, attention=0))
    response = admin_client.post(url("study_import", study.pk), {"archive": upload, "training": 0})
    assert "its stimulus items are frozen" in text(response)
    assert study.manifests.count() == 1


def test_thumbnails_use_the_staff_media_view_which_is_guarded(admin_client, tmp_path):
    study = make_study(tmp_path)
    item = study.items.first()
    image_url = reverse("studies:staff-media", args=[item.image.name])
    assert image_url in text(admin_client.get(url("stimulusitem_changelist")))
    page = text(admin_client.get(url("stimulusitem_change", item.pk)))
    cluster = item.heatmap_sets.get(method="cwox-2s").cluster_map
    assert reverse("studies:staff-media", args=[cluster.name]) in page
    response = admin_client.get(image_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"

    anonymous = Client().get(image_url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    (tmp_path / "secret.txt").write_text("secret")
    root = reverse("studies:staff-media", args=["x"])[:-1]
    for attempt in ("../secret.txt", "%2e%2e/secret.txt", "stimuli/../../secret.txt"):
        assert admin_client.get(root + attempt).status_code == 404, attempt


def test_progress_json_counts_groups_conditions_and_abandoned(admin_client, tmp_path):
    study = make_study(tmp_path)
    simulate(study, 3, "expert")
    simulate(study, 2, "non-expert")
    visitor = Client()
    visitor.post(reverse("studies:group-link", args=[study.slug, "expert"]), {"decision": "agree"})
    late = Participant.objects.get(state=Participant.State.ACTIVE)
    Participant.objects.filter(pk=late.pk).update(
        last_seen_at=timezone.now() - study.abandonment_timeout - timedelta(minutes=1)
    )
    link = reverse("studies:study-link", args=[study.slug])
    Client().post(link, {"decision": "agree"})
    Client().post(link, {"decision": "decline"})

    data = admin_client.get(url("study_progress_json", study.pk)).json()
    rows = {(row["group"], row["condition"]): row for row in data["rows"]}
    counts = ("started", "in_progress", "completed", "abandoned")

    def of(group: str, condition: str) -> tuple[int, ...]:
        return tuple(rows[group, condition][field] for field in counts)

    assert of("expert", "all") == (4, 0, 3, 1)
    assert of("non-expert", "all") == (2, 0, 2, 0)
    assert of("all", "all") == (6, 0, 5, 1)
    assert of("expert", late.condition.name) == (2, 0, 1, 1)
    assert sorted(of("expert", c.name)[2] for c in study.conditions.all()) == [1, 1, 1]
    assert (data["waiting"], data["declines"]) == (1, 1)
    assert Participant.objects.get(pk=late.pk).state == Participant.State.ACTIVE

    recent = data["recent"]
    assert len(recent) == 20
    assert recent == sorted(recent, key=lambda event: event["at"], reverse=True)
    assert {"declined consent", "consented"} <= {event["what"] for event in recent}
    assert all(
        set(event) == {"at", "at_display", "what", "participant", "group", "condition"}
        for event in recent
    )
    page = text(admin_client.get(url("study_progress", study.pk)))
    assert url("study_progress_json", study.pk) in page and "js/progress.js" in page


def test_invites_are_created_and_their_links_work(admin_client, tmp_path):
    study = make_study(tmp_path)
    expert = study.groups.get(slug="expert")
    expires = (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    form = {"count": 3, "group": expert.pk, "expires_at": expires, "note": "lab"}
    response = admin_client.post(url("study_links", study.pk), form, follow=True)
    assert "Created 3 invites." in text(response)
    invites = list(Invite.objects.filter(study=study))
    assert len(invites) == 3
    assert all(i.group == expert and i.note == "lab" and i.expires_at for i in invites)
    page = text(response)
    for invite in invites:
        link = f"http://testserver/i/{invite.token}/"
        assert f'data-copy="{link}"' in page
        consent = Client().get(link)
        assert consent.status_code == 200 and "I agree to take part" in text(consent)
    assert f"http://testserver/i/{invites[0].token}/" in text(
        admin_client.get(url("invite_changelist"))
    )

    past = {"count": 1, "expires_at": "2000-01-01T00:00"}
    response = admin_client.post(url("study_links", study.pk), past)
    assert "Choose a time in the future." in text(response)
    assert Invite.objects.count() == 3


def test_links_page_shows_absolute_links_with_prolific_parameters(admin_client, tmp_path):
    study = make_study(tmp_path)
    page = text(admin_client.get(url("study_links", study.pk)))
    prolific = (
        "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    for link in ("http://testserver/s/matching/", "http://testserver/s/matching/non-expert/"):
        assert f'data-copy="{link}"' in page
        assert f'data-copy="{link}{prolific}"' in page
    assert 'class="button copy-button"' in page and "js/copy.js" in page


def test_study_with_participants_shows_cannot_delete(admin_client, tmp_path):
    study = make_study(tmp_path)
    simulate(study, 1, "expert")
    response = admin_client.get(url("study_delete", study.pk))
    assert response.status_code == 200 and "Cannot delete study" in text(response)
    response = admin_client.post(url("study_delete", study.pk), {"post": "yes"})
    assert response.status_code == 200 and Study.objects.filter(pk=study.pk).exists()

    unused = make_study(tmp_path, slug="unused")
    response = admin_client.post(url("study_delete", unused.pk), {"post": "yes"})
    assert response.status_code == 302 and not Study.objects.filter(pk=unused.pk).exists()


def test_participants_are_read_only_and_deleted_after_confirmation(admin_client, tmp_path):
    study = make_study(tmp_path)
    simulate(study, 1, "expert")
    participant = Participant.objects.get()
    page = text(admin_client.get(url("participant_change", participant.pk)))
    assert participant.token not in page and participant.token[:8] in page
    assert 'name="state"' not in page
    assert admin_client.get(url("participant_add")).status_code == 403
    assert admin_client.post(url("participant_change", participant.pk), {}).status_code == 403
    assert admin_client.get(url("externalidentity_add")).status_code == 403
    listing = text(admin_client.get(url("participant_changelist") + "?state=completed"))
    assert participant.token[:8] in listing

    confirm = admin_client.get(url("participant_delete", participant.pk))
    assert "Are you sure" in text(confirm)
    response = admin_client.post(url("participant_delete", participant.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Participant.objects.exists() and not Trial.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert Condition.objects.filter(study=study).count() == 3


def test_results_page_shows_tables_plots_and_downloads(admin_client, tmp_path):
    from django.core.management import call_command
    from django.urls import reverse

    study = make_study(tmp_path, slug="results-page")
    call_command("simulate_participants", study.slug, n=3, group="expert", accuracy=1.0)
    url = reverse("admin:studies_study_results", args=[study.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "1.00 (n=1)" in html  # one bot per condition: mean and n, no interval
    assert html.count("<figure><svg") == 2
    assert f"/api/results/{study.pk}/tables/paper/?format=csv&amp;exclusions=1" in html
    without = admin_client.get(url + "?exclusions=0").content.decode()
    assert "without exclusions" in without
    assert admin_client.get(reverse("api:results-detail", args=[study.pk])).status_code == 200
