"""Pregenerating a study's stimuli in chunks that several (GPU) workers share.

Steps, in the job's folder on the media storage (``MEDIA_ROOT/jobs/<id>/``):

1. *prepare* runs ``python -m explain_engine pairs`` once (``pairs.json``), then writes the
   pair manifest again as ``chunks/all.json`` and one ``chunks/chunk-NNNN.json`` per chunk of
   ``chunk_size`` items (the same document with fewer items; the latent tree is copied beside
   them and named relatively, so that workers installed elsewhere find it), and creates the
   *items* chunks and the *finish* chunk in the transaction that marks *prepare* done.
2. each *items* chunk runs ``pregenerate`` on its chunk manifest into the shared
   ``stimuli/`` folder. The engine writes an item's files atomically and its done marker
   (``stimuli/.done/<id>.json``) last, and skips items whose marker matches; so a chunk run
   again after its worker died recomputes only the items that were not finished, and no
   finished item is written twice. Progress is the number of done markers.
3. *finish* runs ``pregenerate`` over ``chunks/all.json``: every finished item is skipped and
   ``stimuli/manifest.json`` is written from all of them (roles assigned); then the manifest is
   imported into the study (a draft) with :func:`studies.stimuli_import.import_manifest`, in
   the transaction that marks *finish* done: the items are imported exactly once.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from studies.jobs.engine import run_engine_command
from studies.jobs.kinds import ChunkPlan, JobInputError, Say, StepResult
from studies.jobs.models import Job, JobChunk
from studies.models import StimulusItem, Study
from studies.stimuli_import import import_manifest
from studies.stimuli_pipeline import StimulusJob, pairs_arguments, pregenerate_arguments

PAIRS = "pairs.json"
CHUNKS = "chunks"
ALL_ITEMS = "all.json"
STIMULI = "stimuli"
EXPLAINERS = ("gradcam", "rise")
Step = JobChunk.Step


@dataclass(frozen=True)
class PregenerationSettings:
    """A pregeneration job's parameters (``Job.parameters``), checked.

    ``images`` is a folder every worker reaches at this path; ``methods`` are the study's
    condition methods; ``rise_masks`` is the engine's ``--rise-masks`` (``"5000,3000"``);
    ``training`` gives the first N items the training role; ``chunk_size`` items per chunk;
    ``batch_size`` None keeps the engine's default.
    """

    images: str
    methods: tuple[str, ...]
    explainer: str = "gradcam"
    device: str = "auto"
    rise_masks: str | None = None
    tree: str | None = None
    per_pair: int = 1
    floor: float = 0.05
    training: int = 0
    model: str | None = None
    chunk_size: int = 8
    batch_size: int | None = None

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> PregenerationSettings:
        """Read ``parameters``; JobInputError naming the field that is missing or wrong."""
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(parameters) - known):
            raise JobInputError(f"unknown pregeneration parameter(s): {', '.join(unknown)}")
        try:
            settings = cls(**{**parameters, "methods": tuple(parameters.get("methods") or ())})
        except TypeError as error:
            raise JobInputError(f"pregeneration parameters: {error}") from None
        settings.check()
        return settings

    def check(self) -> None:
        if not self.images:
            raise JobInputError("images: give the folder of images on the server")
        if not self.methods:
            raise JobInputError("methods: the study has no conditions (methods) yet")
        if self.explainer not in EXPLAINERS:
            raise JobInputError(f"explainer {self.explainer!r}: expected one of {EXPLAINERS}")
        for name in ("chunk_size", "per_pair", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise JobInputError(f"{name} {value!r}: expected a whole number >= 1")
        if not isinstance(self.training, int) or self.training < 0:
            raise JobInputError(f"training {self.training!r}: expected a whole number >= 0")

    def as_parameters(self) -> dict[str, Any]:
        return {**asdict(self), "methods": list(self.methods)}

    def stimulus_job(self) -> StimulusJob:
        """The same settings as the engine pipeline's job description."""
        return StimulusJob(
            images=Path(self.images),
            work=Path(),
            methods=self.methods,
            explainer=self.explainer,
            device=self.device,
            rise_masks=self.rise_masks,
            tree=Path(self.tree) if self.tree else None,
            per_pair=self.per_pair,
            floor=self.floor,
            roles=f"training={self.training}" if self.training else None,
            model=self.model,
            batch_size=self.batch_size,
        )

    def pairs_arguments(self, out: Path) -> list[str]:
        """``python -m explain_engine pairs`` arguments writing the pair manifest ``out``."""
        return pairs_arguments(self.stimulus_job(), out)

    def pregenerate_arguments(self, pairs: Path, out: Path, *, roles: bool) -> list[str]:
        """``pregenerate`` arguments for pair manifest ``pairs`` into the folder ``out``;
        ``roles`` assigns the training role (only the final manifest needs it)."""
        return pregenerate_arguments(self.stimulus_job(), pairs, out, roles=roles)


def chunk_manifest(work: Path, index: int) -> Path:
    """The pair manifest of items chunk ``index``."""
    return work / CHUNKS / f"chunk-{index:04d}.json"


