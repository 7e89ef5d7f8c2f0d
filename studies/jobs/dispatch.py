"""Sending chunks to Celery workers, or saying that there is no broker.

With a broker (``CELERY_BROKER_URL``), every ready chunk gets one ``run_chunk`` message; the
chunk's ``task_id`` is set with a conditional UPDATE before sending, so concurrent
dispatchers (two chunks finishing at once) send each chunk once. Duplicates (a message
redelivered by the broker, a re-run) are harmless anyway: only one claim succeeds.
Without a broker, nothing is sent; :mod:`studies.jobs.runner` runs the chunks in-process.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.db import transaction

from studies.jobs.models import Job, JobChunk
from studies.jobs.state import ready_chunks
from studyserver.celery import app

logger = logging.getLogger("studies.jobs")
#: The Celery task that runs one chunk (:func:`studies.jobs.tasks.run_chunk`).
RUN_CHUNK = "studies.jobs.run_chunk"


class DispatchError(RuntimeError):
    """The broker could not be reached; the chunks stay pending (a re-run sends them)."""


def broker_configured() -> bool:
    """Whether jobs go to Celery workers (a broker URL is set) or run in-process."""
    return bool(app.conf.broker_url)


def dispatch_ready(job: Job) -> int:
    """Send a message for every ready chunk of ``job`` not sent yet; returns how many.

    Messages leave after the current transaction commits (workers must see the chunks).
    """
    sent = 0
    for chunk_id in ready_chunks(job).filter(task_id="").values_list("pk", flat=True):
        task_id = str(uuid.uuid4())
        mine = JobChunk.objects.filter(pk=chunk_id, state=JobChunk.State.PENDING, task_id="")
        if mine.update(task_id=task_id):
            transaction.on_commit(partial(_send, chunk_id, task_id))
            sent += 1
    return sent


def _send(chunk_id: int, task_id: str) -> None:
    try:  # by name: the task's module (studies.jobs.tasks) imports the runner, which imports us
        app.send_task(RUN_CHUNK, args=[chunk_id], task_id=task_id)
    except Exception as error:  # kombu raises several kinds of connection errors
        JobChunk.objects.filter(pk=chunk_id, task_id=task_id).update(task_id="")
        raise DispatchError(f"the broker is not reachable ({error}); nothing was sent") from error


def revoke_pending(job: Job) -> None:
    """Ask the workers to drop the job's queued messages (they would skip them anyway)."""
    task_ids = list(
        job.chunks.filter(state=JobChunk.State.PENDING)
        .exclude(task_id="")
        .values_list("task_id", flat=True)
    )
    if task_ids and broker_configured():
        try:
            app.control.revoke(task_ids)
        except Exception:  # revoking is an optimisation: the claim refuses cancelled jobs
            logger.warning("could not revoke the queued tasks of %s", job, exc_info=True)
