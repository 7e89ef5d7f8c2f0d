"""Jobs in the researcher admin: the job list and page show state, progress, errors and chunks;
"Cancel" and "Re-run" act on jobs; the study actions ask for the images folder, then start a
job (without a broker: in a thread of the web server)."""

from __future__ import annotations

import html
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.jobs.claims import claim, complete
from studies.jobs.control import create_job
from studies.jobs.kinds import get_kind
from studies.jobs.models import Job, JobChunk
from studies.jobs.pregeneration import job_settings
from studies.jobs.runner import execute_chunk, run_inline
from studies.models import Study
from tests.jobs.counting_kind import COUNTING
from tests.jobs.factories import make_draft
from tests.server.factories import make_study

pytestmark = pytest.mark.django_db(transaction=True)
STUDIES = "admin:studies_study_changelist"
JOBS = "admin:studies_job_changelist"


def _page(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _wait(job: Job, seconds: float = 30) -> Job:
    deadline = time.monotonic() + seconds
    while not Job.objects.get(pk=job.pk).is_finished and time.monotonic() < deadline:
        time.sleep(0.05)
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def started(monkeypatch) -> list[int]:
    """Jobs the admin starts are recorded instead of running the engine in a thread."""
    ids: list[int] = []
    monkeypatch.setattr("studies.jobs.control.start_in_thread", ids.append)
    return ids


def test_job_list_and_page_show_state_progress_errors_and_chunks(admin_client, counting):
    job = run_inline(create_job(COUNTING, {"items": ["a", "b"], "fail": "b"}).pk)
    listing = _page(admin_client.get(reverse(JOBS)))
    assert "Failed" in listing
    assert "1 / 2 items" in listing
    page = _page(admin_client.get(reverse("admin:studies_job_change", args=[job.pk])))
    assert "chunk 1: item b is broken" in page
    assert "in-process" in page  # the worker of each chunk
    assert 'name="_save"' not in page  # read-only


def test_a_running_job_shows_items_done_and_the_eta(admin_client, counting):
    job = create_job(COUNTING, {"items": ["a", "b", "c", "d"]})
    execute_chunk(job.chunks.get().pk, "w1", dispatch=False)  # prepare: 4 chunks of 1 item
    for chunk in job.chunks.filter(step=JobChunk.Step.ITEMS)[:2]:
        complete(claim(chunk.pk, "w1"), 1, [], "")
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(minutes=10))
    listing = _page(admin_client.get(reverse(JOBS)))
    assert "Running" in listing
    assert "2 / 4 items, ETA 10 min" in listing


