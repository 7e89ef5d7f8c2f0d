"""Two pregenerations running at once in web-server threads (no broker) call the engine's API
in-process: neither touches the process's standard streams or warning filters, and each job's
report holds only its own items."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest

from explain_engine.demo_photos import PHOTOS, bundled_photo
from studies.jobs.control import create_pregeneration
from studies.jobs.models import Job, JobChunk
from studies.jobs.runner import execute_chunk, start_in_thread
from tests.jobs.factories import make_draft

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _folder(root: Path) -> Path:
    root.mkdir()
    for name in ("grace-hopper", "rocket"):
        (root / f"{name}.png").write_bytes(bundled_photo(*PHOTOS[name]).read_bytes())
    return root


def test_two_jobs_in_threads_keep_stdout_and_report_only_their_own_items(tmp_path):
    stdout, stderr, filters = sys.stdout, sys.stderr, list(warnings.filters)
    jobs = {}
    for slug, broken in (("first", "grace-hopper"), ("second", "rocket")):
        images = _folder(tmp_path / slug)
        job = create_pregeneration(make_draft(slug), images, chunk_size=1, device="cpu")
        prepare = job.chunks.get(step=JobChunk.Step.PREPARE)
        assert execute_chunk(prepare.pk, "test", dispatch=False).status == "done"
        # the pairs are chosen: now one image per job becomes unreadable
        shutil.copyfile(__file__, images / f"{broken}.png")
        jobs[slug] = (job.pk, broken)

    threads = [start_in_thread(job_id) for job_id, _ in jobs.values()]
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)

    assert sys.stdout is stdout and sys.stderr is stderr
    assert warnings.filters == filters
    for slug, (job_id, broken) in jobs.items():
        job = Job.objects.get(pk=job_id)
        other = next(b for s, (_, b) in jobs.items() if s != slug)
        report = " ".join(job.errors()) + " ".join(c.output for c in job.chunks.all())
        assert f"item {broken}: " in report, report
        assert f"item {other}" not in report, report
        failed = [e for e in job.errors() if "item " in e]
        assert failed and all(f"item {broken}:" in e for e in failed)
        assert list(job.study.items.values_list("key", flat=True)) == [other]
