"""Pregenerating a study's stimuli in chunks that several (GPU) workers share.

``Job.parameters`` is ``{"settings": ..., "chunk_size": N}``: the engine's
:class:`~explain_engine.stimulus_settings.StimulusSettings` as JSON, checked when the job is
created and again by every step that loads it (:func:`job_settings`), and how many items one
chunk holds. Steps, in the job's folder on the media storage (``MEDIA_ROOT/jobs/<id>/``):

1. *prepare* copies the latent tree into the folder (workers installed elsewhere find the
   classifier's own tree at another path) and chooses the pairs with
   :func:`explain_engine.api.choose_pairs` (``pairs.json``, naming that copy), then creates
   one *items* chunk per ``chunk_size`` item ids and the *finish* chunk, in the transaction
   that marks *prepare* done.
2. each *items* chunk calls :func:`explain_engine.api.pregenerate_stimuli` for its item ids
   into the shared ``stimuli/`` folder, without writing the manifest. The engine writes an
   item's files atomically and its done marker last, and skips finished items; so a chunk run
   again after its worker died recomputes only the items that were not finished, and no
   finished item is written twice. Progress is :func:`explain_engine.api.finished_items`.
3. *finish* calls it for every item: each finished item is skipped and
   ``stimuli/manifest.json`` is written from all of them (roles assigned); then the manifest is
   imported into the study (a draft) with :func:`studies.stimuli_import.import_manifest`, in
   the transaction that marks *finish* done: the items are imported exactly once.

Items that fail come back from the engine as (id, reason) values and are listed as the
chunk's errors.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

from explain_engine.api import (
    choose_pairs,
    finished_items,
    pregenerate_stimuli,
    stimulus_classifier,
)
from explain_engine.errors import EngineInputError
from explain_engine.pairs import read_pair_manifest
from explain_engine.pregenerate import MANIFEST_FILE, PregenerationSummary
from explain_engine.stimulus_settings import StimulusSettings
from studies.jobs.kinds import ChunkPlan, JobInputError, Say, StepResult, register_kind
from studies.jobs.models import Job, JobChunk
from studies.models import StimulusItem, Study
from studies.stimuli_import import import_manifest
from studies.stimuli_pipeline import PAIRS, STIMULI, failures, summary_line

TREE = "tree.json"
DEFAULT_CHUNK_SIZE = 8
Step = JobChunk.Step


def pregeneration_parameters(settings: StimulusSettings, chunk_size: int) -> dict[str, Any]:
    """``Job.parameters`` of a pregeneration (checked as :func:`job_settings` will)."""
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise JobInputError(f"chunk_size {chunk_size!r}: expected a whole number >= 1")
    return {"settings": settings.to_json(), "chunk_size": chunk_size}


def job_settings(job: Job) -> tuple[StimulusSettings, int]:
    """The job's stimulus settings and chunk size; JobInputError naming what is wrong."""
    parameters = job.parameters
    if not isinstance(parameters, dict) or set(parameters) != {"settings", "chunk_size"}:
        raise JobInputError("pregeneration parameters: expected 'settings' and 'chunk_size'")
    try:
        settings = StimulusSettings.from_json(parameters["settings"])
    except EngineInputError as error:
        raise JobInputError(str(error)) from None
    chunk_size = parameters["chunk_size"]
    pregeneration_parameters(settings, chunk_size)
    return settings, chunk_size


