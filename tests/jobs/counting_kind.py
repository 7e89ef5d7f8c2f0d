"""An engine-free job kind for fast tests of the job machinery.

*prepare* splits ``parameters["items"]`` into chunks of ``parameters["chunk_size"]``; each
*items* chunk appends one line per item to ``<work>/<item>.txt`` (so a file with two lines was
written twice); *finish* stores every item file's line count in ``Job.result``. Hooks in the
parameters: ``fail`` (an item whose chunk raises), ``interrupt`` (an item that raises
KeyboardInterrupt, as Ctrl-C would) and ``cancel_at`` (an item at which a researcher cancels
the job, while its chunk runs).
"""

from __future__ import annotations

from studies.jobs.control import cancel_job
from studies.jobs.kinds import ChunkPlan, Say, StepResult
from studies.jobs.models import Job, JobChunk

COUNTING = "counting"
Step = JobChunk.Step


class CountingKind:
    unit = "items"

    def __init__(self) -> None:
        self.runs: list[str] = []

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        return [ChunkPlan(Step.PREPARE, 0)], 0

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        self.runs.append(chunk.label)
        job.work_dir.mkdir(parents=True, exist_ok=True)
        if chunk.step == Step.PREPARE:
            return self._prepare(job)
        if chunk.step == Step.FINISH:
            counts = {path.stem: len(path.read_text().splitlines()) for path in self._files(job)}

            def record() -> None:
                Job.objects.filter(pk=job.pk).update(result={"writes": counts})

            return StepResult(commit=record)
        for item in chunk.item_ids:
            if item == job.parameters.get("fail"):
                raise RuntimeError(f"item {item} is broken")
            if item == job.parameters.get("interrupt"):
                raise KeyboardInterrupt
            with (job.work_dir / f"{item}.txt").open("a") as handle:
                handle.write(f"{chunk.label}\n")
            if item == job.parameters.get("cancel_at"):
                cancel_job(job)
        return StepResult(items_done=len(chunk.item_ids), output=f"wrote {chunk.item_ids}")

    def probe(self, job: Job, chunk: JobChunk) -> int:
        return sum((job.work_dir / f"{item}.txt").exists() for item in chunk.item_ids)

    def _prepare(self, job: Job) -> StepResult:
        items = job.parameters["items"]
        size = job.parameters.get("chunk_size", 1)
        groups = [items[i : i + size] for i in range(0, len(items), size)]

        def create_chunks() -> None:
            JobChunk.objects.bulk_create(
                [
                    JobChunk(job=job, step=Step.ITEMS, index=n, item_ids=g)
                    for n, g in enumerate(groups)
                ]
                + [JobChunk(job=job, step=Step.FINISH)]
            )
            Job.objects.filter(pk=job.pk).update(total=len(items))

        return StepResult(commit=create_chunks)

    @staticmethod
    def _files(job: Job):
        return sorted(job.work_dir.glob("*.txt"))