class Pregeneration:
    """The ``pregenerate`` kind (see the module docstring)."""

    unit = "items"

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        PregenerationSettings.from_parameters(job.parameters)
        if job.study_id is None:
            raise JobInputError("a pregeneration needs a study (a draft) to import into")
        return [ChunkPlan(Step.PREPARE, 0)], 0

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        settings = PregenerationSettings.from_parameters(job.parameters)
        job.work_dir.mkdir(parents=True, exist_ok=True)
        if chunk.step == Step.PREPARE:
            return self._prepare(job, settings, say)
        if chunk.step == Step.ITEMS:
            return self._items(job, settings, chunk, say)
        return self._finish(job, settings, say)

    def probe(self, job: Job, chunk: JobChunk) -> int:
        return sum(_finished(job, item_id) for item_id in chunk.item_ids)

    # ------------------------------------------------------------------------------ steps

    def _prepare(self, job: Job, settings: PregenerationSettings, say: Say) -> StepResult:
        from explain_engine.pairs import read_pair_manifest

        pairs = job.work_dir / PAIRS
        report = run_engine_command(
            settings.pairs_arguments(pairs), say, partial_tree=bool(settings.tree)
        )
        manifest = read_pair_manifest(pairs)
        ids = [item_id for item_id, _ in manifest.items]
        if not ids:
            raise JobInputError(
                f"no confusing pair in {settings.images}: " + "; ".join(report.lines[-3:])
            )
        _refuse_taken(job, ids)
        groups = [ids[i : i + settings.chunk_size] for i in range(0, len(ids), settings.chunk_size)]
        _write_chunk_manifests(job.work_dir, pairs, manifest.tree, groups)

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

        say(f"{len(ids)} items in {len(groups)} chunks of up to {settings.chunk_size}")
        return StepResult(output=report.text, commit=commit)

    def _items(
        self, job: Job, settings: PregenerationSettings, chunk: JobChunk, say: Say
    ) -> StepResult:
        arguments = settings.pregenerate_arguments(
            chunk_manifest(job.work_dir, chunk.index), job.work_dir / STIMULI, roles=False
        )
        report = run_engine_command(arguments, say, partial_tree=bool(settings.tree))
        missing = [item_id for item_id in chunk.item_ids if not _finished(job, item_id)]
        errors = [
            f"item {item_id}: {report.item_errors.get(item_id, 'not made (see the worker log)')}"
            for item_id in missing
        ]
        return StepResult(len(chunk.item_ids) - len(missing), errors, report.text)

    def _finish(self, job: Job, settings: PregenerationSettings, say: Say) -> StepResult:
        from explain_engine.pregenerate import MANIFEST_FILE

        folder = job.work_dir / STIMULI
        arguments = settings.pregenerate_arguments(
            job.work_dir / CHUNKS / ALL_ITEMS, folder, roles=True
        )
        report = run_engine_command(arguments, say, partial_tree=bool(settings.tree))
        written = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        failed = [f"item {entry['id']}: {entry['reason']}" for entry in written.get("failed", [])]

        def commit() -> None:
            study = Study.objects.select_for_update().filter(pk=job.study_id).first()
            if study is None:
                raise JobInputError("the job's study was deleted; nothing imported")
            items = import_manifest(study, folder, source=f"job #{job.pk}: {folder}")
            Job.objects.filter(pk=job.pk).update(
                result={"imported": len(items), "manifest": str(folder / MANIFEST_FILE)}
            )
            say(f"imported {len(items)} items into {study}")

        return StepResult(errors=failed, output=report.text, commit=commit)


def _refuse_taken(job: Job, ids: list[str]) -> None:
    """Fail early when the study has items with these ids (the import would refuse them after
    all the work)."""
    taken = StimulusItem.objects.filter(study_id=job.study_id, key__in=ids)
    if keys := sorted(taken.values_list("key", flat=True)):
        raise JobInputError(f"the study already has items {', '.join(keys)}: nothing to add")


def _finished(job: Job, item_id: str) -> bool:
    """Whether the engine wrote the item's done marker (its files are complete: the marker is
    written last)."""
    from explain_engine.pregenerate import DONE_DIR

    return (job.work_dir / STIMULI / DONE_DIR / f"{item_id}.json").is_file()


def _write_chunk_manifests(work: Path, pairs: Path, tree: Path, groups: list[list[str]]) -> None:
    """``chunks/all.json`` and one manifest per group of item ids, from ``pairs``, with the
    tree copied beside them (see the module docstring)."""
    from explain_engine.files import write_json_atomically

    folder = work / CHUNKS
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tree, folder / tree.name)
    document = {**json.loads(pairs.read_text(encoding="utf-8")), "tree": tree.name}
    by_id = {item["id"]: item for item in document["items"]}
    write_json_atomically(folder / ALL_ITEMS, document)
    for index, group in enumerate(groups):
        subset = {**document, "items": [by_id[item_id] for item_id in group]}
        write_json_atomically(chunk_manifest(work, index), subset)
