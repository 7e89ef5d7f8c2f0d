"""Leases on chunks: the only way a worker gets to run one, with conditional UPDATEs.

A chunk is claimed by ``UPDATE … SET state='running', attempts=attempts+1 WHERE id=… AND
(state='pending' OR (state='running' AND heartbeat_at < stale))``: one statement, atomic in
PostgreSQL and SQLite alike, so of two workers that receive the same chunk (a redelivered
message, a re-run) exactly one gets it. The lease is (chunk, attempt, worker); every later write
of the worker (heartbeat, complete, fail, release) is conditional on that lease still being
its own, so a worker that was given up for dead (no heartbeat for ``CWOX_JOB_STALE_SECONDS``)
and whose chunk was taken over cannot mark it done or failed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils import timezone

from studies.jobs.models import Job, JobChunk, stale_before

MAX_ATTEMPTS = 3
"""Claims of one chunk before it fails: a chunk that keeps killing its worker (out of memory,
a crashing driver) must not take every worker down in turn."""

State = JobChunk.State


@dataclass(frozen=True)
class Lease:
    """The right of ``worker`` to run ``chunk_id`` (attempt number ``attempt``)."""

    chunk_id: int
    job_id: int
    attempt: int
    worker: str

    def mine(self):
        """The chunk rows that are still under this lease (a queryset of 0 or 1 rows)."""
        return JobChunk.objects.filter(
            pk=self.chunk_id, state=State.RUNNING, attempts=self.attempt, worker=self.worker
        )


class Refusal(enum.Enum):
    """Why a chunk was not claimed."""

    MISSING = "the chunk no longer exists"
    FINISHED = "the chunk is done already"
    BUSY = "another worker is running the chunk"
    STOPPED = "the job was cancelled, or the chunk failed"
    EXHAUSTED = "the chunk lost its worker too often and failed"


def claim(chunk_id: int, worker: str) -> Lease | Refusal:
    """Claim ``chunk_id`` for ``worker``: a :class:`Lease`, or why not."""
    chunk = JobChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None:
        return Refusal.MISSING
    if chunk.state == State.DONE:
        return Refusal.FINISHED
    if chunk.job.cancel_requested or chunk.state == State.FAILED:
        return Refusal.STOPPED
    now = timezone.now()
    claimable = Q(state=State.PENDING) | Q(state=State.RUNNING, heartbeat_at__lt=stale_before())
    taken = JobChunk.objects.filter(claimable, pk=chunk_id, attempts__lt=MAX_ATTEMPTS).update(
        state=State.RUNNING,
        attempts=F("attempts") + 1,
        worker=worker,
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        errors=[],
        output="",
    )
    if taken:
        attempt = JobChunk.objects.values_list("attempts", flat=True).get(pk=chunk_id)
        Job.objects.filter(pk=chunk.job_id, state=Job.State.QUEUED).update(
            state=Job.State.RUNNING, started_at=now
        )
        return Lease(chunk_id, chunk.job_id, attempt, worker)
    return _why_not(chunk_id, claimable)


def _why_not(chunk_id: int, claimable: Q) -> Refusal:
    chunk = JobChunk.objects.filter(pk=chunk_id).first()
    if chunk is None:
        return Refusal.MISSING
    if chunk.state == State.DONE:
        return Refusal.FINISHED
    if chunk.state == State.FAILED:
        return Refusal.STOPPED
    lost = f"its worker was lost {chunk.attempts} times (out of memory? see the worker logs)"
    exhausted = JobChunk.objects.filter(claimable, pk=chunk_id, attempts__gte=MAX_ATTEMPTS)
    if exhausted.update(state=State.FAILED, finished_at=timezone.now(), errors=[lost]):
        return Refusal.EXHAUSTED
    return Refusal.BUSY


def heartbeat(lease: Lease, items_done: int) -> bool:
    """Record a sign of life and the progress of the chunk; False if the lease was lost."""
    return bool(lease.mine().update(heartbeat_at=timezone.now(), items_done=items_done))


def complete(lease: Lease, items_done: int, errors: list[str], output: str) -> bool:
    """Mark the chunk done (with the items it finished and those it could not make)."""
    return bool(
        lease.mine().update(
            state=State.DONE,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            items_done=items_done,
            errors=errors,
            output=output,
        )
    )


def fail(lease: Lease, message: str, output: str = "") -> bool:
    """Mark the chunk failed with ``message`` (a re-run of the job tries it again)."""
    return bool(
        lease.mine().update(
            state=State.FAILED, finished_at=timezone.now(), errors=[message], output=output
        )
    )


def release(lease: Lease) -> bool:
    """Give the chunk back unfinished (the worker is being interrupted): pending again, and
    the attempt does not count."""
    return bool(
        lease.mine().update(
            state=State.PENDING,
            attempts=F("attempts") - 1,
            worker="",
            heartbeat_at=None,
            task_id="",
        )
    )


def reset_stale(job_id: int) -> int:
    """Make the job's running chunks whose worker vanished pending again (to be sent to a new
    worker); returns how many. Their attempts still count toward :data:`MAX_ATTEMPTS`."""
    return JobChunk.objects.filter(
        job_id=job_id, state=State.RUNNING, heartbeat_at__lt=stale_before()
    ).update(state=State.PENDING, task_id="", worker="")
