"""What researchers do with jobs (from the admin or ``manage.py run_job``): create, start,
cancel, re-run.

Starting: with a broker, the ready chunks are sent to the workers; without one, the admin runs
the job in a background thread of the web server and the command runs it in its own process
(:func:`studies.jobs.runner.run_inline`). Cancelling stops a job between chunks: queued
messages are revoked (and refused by the claim anyway), running chunks finish. A re-run of a
failed, cancelled or stalled job runs only the chunks that are not done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from explain_engine.errors import EngineInputError
from explain_engine.stimulus_settings import StimulusSettings
from studies.jobs import claims
from studies.jobs.dispatch import broker_configured, dispatch_ready, revoke_pending
from studies.jobs.kinds import JobInputError, get_kind
from studies.jobs.models import Job, JobChunk, stale_before
from studies.jobs.pregeneration import DEFAULT_CHUNK_SIZE, pregeneration_parameters
from studies.jobs.runner import start_in_thread
from studies.jobs.state import refresh
from studies.models import Study

ACTIVE = (Job.State.QUEUED, Job.State.RUNNING)


class JobError(RuntimeError):
    """A job operation that does not apply (re-run a running job, cancel a finished one)."""


def create_job(
    kind: str,
    parameters: dict[str, Any],
    *,
    study: Study | None = None,
    user: AbstractBaseUser | None = None,
) -> Job:
    """A new queued job with its first chunks (nothing runs yet: see :func:`start_job`).

    Raises JobInputError when the kind refuses the parameters.
    """
    with transaction.atomic():
        job = Job(kind=kind, study=study, parameters=parameters, created_by=user)
        plans, job.total = get_kind(kind).plan(job)
        job.save()
        JobChunk.objects.bulk_create(
            JobChunk(job=job, step=plan.step, index=plan.index, item_ids=plan.item_ids)
            for plan in plans
        )
    return job


def create_pregeneration(
    study: Study,
    images: str | Path,
    *,
    user: AbstractBaseUser | None = None,
    training: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    **options: Any,
) -> Job:
    """A pregeneration job for ``study`` (a draft with conditions) from the image folder
    ``images``: the first ``training`` items train, ``chunk_size`` items per chunk, and
    ``options`` are further :class:`~explain_engine.stimulus_settings.StimulusSettings` fields
    (explainer, device, model, tree, rules, batch_size). The methods are the study's
    conditions'. Refused (JobInputError) for bad settings and while another pregeneration of
    the study is active."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        try:
            study.require_draft("stimulus items")
        except ValidationError as error:
            raise JobInputError(" ".join(error.messages)) from None
        active = study.jobs.filter(kind=Job.Kind.PREGENERATE, state__in=ACTIVE).first()
        if active is not None:
            raise JobInputError(f"{active} is still {active.state}: wait for it or cancel it")
        methods = tuple(study.conditions.order_by("position").values_list("method", flat=True))
        if not methods:
            raise JobInputError("methods: the study has no conditions (methods) yet")
        if not isinstance(training, int) or training < 0:
            raise JobInputError(f"training {training!r}: expected a whole number >= 0")
        try:
            settings = StimulusSettings(
                images=Path(images).resolve(),
                methods=methods,
                roles=(("training", training),) if training else (),
                **options,
            )
        except EngineInputError as error:
            raise JobInputError(str(error)) from None
        parameters = pregeneration_parameters(settings, chunk_size)
        return create_job(Job.Kind.PREGENERATE, parameters, study=study, user=user)


def start_job(job: Job) -> str:
    """Start ``job`` where it runs best: ``"queued"`` (sent to the workers) with a broker,
    ``"thread"`` (a background thread of this process) without one."""
    if broker_configured():
        dispatch_ready(refresh(job.pk) or job)
        return "queued"
    start_in_thread(job.pk)
    return "thread"


def cancel_job(job: Job) -> Job:
    """Request cancellation: chunks not started are skipped (queued messages revoked),
    running ones finish; the job is cancelled once nothing runs."""
    if not Job.objects.filter(pk=job.pk, state__in=ACTIVE).update(cancel_requested=True):
        job.refresh_from_db()
        raise JobError(f"{job} is {job.get_state_display().lower()}: nothing to cancel")
    revoke_pending(job)
    return refresh(job.pk) or job


def rerun_job(job: Job) -> Job:
    """Make a job that is not running (failed, cancelled, stalled, or whose messages were
    lost) queued again, with only its unfinished chunks to run (failed chunks get new
    attempts); start it with :func:`start_job`. Refused while a chunk is being run."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state == Job.State.SUCCEEDED:
            raise JobError(f"{job} has succeeded: nothing to re-run")
        busy = job.chunks.filter(state=JobChunk.State.RUNNING, heartbeat_at__gte=stale_before())
        if busy.exists():
            doing = "being cancelled" if job.cancel_requested else "running"
            raise JobError(f"{job} is still {doing} ({busy.first().label}): try again later")
        claims.reset_stale(job.pk)
        job.chunks.filter(state=JobChunk.State.FAILED).update(
            state=JobChunk.State.PENDING, attempts=0, errors=[], worker=""
        )
        job.chunks.filter(state=JobChunk.State.PENDING).update(task_id="")
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.QUEUED,
            cancel_requested=False,
            started_at=None,
            finished_at=None,
            done_at_start=job.units_done(),
        )
    job.refresh_from_db()
    return job
