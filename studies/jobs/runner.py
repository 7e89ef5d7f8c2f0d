"""Running one chunk end to end, on a Celery worker or in this process.

:func:`execute_chunk` claims the chunk (:mod:`studies.jobs.claims`), runs its kind's step with
a heartbeat thread reporting progress, marks it done (and commits what the step produced) in
one transaction, then updates the job's state and sends the chunks that became ready.
:func:`run_inline` runs a whole job that way in this process (no broker needed), and
:func:`start_in_thread` does so in a background thread of the web server.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction

from studies.jobs import claims
from studies.jobs.dispatch import dispatch_ready
from studies.jobs.kinds import Say, get_kind
from studies.jobs.models import Job, JobChunk
from studies.jobs.state import ready_chunks, refresh

logger = logging.getLogger("studies.jobs")
OUTPUT_LIMIT = 20_000
EXPECTED = (ValueError, ValidationError, SoftTimeLimitExceeded)
"""Failures with a message for researchers (bad input, including the engine's
``EngineInputError``, a refused import, the time limit): logged without a traceback."""


class Status(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    BUSY = "busy"
    SKIPPED = "skipped"
    LOST = "lost"


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt to run a chunk; ``retry_in`` (seconds) when busy."""

    chunk_id: int
    status: Status
    message: str = ""
    retry_in: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"chunk": self.chunk_id, "status": str(self.status), "message": self.message}


def worker_name(hostname: str | None = None) -> str:
    """How a worker is shown on its chunks: its Celery node name (or host) and process id."""
    return f"{hostname or socket.gethostname()} pid {os.getpid()}"


def describe(error: BaseException) -> str:
    """A one-paragraph message for researchers."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    if isinstance(error, SoftTimeLimitExceeded):
        return f"the time limit of {settings.CWOX_JOB_TIME_LIMIT} s per chunk was reached"
    return str(error) or type(error).__name__


def execute_chunk(
    chunk_id: int, worker: str, *, say: Say | None = None, dispatch: bool = True
) -> Outcome:
    """Claim and run chunk ``chunk_id`` as ``worker``; with ``dispatch``, send the chunks that
    become ready afterwards to the broker. Never raises for a failing step (the chunk is marked
    failed); an interruption (KeyboardInterrupt, SystemExit) gives the chunk back, then
    propagates."""
    lease = claims.claim(chunk_id, worker)
    if isinstance(lease, claims.Refusal):
        return _refused(chunk_id, lease, dispatch)
    try:
        outcome = _run(lease, say or logger.info)
    except BaseException:
        claims.release(lease)
        raise
    after_chunk(lease.job_id, dispatch=dispatch)
    return outcome


def _run(lease: claims.Lease, say: Say) -> Outcome:
    """Run a claimed chunk: its step with a heartbeat, then complete it and commit what the
    step produced in one transaction; any error fails the chunk with its message."""
    chunk = JobChunk.objects.select_related("job").get(pk=lease.chunk_id)
    job = chunk.job
    try:
        kind = get_kind(job.kind)
        say(f"{job}: {chunk.label}, attempt {lease.attempt}, on {lease.worker}")
        with Heartbeat(lease, lambda: kind.probe(job, chunk)):
            result = kind.run(job, chunk, say)
        with transaction.atomic():
            output = result.output[-OUTPUT_LIMIT:]
            kept = claims.complete(lease, result.items_done, result.errors, output)
            if kept and result.commit is not None:
                result.commit()
    except Exception as error:
        if isinstance(error, EXPECTED):
            logger.warning("%s: %s failed: %s", job, chunk.label, describe(error))
        else:
            logger.exception("%s: %s failed", job, chunk.label)
        claims.fail(lease, describe(error))
        return Outcome(chunk.pk, Status.FAILED, describe(error))
    if not kept:
        return Outcome(chunk.pk, Status.LOST, "the chunk was taken over by another worker")
    return Outcome(chunk.pk, Status.DONE)


def _refused(chunk_id: int, refusal: claims.Refusal, dispatch: bool) -> Outcome:
    if refusal is claims.Refusal.BUSY:
        return Outcome(chunk_id, Status.BUSY, refusal.value, settings.CWOX_JOB_STALE_SECONDS)
    if refusal is claims.Refusal.EXHAUSTED:
        job_id = JobChunk.objects.values_list("job_id", flat=True).get(pk=chunk_id)
        after_chunk(job_id, dispatch=dispatch)
    return Outcome(chunk_id, Status.SKIPPED, refusal.value)


def after_chunk(job_id: int, *, dispatch: bool) -> Job | None:
    """Update the job's state; with ``dispatch``, send the chunks that are ready now."""
    job = refresh(job_id)
    if dispatch and job is not None and not job.is_finished:
        dispatch_ready(job)
    return job


class Heartbeat:
    """While a chunk runs: every ``CWOX_JOB_HEARTBEAT_SECONDS``, a thread records a sign of
    life and ``probe()`` (units finished so far). If the lease was lost (the chunk was given
    up for dead and taken over), it stops: the step runs to its end, and completing it will
    be refused."""

    def __init__(self, lease: claims.Lease, probe: Callable[[], int]) -> None:
        self.lease = lease
        self.probe = probe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.CWOX_JOB_HEARTBEAT_SECONDS):
                try:
                    alive = claims.heartbeat(self.lease, self.probe())
                except Exception:  # a database hiccup: try again at the next beat
                    logger.warning("heartbeat of chunk %s failed", self.lease.chunk_id)
                    continue
                if not alive:
                    logger.warning("chunk %s was taken over by another worker", self.lease.chunk_id)
                    return
        finally:
            connections.close_all()


def run_inline(job_id: int, say: Say | None = None) -> Job:
    """Run every unfinished chunk of the job in this process, step after step, until it is
    finished, cancelled, failed or waits for chunks that another process is running.

    An interruption (Ctrl-C) gives the running chunk back and cancels the job, so that
    ``manage.py run_job resume`` continues it.
    """
    worker = f"{worker_name()} (in-process)"
    while True:
        job = refresh(job_id)
        if job is None:
            raise Job.DoesNotExist(f"job {job_id} no longer exists")
        chunk = ready_chunks(job).first()
        if job.is_finished or chunk is None:
            return job
        try:
            outcome = execute_chunk(chunk.pk, worker, say=say, dispatch=False)
        except BaseException:
            Job.objects.filter(pk=job_id).update(cancel_requested=True)
            refresh(job_id)
            raise
        if outcome.status == Status.BUSY:
            return job


def start_in_thread(job_id: int) -> threading.Thread:
    """Run the job with :func:`run_inline` in a background thread (no broker: the admin's
    jobs run inside the web server process; they stop with it and resume on a re-run)."""

    def run() -> None:
        try:
            run_inline(job_id)
        except Exception:
            logger.exception("job %s stopped", job_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=f"job-{job_id}", daemon=True)
    thread.start()
    return thread
