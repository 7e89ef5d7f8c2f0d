"""A job's state, derived from its chunks (the chunks are the source of truth).

- succeeded: every chunk is done;
- cancelled: cancel was requested and no chunk is running (a running chunk finishes first);
- failed: the current step (the first one with unfinished chunks) has failed chunks and
  nothing left to run; the other chunks of that step still run to the end, so a re-run only
  repeats what failed;
- queued (from creation or a re-run until a chunk is claimed), else running.

Chunks whose worker vanished (no heartbeat for ``CWOX_JOB_STALE_SECONDS``) count as unfinished
work, not as running: :func:`refresh` makes them pending again so that they are sent anew.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from studies.jobs import claims
from studies.jobs.models import Job, JobChunk

State = Job.State
ChunkState = JobChunk.State


def decide_state(job: Job, chunks: list[JobChunk]) -> str:
    """The state ``job`` is in, given all of its ``chunks`` (see the module docstring)."""
    unfinished = [chunk for chunk in chunks if chunk.state != ChunkState.DONE]
    if not unfinished:
        return State.SUCCEEDED
    running = any(c.state == ChunkState.RUNNING and not c.is_stale for c in chunks)
    if job.cancel_requested:
        return State.RUNNING if running else State.CANCELLED
    step = min(chunk.step for chunk in unfinished)
    left = [c for c in unfinished if c.step == step and c.state != ChunkState.FAILED]
    if not left:
        return State.FAILED
    claimed = any(chunk.state == ChunkState.RUNNING for chunk in chunks)
    return State.QUEUED if job.state == State.QUEUED and not claimed else State.RUNNING


def refresh(job_id: int) -> Job | None:
    """Bring the job's state up to date with its chunks and return it (None if deleted).

    Chunks of vanished workers become pending again first (unless the job is being
    cancelled). The state is written only if nobody changed it since it was read.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return None
    if not job.cancel_requested:
        claims.reset_stale(job_id)
    new = decide_state(job, list(job.chunks.all()))
    if new != job.state:
        finished = timezone.now() if new in Job.FINISHED_STATES else None
        Job.objects.filter(pk=job_id, state=job.state).update(state=new, finished_at=finished)
        job.refresh_from_db()
    return job


def ready_chunks(job: Job) -> QuerySet[JobChunk]:
    """The pending chunks of the job's current step (none while it is being cancelled)."""
    chunks = job.chunks.exclude(state=ChunkState.DONE)
    if job.cancel_requested or not chunks.exists():
        return JobChunk.objects.none()
    step = min(chunks.values_list("step", flat=True))
    return chunks.filter(step=step, state=ChunkState.PENDING).order_by("index")