@register_kind(Job.Kind.PREGENERATE)
class Pregeneration:
    """The ``pregenerate`` kind (see the module docstring)."""

    unit = "items"

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        job_settings(job)
        if job.study_id is None:
            raise JobInputError("a pregeneration needs a study (a draft) to import into")
        return [ChunkPlan(Step.PREPARE, 0)], 0

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        settings, chunk_size = job_settings(job)
        job.work_dir.mkdir(parents=True, exist_ok=True)
        if chunk.step == Step.PREPARE:
            return self._prepare(job, settings, chunk_size, say)
        if chunk.step == Step.ITEMS:
            return self._items(job, settings, chunk, say)
        return self._finish(job, settings, say)

    def probe(self, job: Job, chunk: JobChunk) -> int:
        return len(finished_items(job.work_dir / STIMULI, chunk.item_ids))

    # ------------------------------------------------------------------------------ steps

    def _prepare(
        self, job: Job, settings: StimulusSettings, chunk_size: int, say: Say
    ) -> StepResult:
        classifier = stimulus_classifier(settings)
        tree = settings.tree or classifier.default_tree
        if tree is None:
            raise JobInputError(f"{classifier.name} has no latent tree of its own: give one")
        shutil.copyfile(tree, job.work_dir / TREE)
        summary = choose_pairs(
            replace(settings, tree=job.work_dir / TREE), job.work_dir / PAIRS, classifier=classifier
        )
        ids = [item_id for item_id, _ in read_pair_manifest(summary.manifest).items]
        line = (
            f"{len(ids)} pairs from {summary.images} images; "
            f"{len(summary.selection.unpaired)} without a pair"
        )
        say(line)
        if not ids:
            raise JobInputError(f"no confusing pair in {settings.images}: {line}")
        _refuse_taken(job, ids)
        groups = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]

        def commit() -> None:
            JobChunk.objects.filter(job=job).exclude(step=Step.PREPARE).delete()
            JobChunk.objects.bulk_create(
                [
                    JobChunk(job=job, step=Step.ITEMS, index=n, item_ids=g)
                    for n, g in enumerate(groups)
                ]
                + [JobChunk(job=job, step=Step.FINISH, index=0)]
            )
            Job.objects.filter(pk=job.pk).update(total=len(ids))

        say(f"{len(ids)} items in {len(groups)} chunks of up to {chunk_size}")
        return StepResult(output=line, commit=commit)

    def _items(self, job: Job, settings: StimulusSettings, chunk: JobChunk, say: Say) -> StepResult:
        summary = self._pregenerate(job, settings, say, item_ids=chunk.item_ids)
        reasons = dict(summary.failed)
        finished = finished_items(job.work_dir / STIMULI, chunk.item_ids)
        errors = [
            f"item {item_id}: {reasons.get(item_id, 'not made (see the worker log)')}"
            for item_id in chunk.item_ids
            if item_id not in finished
        ]
        return StepResult(len(finished), errors, summary_line(summary))

    def _finish(self, job: Job, settings: StimulusSettings, say: Say) -> StepResult:
        folder = job.work_dir / STIMULI
        summary = self._pregenerate(job, settings, say, item_ids=None)
        failed = [f"item {item_id}: {reason}" for item_id, reason in summary.failed]

        def commit() -> None:
            study = Study.objects.select_for_update().filter(pk=job.study_id).first()
            if study is None:
                raise JobInputError("the job's study was deleted; nothing imported")
            items = import_manifest(study, folder, source=f"job #{job.pk}: {folder}")
            Job.objects.filter(pk=job.pk).update(
                result={"imported": len(items), "manifest": str(folder / MANIFEST_FILE)}
            )
            say(f"imported {len(items)} items into {study}")

        return StepResult(errors=failed, output=summary_line(summary), commit=commit)

    @staticmethod
    def _pregenerate(
        job: Job, settings: StimulusSettings, say: Say, *, item_ids: list[str] | None
    ) -> PregenerationSummary:
        """Pregenerate ``item_ids`` (None: every item, and write the manifest)."""
        summary = pregenerate_stimuli(
            settings,
            job.work_dir / PAIRS,
            job.work_dir / STIMULI,
            item_ids=item_ids,
            write_manifest=item_ids is None,
            progress=failures(say),
        )
        say(summary_line(summary))
        return summary


def _refuse_taken(job: Job, ids: list[str]) -> None:
    """Fail early when the study has items with these ids (the import would refuse them after
    all the work)."""
    taken = StimulusItem.objects.filter(study_id=job.study_id, key__in=ids)
    if keys := sorted(taken.values_list("key", flat=True)):
        raise JobInputError(f"the study already has items {', '.join(keys)}: nothing to add")
