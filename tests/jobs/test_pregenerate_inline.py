"""Without a broker (the embedded default), ``manage.py run_job pregenerate`` runs the same
chunked pregeneration in its own process: pairs, heatmaps, manifest, import."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from studies.jobs.dispatch import broker_configured
from studies.jobs.models import Job
from tests.jobs.factories import make_draft

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_run_job_pregenerates_in_process_without_a_broker(photos):
    assert not broker_configured()
    study = make_draft()
    images = photos("grace-hopper", "rocket")
    (images / "broken.png").write_bytes(b"not an image")
    out = io.StringIO()
    call_command(
        "run_job",
        "pregenerate",
        study.slug,
        str(images),
        "--chunk-size",
        "1",
        "--training",
        "1",
        stdout=out,
    )
    job = Job.objects.get()
    assert job.state == Job.State.SUCCEEDED, job.errors()
    assert "runs in this process" in out.getvalue()
    assert "2 pairs from 3 images" in out.getvalue()
    assert job.progress().text() == "2 / 2 items"
    labels = [(chunk.label, chunk.state, chunk.attempts) for chunk in job.chunks.all()]
    assert labels == [
        ("prepare", "done", 1),
        ("chunk 0", "done", 1),
        ("chunk 1", "done", 1),
        ("finish", "done", 1),
    ]
    assert all(chunk.worker.endswith("(in-process)") for chunk in job.chunks.all())

    items = {item.key: item for item in study.items.all()}
    assert sorted(items) == ["grace-hopper", "rocket"]
    assert sorted(item.role for item in items.values()) == ["test", "training"]
    gown = items["grace-hopper"]
    assert {gown.class_a_name, gown.class_b_name} == {"academic gown", "mortarboard"}
    for item in items.values():
        assert sorted(item.heatmap_sets.values_list("method", flat=True)) == ["cwox-2s", "swox"]
    manifest = json.loads((job.work_dir / "stimuli" / "manifest.json").read_text())
    assert [item["id"] for item in manifest["items"]] == [
        item_id for chunk in job.chunks.filter(step=1) for item_id in chunk.item_ids
    ]
    assert job.result["imported"] == 2
    assert study.manifests.count() == 1

    with pytest.raises(CommandError, match="succeeded: nothing to re-run"):
        call_command("run_job", "resume", str(job.pk))
