"""Job and JobChunk: what a background job is, how far it got, and who works on which part.

A job runs in steps; each step is one or more chunks, and a step starts when every chunk of the
step before it is done (pregeneration: *prepare* chooses the pairs and plans the chunks,
*items* chunks compute heatmaps in parallel, *finish* writes the manifest and imports it).
The chunk rows are the source of truth: a worker may run a chunk only after claiming it with a
conditional UPDATE (:mod:`studies.jobs.claims`), so a chunk is never run by two workers at
once, and a re-run only runs the chunks that are not done.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone

from studies.jobs.kinds import get_kind
from studies.jobs.progress import Progress, estimate_eta


def stale_before() -> timezone.datetime:
    """Heartbeats older than this belong to vanished workers (``CWOX_JOB_STALE_SECONDS``)."""
    return timezone.now() - timedelta(seconds=settings.CWOX_JOB_STALE_SECONDS)


class JobQuerySet(models.QuerySet):
    def with_progress(self) -> JobQuerySet:
        """Annotate ``annotated_units_done`` (what :meth:`Job.progress` counts) in one query."""
        return self.annotate(
            annotated_units_done=Sum(
                "chunks__items_done", filter=Q(chunks__step=JobChunk.Step.ITEMS)
            )
        )


class Job(models.Model):
    """One background job: its kind, parameters, state and timing (see the module docstring).

    ``total`` counts the job's units of work (pair items of a pregeneration, known once the
    pairs are chosen; 1 for single-step kinds); the units done are the sum of the *items*
    chunks' ``items_done``. ``done_at_start`` is that sum when the current run started, so that
    the ETA uses the rate of this run only.
    """

    class Kind(models.TextChoices):
        PREGENERATE = "pregenerate", "Pregenerate heatmaps"
        BUILD_DOCUMENTS = "build-documents", "Build documents"
        BUILD_TREE = "build-tree", "Learn a latent tree"
        EVALUATE = "evaluate", "Evaluate faithfulness"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    study = models.ForeignKey(
        "studies.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    done_at_start = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        subject = f" for {self.study}" if self.study_id else ""
        return f"Job #{self.pk}: {self.get_kind_display().lower()}{subject}"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def work_dir(self) -> Path:
        """The job's folder on the media storage (shared by every worker)."""
        return Path(settings.MEDIA_ROOT) / "jobs" / str(self.pk)

    @property
    def unit(self) -> str:
        """What ``total`` counts (the kind's unit: "items", "steps")."""
        try:
            return get_kind(self.kind).unit
        except KeyError:
            return "steps"

    def units_done(self) -> int:
        """Units finished so far (annotated by :meth:`JobQuerySet.with_progress` or queried)."""
        if hasattr(self, "annotated_units_done"):
            return self.annotated_units_done or 0
        items = self.chunks.filter(step=JobChunk.Step.ITEMS)
        return items.aggregate(n=Sum("items_done"))["n"] or 0

    def progress(self) -> Progress:
        """Units done / total, with an ETA while the job runs."""
        done = self.units_done()
        eta = None
        if self.state == self.State.RUNNING:
            eta = estimate_eta(
                done, self.total, self.done_at_start, self.started_at, timezone.now()
            )
        return Progress(done, self.total, self.unit, eta)

    def errors(self) -> list[str]:
        """Every error of the current run: failed chunks and items that could not be made."""
        return [
            f"{chunk.label}: {message}"
            for chunk in self.chunks.exclude(errors=[])
            for message in chunk.errors
        ]

    def stalled(self) -> bool:
        """Whether the job should be running but no worker has shown a sign of life lately
        (its running chunks' heartbeats are stale); "Re-run" then hands them to a new worker."""
        if self.is_finished:
            return False
        running = self.chunks.filter(state=JobChunk.State.RUNNING)
        return running.exists() and not running.filter(heartbeat_at__gte=stale_before()).exists()


class JobChunk(models.Model):
    """One part of a job that one worker runs at a time.

    ``item_ids`` are the pair items of an *items* chunk of a pregeneration (or the engine
    command of a single-step job). ``attempts`` counts claims: a chunk whose worker vanished
    is claimed again, at most :data:`studies.jobs.claims.MAX_ATTEMPTS` times. ``worker``,
    ``heartbeat_at`` and ``attempts`` identify the current lease; ``task_id`` is the Celery
    message last sent for the chunk ("" when none is pending).
    """

    class Step(models.IntegerChoices):
        PREPARE = 0, "prepare"
        ITEMS = 1, "items"
        FINISH = 2, "finish"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    step = models.PositiveSmallIntegerField(choices=Step.choices, default=Step.ITEMS)
    index = models.PositiveIntegerField(default=0)
    item_ids = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    items_done = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True, help_text="The engine's summary lines.")

    class Meta:
        ordering = ("job", "step", "index")
        constraints = [
            models.UniqueConstraint(fields=("job", "step", "index"), name="jobchunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.label}"

    @property
    def label(self) -> str:
        """``"prepare"``, ``"finish"`` or ``"chunk 3"``."""
        if self.step == self.Step.ITEMS:
            return f"chunk {self.index}"
        return self.get_step_display()

    @property
    def is_stale(self) -> bool:
        """Running, but without a heartbeat for ``CWOX_JOB_STALE_SECONDS``."""
        return self.state == self.State.RUNNING and (
            self.heartbeat_at is None or self.heartbeat_at < stale_before()
        )
