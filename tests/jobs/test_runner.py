"""Jobs run chunk by chunk, step after step, in this process (no broker), with an engine-free
kind: order of steps, cancel between chunks, failures, interruptions and re-runs that repeat
only what is unfinished (every item written once)."""

from __future__ import annotations

import time

import pytest

from studies.jobs.claims import claim
from studies.jobs.control import JobError, create_job, rerun_job, start_job
from studies.jobs.dispatch import broker_configured
from studies.jobs.models import Job, JobChunk
from studies.jobs.runner import run_inline, start_in_thread
from tests.jobs.counting_kind import COUNTING

pytestmark = pytest.mark.django_db(transaction=True)


def _job(items: list[str], chunk_size: int = 1, **hooks: str) -> Job:
    return create_job(COUNTING, {"items": items, "chunk_size": chunk_size, **hooks})


def _chunk_states(job: Job) -> list[str]:
    return list(job.chunks.filter(step=JobChunk.Step.ITEMS).values_list("state", flat=True))


def _without(job: Job, hook: str) -> Job:
    """The job after the researcher fixed the cause of ``hook``."""
    parameters = {k: v for k, v in job.parameters.items() if k != hook}
    Job.objects.filter(pk=job.pk).update(parameters=parameters)
    return Job.objects.get(pk=job.pk)


def test_a_job_runs_prepare_then_its_chunks_then_finish(counting):
    job = _job(["a", "b", "c"], chunk_size=2)
    assert (job.state, job.progress().text()) == ("queued", "preparing")
    job = run_inline(job.pk)
    assert job.state == Job.State.SUCCEEDED
    assert counting.runs == ["prepare", "chunk 0", "chunk 1", "finish"]
    assert job.result == {"writes": {"a": 1, "b": 1, "c": 1}}
    assert job.progress().text() == "3 / 3 items"
    assert job.started_at <= job.finished_at
    assert job.errors() == []


def test_a_cancelled_job_stops_between_chunks_and_a_rerun_runs_only_the_rest(counting):
    job = run_inline(_job(["a", "b", "c", "d"], cancel_at="b").pk)
    assert job.state == Job.State.CANCELLED
    assert counting.runs == ["prepare", "chunk 0", "chunk 1"]  # chunk 1 ran to its end
    assert _chunk_states(job) == ["done", "done", "pending", "pending"]

    cancelled_at = job.finished_at
    job = rerun_job(_without(job, "cancel_at"))
    assert (job.state, job.started_at, job.done_at_start) == ("queued", None, 2)
    job = run_inline(job.pk)
    assert job.state == Job.State.SUCCEEDED
    assert job.started_at >= cancelled_at  # the ETA of the re-run uses its own rate
    assert counting.runs[3:] == ["chunk 2", "chunk 3", "finish"]
    assert job.result == {"writes": {"a": 1, "b": 1, "c": 1, "d": 1}}


def test_a_failing_chunk_fails_the_job_after_the_others_and_a_rerun_repeats_only_it(counting):
    job = run_inline(_job(["a", "b", "c"], fail="b").pk)
    assert job.state == Job.State.FAILED
    assert counting.runs == ["prepare", "chunk 0", "chunk 1", "chunk 2"]
    assert job.errors() == ["chunk 1: item b is broken"]
    assert job.progress().text() == "2 / 3 items"

    job = run_inline(rerun_job(_without(job, "fail")).pk)
    assert job.state == Job.State.SUCCEEDED
    assert counting.runs[4:] == ["chunk 1", "finish"]
    assert job.result == {"writes": {"a": 1, "b": 1, "c": 1}}
    assert job.errors() == []


def test_an_interrupted_run_gives_its_chunk_back_and_resumes(counting):
    job = _job(["a", "b"], interrupt="b")
    with pytest.raises(KeyboardInterrupt):
        run_inline(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    interrupted = job.chunks.get(step=JobChunk.Step.ITEMS, index=1)
    assert (interrupted.state, interrupted.attempts) == ("pending", 0)

    job = run_inline(rerun_job(_without(job, "interrupt")).pk)
    assert job.state == Job.State.SUCCEEDED
    assert job.result == {"writes": {"a": 1, "b": 1}}


def test_rerun_is_refused_while_a_chunk_runs_and_after_success(counting):
    job = _job(["a"])
    claim(job.chunks.get().pk, "w1")
    with pytest.raises(JobError, match="still running"):
        rerun_job(job)
    JobChunk.objects.filter(job=job).update(state=JobChunk.State.DONE)
    Job.objects.filter(pk=job.pk).update(state=Job.State.SUCCEEDED)
    with pytest.raises(JobError, match="succeeded"):
        rerun_job(job)


def test_without_a_broker_a_started_job_runs_in_a_background_thread(counting):
    assert not broker_configured()
    job = _job(["a", "b"])
    start_in_thread(job.pk).join(timeout=30)
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED

    other = _job(["c"])
    assert start_job(other) == "thread"
    deadline = time.monotonic() + 30
    while not Job.objects.get(pk=other.pk).is_finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Job.objects.get(pk=other.pk).state == Job.State.SUCCEEDED