def test_cancel_then_rerun_from_the_job_list(admin_client, counting):
    job = create_job(COUNTING, {"items": ["a", "b"]})
    admin_client.post(reverse(JOBS), {"action": "cancel_jobs", "_selected_action": [job.pk]})
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED

    response = admin_client.post(
        reverse(JOBS), {"action": "rerun_jobs", "_selected_action": [job.pk]}, follow=True
    )
    assert "running in the web server" in _page(response)
    assert _wait(job).state == Job.State.SUCCEEDED
    response = admin_client.post(
        reverse(JOBS), {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True
    )
    assert "succeeded: nothing to cancel" in _page(response)


def test_pregenerate_heatmaps_asks_for_the_images_folder_then_starts_a_job(
    admin_client, started, photos
):
    study = make_draft()
    images = photos("chelsea")
    selected = {"action": "pregenerate_heatmaps", "_selected_action": [study.pk]}
    form = _page(admin_client.post(reverse(STUDIES), selected))
    assert "Images folder" in form and "Items per chunk" in form

    chosen = {**selected, "apply": "1", "explainer": "gradcam", "training": "1"}
    chosen |= {"chunk_size": "2", "device": "cpu", "floor": "0.05", "per_pair": "1"}
    refused = _page(admin_client.post(reverse(STUDIES), {**chosen, "images": "/no/such/folder"}))
    assert "/no/such/folder is not a folder on the server" in refused
    assert not Job.objects.exists()

    response = admin_client.post(reverse(STUDIES), {**chosen, "images": str(images)}, follow=True)
    job = Job.objects.get()
    assert "running in the web server" in _page(response)
    assert started == [job.pk]
    assert (job.kind, job.study, job.state) == ("pregenerate", study, "queued")
    settings, chunk_size = job_settings(job)
    assert settings.images == images.resolve()
    assert settings.methods == ("swox", "cwox-2s")
    assert (settings.roles, chunk_size) == ((("training", 1),), 2)
    assert (settings.explainer.name, settings.device) == ("gradcam", "cpu")
    assert [chunk.label for chunk in job.chunks.all()] == ["prepare"]

    again = admin_client.post(reverse(STUDIES), {**chosen, "images": str(images)}, follow=True)
    assert "is still queued: wait for it or cancel it" in _page(again)
    assert Job.objects.count() == 1


def test_pregenerate_heatmaps_takes_rise_with_a_mask_pair(admin_client, started, photos):
    study = make_draft()
    chosen = {"action": "pregenerate_heatmaps", "_selected_action": [study.pk], "apply": "1"}
    chosen |= {"images": str(photos("chelsea")), "explainer": "rise", "rise_masks": "64,32"}
    chosen |= {"training": "0", "chunk_size": "8", "device": "cpu", **PAIR_OPTIONS}
    bad = _page(admin_client.post(reverse(STUDIES), {**chosen, "rise_masks": "64"}))
    assert "expected two integers like 5000,3000" in bad
    assert not Job.objects.exists()
    admin_client.post(reverse(STUDIES), chosen, follow=True)
    settings, _ = job_settings(Job.objects.get())
    assert settings.explainer.name == "rise"
    stages = settings.explainer.settings
    assert (stages.stage1.num_masks, stages.stage2.num_masks) == (64, 32)
    assert (stages.stage1.grid, stages.stage2.grid) == (15, 10)  # the rest stays the reference


PAIR_OPTIONS = {"floor": "0.05", "per_pair": "1"}


def test_pregenerate_heatmaps_offers_the_engines_pair_options(admin_client, started, photos):
    study = make_draft()
    selected = {"action": "pregenerate_heatmaps", "_selected_action": [study.pk]}
    form = _page(admin_client.post(reverse(STUDIES), selected))
    for label in ("Floor", "Per pair", "Ground truth", "Ground truth required", "any cluster"):
        assert label in form
    chosen = {**selected, "apply": "1", "images": str(photos("chelsea")), "device": "cpu"}
    chosen |= {"explainer": "gradcam", "training": "0", "chunk_size": "8"}
    chosen |= {"floor": "0.1", "per_pair": "3", "require_truth": "on"}
    refused = _page(admin_client.post(reverse(STUDIES), chosen))
    assert "Ground truth required: say where the labels are." in refused
    assert not Job.objects.exists()
    admin_client.post(reverse(STUDIES), {**chosen, "labels": "folder"}, follow=True)
    settings, _ = job_settings(Job.objects.get())
    rules = settings.rules
    assert (rules.floor, rules.per_pair, rules.require_truth) == (0.1, 3, True)
    assert rules.leading_cluster and settings.labels == "folder"
    Job.objects.all().delete()
    admin_client.post(reverse(STUDIES), {**chosen, "labels": "folder", "any_cluster": "on"})
    assert not job_settings(Job.objects.get())[0].rules.leading_cluster


def test_pregenerate_heatmaps_refuses_a_study_that_is_not_a_draft(
    admin_client, started, photos, tmp_path
):
    study = make_study(tmp_path)
    chosen = {"action": "pregenerate_heatmaps", "_selected_action": [study.pk], "apply": "1"}
    chosen |= {"images": str(photos("chelsea")), "explainer": "gradcam", "training": "0"}
    chosen |= {"chunk_size": "8", "device": "auto", **PAIR_OPTIONS}
    response = admin_client.post(reverse(STUDIES), chosen, follow=True)
    assert "is open: its stimulus items are frozen" in _page(response)
    assert not Job.objects.exists() and started == []


def test_evaluate_faithfulness_runs_the_engine_evaluation_on_the_study_methods(
    admin_client, started, photos
):
    study = make_draft(methods=("swox", "cwox-1sb", "cwox-2s"))
    images = photos("chelsea")
    chosen = {"action": "evaluate_faithfulness", "_selected_action": [study.pk], "apply": "1"}
    chosen |= {"images": str(images), "explainers": ["gradcam"], "limit": "5", "device": "cuda"}
    admin_client.post(reverse(STUDIES), chosen)
    job = Job.objects.get()
    assert (job.kind, job.study, started) == ("evaluate", study, [job.pk])
    settings = get_kind("evaluate").settings(job)
    assert (settings.images, settings.out) == (images.resolve(), job.work_dir / "evaluation")
    assert [spec.name for spec in settings.explainers] == ["gradcam"]
    assert settings.methods == ("swox", "cwox-1sb", "cwox-2s")
    assert (settings.device, settings.limit) == ("cuda", 5)
    assert Study.objects.get().jobs.get() == job
