"""Leases on chunks: one worker at a time, a vanished worker's chunk taken over, the old
lease powerless afterwards, and a chunk that keeps killing its worker failed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from studies.jobs.claims import (
    MAX_ATTEMPTS,
    Lease,
    Refusal,
    claim,
    complete,
    fail,
    heartbeat,
    release,
)
from studies.jobs.control import cancel_job, create_job
from studies.jobs.models import Job, JobChunk
from tests.jobs.counting_kind import COUNTING

pytestmark = pytest.mark.django_db(transaction=True)


def _chunk(counting) -> JobChunk:
    return create_job(COUNTING, {"items": ["a"]}).chunks.get()


def _age_heartbeat(chunk: JobChunk, settings) -> None:
    old = timezone.now() - timedelta(seconds=settings.CWOX_JOB_STALE_SECONDS + 1)
    JobChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=old)


def test_a_claimed_chunk_is_busy_until_its_heartbeat_goes_stale_then_taken_over(counting, settings):
    chunk = _chunk(counting)
    first = claim(chunk.pk, "w1")
    assert isinstance(first, Lease) and first.attempt == 1
    assert Job.objects.get().state == Job.State.RUNNING
    assert claim(chunk.pk, "w2") is Refusal.BUSY
    assert heartbeat(first, 0)
    assert claim(chunk.pk, "w2") is Refusal.BUSY

    _age_heartbeat(chunk, settings)
    second = claim(chunk.pk, "w2")
    assert isinstance(second, Lease) and second.attempt == 2
    # The first worker, given up for dead, can no longer touch the chunk.
    assert not heartbeat(first, 1)
    assert not complete(first, 1, [], "")
    assert not fail(first, "too late")
    assert not release(first)
    assert complete(second, 1, [], "done")
    chunk.refresh_from_db()
    assert (chunk.state, chunk.worker, chunk.attempts) == ("done", "w2", 2)
    assert claim(chunk.pk, "w3") is Refusal.FINISHED


def test_a_chunk_that_keeps_losing_its_worker_fails(counting, settings):
    chunk = _chunk(counting)
    for number in range(MAX_ATTEMPTS):
        assert isinstance(claim(chunk.pk, f"w{number}"), Lease)
        _age_heartbeat(chunk, settings)
    assert claim(chunk.pk, "last") is Refusal.EXHAUSTED
    chunk.refresh_from_db()
    assert chunk.state == JobChunk.State.FAILED
    assert "lost 3 times" in chunk.errors[0]


def test_released_chunks_are_pending_again_and_the_attempt_does_not_count(counting):
    chunk = _chunk(counting)
    lease = claim(chunk.pk, "w1")
    assert release(lease)
    chunk.refresh_from_db()
    assert (chunk.state, chunk.attempts, chunk.worker) == ("pending", 0, "")


def test_chunks_of_a_cancelled_job_are_not_claimed(counting):
    chunk = _chunk(counting)
    cancel_job(chunk.job)
    assert claim(chunk.pk, "w1") is Refusal.STOPPED
    assert Job.objects.get().state == Job.State.CANCELLED


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent claims need PostgreSQL's row locks"
)
def test_simultaneous_claims_of_one_chunk_have_exactly_one_winner(counting):
    chunk = _chunk(counting)
    workers = 16
    start = threading.Barrier(workers)

    def attempt(number: int) -> Lease | Refusal:
        try:
            start.wait()
            return claim(chunk.pk, f"w{number}")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(attempt, range(workers)))
    winners = [result for result in results if isinstance(result, Lease)]
    assert len(winners) == 1
    assert results.count(Refusal.BUSY) == workers - 1
    assert JobChunk.objects.get(pk=chunk.pk).attempts == 1
