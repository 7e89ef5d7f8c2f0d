"""Jobs through real Celery workers (Redis broker and result backend, the session's
PostgreSQL database, shared media): a small pregeneration shared by two workers end to end, and
a worker killed in the middle of a chunk, whose chunk another worker finishes with no item
written twice or lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studies.jobs.control import create_pregeneration, start_job
from studies.jobs.models import Job, JobChunk
from tests.jobs.crashing_worker import ARM
from tests.jobs.factories import make_draft

pytestmark = pytest.mark.slow


def _stimuli(job: Job) -> Path:
    return job.work_dir / "stimuli"


def _written(job: Job, item_id: str) -> dict[str, int]:
    """The modification times (ns) of an item's done marker and of every file it lists."""
    marker = _stimuli(job) / ".done" / f"{item_id}.json"
    files = [marker, *(_stimuli(job) / name for name in json.loads(marker.read_text())["files"])]
    return {str(path): path.stat().st_mtime_ns for path in files}


def _assert_imported_once(job: Job, ids: list[str]) -> None:
    manifest = json.loads((_stimuli(job) / "manifest.json").read_text())
    assert sorted(item["id"] for item in manifest["items"]) == sorted(ids)
    study = job.study
    assert sorted(study.items.values_list("key", flat=True)) == sorted(ids)
    assert study.manifests.count() == 1
    for item in study.items.all():
        assert sorted(item.heatmap_sets.values_list("method", flat=True)) == ["cwox-2s", "swox"]


def test_two_workers_pregenerate_a_study_end_to_end(workers, photos):
    study = make_draft()
    images = photos("grace-hopper", "rocket")
    workers.ready(workers.start("w1"), workers.start("w2"))
    job = create_pregeneration(study, images, training=1, chunk_size=1, device="cpu")
    assert start_job(job) == "queued"

    job = workers.wait(job)
    assert job.state == Job.State.SUCCEEDED, job.errors()
    assert job.progress().text() == "2 / 2 items"
    chunks = list(job.chunks.all())
    assert [(c.label, c.state, c.attempts) for c in chunks] == [
        ("prepare", "done", 1),
        ("chunk 0", "done", 1),
        ("chunk 1", "done", 1),
        ("finish", "done", 1),
    ]
    assert {chunk.worker.split("@")[0] for chunk in chunks} <= {"w1", "w2"}
    _assert_imported_once(job, ["grace-hopper", "rocket"])
    roles = sorted(job.study.items.values_list("role", flat=True))
    assert roles == ["test", "training"]
    assert job.result["imported"] == 2


def test_a_killed_workers_chunk_is_finished_by_another_worker_writing_each_item_once(
    workers, photos, tmp_path
):
    study = make_draft()
    images = photos("grace-hopper", "rocket")
    arm = tmp_path / "crash.arm"
    arm.touch()
    quick_redelivery = {"CWOX_BROKER_VISIBILITY_TIMEOUT": "5"}
    doomed = workers.start(
        "w1", app_module="tests.jobs.crashing_worker", **{ARM: str(arm)}, **quick_redelivery
    )
    spare = workers.start("w2", queue="standby", **quick_redelivery)  # idle until w1 is gone
    workers.ready(doomed, spare)
    job = create_pregeneration(study, images, chunk_size=2, device="cpu")
    start_job(job)

    workers.until(lambda: not doomed.alive(), 120)
    assert not arm.exists(), "w1 died, but not from the crash hook"
    chunk = job.chunks.get(step=JobChunk.Step.ITEMS)
    assert (chunk.state, chunk.attempts) == ("running", 1)
    assert chunk.worker.startswith("w1@")
    finished = sorted(p.stem for p in (_stimuli(job) / ".done").glob("*.json"))
    assert len(finished) == 1, "the crash comes right after the chunk's first item"
    before = _written(job, finished[0])

    spare.consume("celery")
    job = workers.wait(job)
    assert job.state == Job.State.SUCCEEDED, job.errors()
    chunk.refresh_from_db()
    assert (chunk.state, chunk.attempts) == ("done", 2)
    assert chunk.worker.startswith("w2@")
    assert _written(job, finished[0]) == before  # the finished item was not written again
    assert chunk.items_done == 2
    _assert_imported_once(job, ["grace-hopper", "rocket"])
