"""Messages to the workers: each ready chunk is sent once, only the current step's chunks are
sent, and cancelling revokes what is queued; without a broker nothing is sent."""

from __future__ import annotations

import json

import pytest

from studies.jobs.control import cancel_job, create_job, rerun_job
from studies.jobs.dispatch import broker_configured, dispatch_ready
from studies.jobs.models import Job, JobChunk
from studies.jobs.runner import execute_chunk
from tests.jobs.counting_kind import COUNTING

pytestmark = pytest.mark.django_db(transaction=True)


def _queued_chunks(client) -> list[int]:
    """The chunk ids of the messages waiting in Redis (the default queue, ``celery``)."""
    return sorted(
        json.loads(json.loads(raw)["headers"]["argsrepr"])[0]
        for raw in client.lrange("celery", 0, -1)
    )


def test_each_ready_chunk_is_sent_once_and_only_for_the_current_step(counting, redis_broker):
    assert broker_configured()
    job = create_job(COUNTING, {"items": ["a", "b", "c"], "chunk_size": 1})
    prepare = job.chunks.get()
    assert dispatch_ready(job) == 1
    assert dispatch_ready(job) == 0  # already sent
    assert _queued_chunks(redis_broker) == [prepare.pk]

    execute_chunk(prepare.pk, "here", dispatch=True)  # as a worker would, then sends the next
    items = list(job.chunks.filter(step=JobChunk.Step.ITEMS).values_list("pk", flat=True))
    assert _queued_chunks(redis_broker) == sorted([prepare.pk, *items])
    assert dispatch_ready(job) == 0
    assert all(job.chunks.filter(pk__in=items).values_list("task_id", flat=True))

    job = cancel_job(job)
    assert job.state == Job.State.CANCELLED
    assert dispatch_ready(job) == 0
    job = rerun_job(job)  # new messages, under new task ids
    assert not any(job.chunks.filter(pk__in=items).values_list("task_id", flat=True))
    assert dispatch_ready(job) == 3
