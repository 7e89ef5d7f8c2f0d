"""The researchers' API: staff-only access, read-only resources with the right data, filters by
study, pagination, the OpenAPI schema, no secrets in any response, a bounded query count."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from studies.models import (
    ExternalIdentity,
    HeatmapSet,
    Invite,
    Participant,
    StimulusItem,
    Study,
    Trial,
)
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db

RESOURCES = ("study", "condition", "group", "item", "participant", "trial")
TRIALS_EACH = 2 + 4 + 1
"""make_study's defaults: 2 training trials, 4 test trials, 1 attention check."""


def every_url() -> list[str]:
    """The API root, the schema, the docs and the list and detail route of each resource."""
    urls = [reverse("api:api-root"), reverse("api:schema"), reverse("api:docs")]
    for name in RESOURCES:
        urls += [reverse(f"api:{name}-list"), reverse(f"api:{name}-detail", args=[1])]
    return urls


def token_client(*, staff: bool, name: str = "researcher") -> APIClient:
    """A client sending the token of a new (staff or non-staff) user (no password: hashing one
    takes long)."""
    user = User.objects.create_user(name, is_staff=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def simulate(study: Study, *groups: str) -> None:
    """One completed participant in each of the named groups of the study."""
    for group in study.groups.filter(slug__in=groups):
        call_command(
            "simulate_participants",
            study.slug,
            n=1,
            group=group.slug,
            seed=group.pk,
            stdout=StringIO(),
        )


def rows(client: APIClient, name: str, **query: object) -> list[dict]:
    """Every row of a list endpoint (one page of up to 1000)."""
    response = client.get(reverse(f"api:{name}-list"), {"page_size": 1000, **query})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    return body["results"]


@pytest.fixture
def staff() -> APIClient:
    return token_client(staff=True)


@pytest.fixture
def empty_study(tmp_path: Path) -> Study:
    """An open study with no participants yet."""
    return make_study(tmp_path)


@pytest.fixture
def study(empty_study: Study) -> Study:
    """The open study with one completed participant in each of its two groups."""
    simulate(empty_study, "expert", "non-expert")
    return empty_study


@pytest.mark.parametrize("url", every_url())
def test_anonymous_requests_are_refused(client, url):
    assert client.get(url).status_code == 401


def test_non_staff_users_are_forbidden(client):
    user_client = token_client(staff=False, name="participant-like")
    for url in every_url():
        assert user_client.get(url).status_code == 403, url
    client.force_login(User.objects.create_user("browser-user"))
    assert client.get(reverse("api:study-list")).status_code == 403
    assert client.get(reverse("api:docs")).status_code == 403


def test_staff_session_opens_docs_and_participant_pages_stay_public(client, empty_study):
    link = reverse("studies:study-link", args=[empty_study.slug])
    assert client.get(link).status_code == 200
    client.force_login(User.objects.create_user("admin-user", is_staff=True))
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert client.get(reverse("api:study-list")).status_code == 200


def test_staff_token_reads_the_study(staff, study):
    [row] = rows(staff, "study")
    assert (row["id"], row["slug"], row["status"]) == (study.pk, study.slug, "open")
    assert [c["name"] for c in row["conditions"]] == ["SWOX", "CWOX-1sB", "CWOX-2s"]
    assert [g["slug"] for g in row["groups"]] == ["expert", "non-expert"]
    assert (row["participant_count"], row["completed_count"]) == (2, 2)
    assert row["item_count"] == StimulusItem.objects.filter(study=study).count() == 11
    assert staff.get(reverse("api:study-detail", args=[study.pk])).json() == row

    conditions = rows(staff, "condition")
    assert sum(c["participant_count"] for c in conditions) == 2
    assert [c["shows_cluster_map"] for c in conditions] == [False, False, True]
    groups = rows(staff, "group")
    assert [(g["slug"], g["participant_count"]) for g in groups] == [
        ("expert", 1),
        ("non-expert", 1),
    ]

    participants = rows(staff, "participant")
    assert [p["id"] for p in participants] == sorted(
        Participant.objects.filter(study=study).values_list("pk", flat=True)
    )
    for person in participants:
        assert person["state"] == "completed" and person["stage"] == "debrief"
        assert person["answered"] == person["total_trials"] == TRIALS_EACH
        assert person["group_name"] in ("expert", "non-expert")
        assert person["condition_name"] in ("SWOX", "CWOX-1sB", "CWOX-2s")
        assert person["completed_at"] and person["consented_at"]
        assert "token" not in person


def test_items_name_stored_files_with_hashes_and_provenance(staff, empty_study):
    items = rows(staff, "item")
    assert len(items) == 11
    assert sorted({item["role"] for item in items}) == ["attention", "test", "training"]
    item = items[0]
    stored = StimulusItem.objects.get(pk=item["id"])
    assert item["key"] == stored.key and item["image"] == stored.image.name
    assert item["image"].startswith(f"stimuli/{empty_study.slug}/{stored.key}/")
    assert len(item["image_sha256"]) == 64
    assert [h["method"] for h in item["heatmap_sets"]] == ["cwox-1sb", "cwox-2s", "swox"]
    for entry in item["heatmap_sets"]:
        maps = HeatmapSet.objects.get(item=stored, method=entry["method"])
        assert (entry["map_a"], entry["map_b"]) == (maps.map_a.name, maps.map_b.name)
        assert entry["hashes"] == maps.hashes and entry["hashes"]
        assert (entry["cluster_map"] is not None) == (entry["method"] == "cwox-2s")
    manifest = item["manifest"]
    assert manifest["model_name"] == "efficientnet-lite0"
    assert manifest["weights_sha256"] == "0" * 64
    assert manifest["explainer"]["name"] == "gradcam"
    assert "document" not in manifest
    text = json.dumps(items)
    assert "/media/" not in text and "http" not in text


def test_trials_show_draws_and_responses(staff, study):
    trials = rows(staff, "trial")
    assert len(trials) == 2 * TRIALS_EACH
    assert [t["id"] for t in trials] == sorted(t["id"] for t in trials)
    stored = Trial.objects.select_related("item", "condition").get(pk=trials[3]["id"])
    row = trials[3]
    assert row["study"] == study.pk
    assert row["participant"] == stored.participant_id
    assert (row["item_key"], row["condition_name"]) == (stored.item.key, stored.condition.name)
    for field in ("position", "block", "is_attention_check", "heatmap_left", "label_first"):
        assert row[field] == getattr(stored, field), field
    for field in ("answer_left", "answer_right", "correct", "confidence", "client_response_ms"):
        assert row[field] == getattr(stored, field), field
    assert row["answered_at"] and row["shown_at"]
    assert staff.get(reverse("api:trial-detail", args=[stored.pk])).json() == row


def test_filters(staff, study):
    assert {i["role"] for i in rows(staff, "item", role="attention")} == {"attention"}
    expert = study.groups.get(slug="expert")
    swox = study.conditions.get(method="swox")
    assert {p["group"] for p in rows(staff, "participant", group=expert.pk)} == {expert.pk}
    in_swox = Participant.objects.filter(condition=swox).values_list("pk", flat=True)
    assert [p["id"] for p in rows(staff, "participant", condition=swox.pk)] == sorted(in_swox)
    assert rows(staff, "participant", state="active") == []
    assert len(rows(staff, "condition", method="cwox-2s")) == 1
    person = Participant.objects.filter(study=study).first()
    mine = rows(staff, "trial", participant=person.pk)
    assert [t["position"] for t in mine] == list(range(TRIALS_EACH))
    assert len(rows(staff, "trial", block="training")) == 2 * 2
    assert len(rows(staff, "trial", is_attention_check="true")) == 2
    assert len(rows(staff, "trial", answered="true")) == 2 * TRIALS_EACH
    assert rows(staff, "trial", answered="false") == []
    refused = staff.get(reverse("api:trial-list"), {"study": "first"})
    assert refused.status_code == 400


def test_filtering_by_study_separates_two_studies(staff, tmp_path, study):
    other = make_study(tmp_path, slug="other")
    simulate(other, "expert")
    for name in RESOURCES:
        everything = {row["id"] for row in rows(staff, name)}
        by_id = {s: {row["id"] for row in rows(staff, name, study=s.pk)} for s in (study, other)}
        assert by_id[study] and by_id[other], name
        assert by_id[study] | by_id[other] == everything, name
        assert not by_id[study] & by_id[other], name
        assert {row["id"] for row in rows(staff, name, study__slug="other")} == by_id[other]
        assert rows(staff, name, study__slug="nowhere") == []
    assert len(rows(staff, "trial", study=other.pk)) == TRIALS_EACH


def test_pagination_pages_through_in_id_order(staff, empty_study):
    url = reverse("api:item-list")
    first = staff.get(url).json()
    assert first["count"] == len(first["results"]) == 11 and first["next"] is None
    seen, page = [], staff.get(url, {"page_size": 4}).json()
    while True:
        assert len(page["results"]) <= 4
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            break
        page = staff.get(page["next"]).json()
    assert seen == sorted(StimulusItem.objects.values_list("pk", flat=True))
    assert staff.get(url, {"page_size": 4, "page": 4}).status_code == 404


def test_no_token_or_external_id_in_any_response(client, staff, study):
    Invite.objects.create(study=study, note="for a colleague")
    tokens = [*Participant.objects.values_list("token", flat=True)]
    tokens += Invite.objects.values_list("token", flat=True)
    secrets = [token[:8] for token in tokens]
    secrets += ExternalIdentity.objects.values_list("external_id", flat=True)
    assert len(secrets) == 2 + 1 + 2
    urls = [reverse("api:api-root")]
    for name in RESOURCES:
        urls.append(reverse(f"api:{name}-list"))
        first = rows(staff, name)[0]["id"]
        urls.append(reverse(f"api:{name}-detail", args=[first]))
    client.force_login(User.objects.create_user("admin-user", is_staff=True))
    responses = [staff.get(reverse("api:schema"), {"format": "json"})]
    for url in urls:
        responses += [staff.get(url), client.get(url, headers={"accept": "text/html"})]
    for response in responses:
        url = response.request["PATH_INFO"]
        assert response.status_code == 200, url
        text = response.content.decode()
        assert not [secret for secret in secrets if secret in text], url
        assert "external_id" not in text and "platform_session_id" not in text, url


def test_schema_is_openapi_with_every_path(staff):
    response = staff.get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    for name in ("studies", "conditions", "groups", "items", "participants", "trials"):
        assert f"/api/{name}/" in schema["paths"]
        assert f"/api/{name}/{{id}}/" in schema["paths"]
    participant = schema["components"]["schemas"]["Participant"]["properties"]
    assert "token" not in participant
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_query_count_is_bounded(staff, tmp_path, study, django_assert_max_num_queries):
    make_study(tmp_path, slug="other")
    firsts = {name: rows(staff, name)[0]["id"] for name in RESOURCES}
    for name in RESOURCES:
        with django_assert_max_num_queries(5):
            assert staff.get(reverse(f"api:{name}-list")).status_code == 200
        with django_assert_max_num_queries(5):
            detail = staff.get(reverse(f"api:{name}-detail", args=[firsts[name]]))
            assert detail.status_code == 200
