"""The Celery side of jobs: one task, "run this chunk", and a sweep when a worker starts.

Messages are acknowledged late (``CELERY_TASK_ACKS_LATE``): a worker that dies while running
a chunk leaves its message unacknowledged, and the broker hands it to another worker (at once
when only the pool process died, ``CELERY_TASK_REJECT_ON_WORKER_LOST``; after the visibility
timeout when the whole worker vanished). The chunk's claim in the database decides whether the
message still has work to do.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.db import connections

from explain_engine.registry import explainer_names
from explain_engine.runtime import tune_cpu_allocator
from studies.jobs.dispatch import RUN_CHUNK
from studies.jobs.models import Job
from studies.jobs.runner import Status, after_chunk, execute_chunk, worker_name


@shared_task(bind=True, name=RUN_CHUNK, max_retries=None)
def run_chunk(self, chunk_id: int) -> dict[str, Any]:
    """Run chunk ``chunk_id`` here. If another live worker holds it (a duplicate message),
    look again once its heartbeat would have gone stale, so that the chunk is never left
    without a message while it is unfinished."""
    outcome = execute_chunk(chunk_id, worker_name(self.request.hostname))
    if outcome.status == Status.BUSY:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.as_json()


@worker_init.connect
def preload_engine(**kwargs: Any) -> None:
    """Prepare the worker's main process before its pool processes are forked: tune the CPU
    allocator (process-wide, so a worker's start-up does it, never a library call) and load
    the engine's explainers (and torch: seconds), so that pool processes start ready, also
    when one is replaced after a crash. Loading does not initialise CUDA, so forked pool
    processes can still use the GPU."""
    tune_cpu_allocator()
    explainer_names()


@worker_ready.connect
def resend_abandoned_chunks(**kwargs: Any) -> None:
    """When a worker starts (e.g. a machine back after a crash), the chunks of vanished
    workers of every running job are made pending and sent again."""
    try:
        for job_id in Job.objects.filter(state=Job.State.RUNNING).values_list("pk", flat=True):
            after_chunk(job_id, dispatch=True)
    finally:
        connections.close_all()
