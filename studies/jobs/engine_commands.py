"""Single-step jobs: one engine command (``build-documents``, ``build-tree``, ``evaluate``).

These commands resume by themselves when run again with the same output (documents already
written, evaluation units marked done), so a job re-run after a crash continues where the
command stopped. ``Job.parameters`` is ``{"arguments": [...]}``: the command's arguments as on
its command line, where ``{work}`` stands for the job's folder on the media storage.
"""

from __future__ import annotations

from studies.jobs.engine import run_engine_command
from studies.jobs.kinds import ChunkPlan, JobInputError, Say, StepResult
from studies.jobs.models import Job, JobChunk

WORK = "{work}"


class EngineCommand:
    """A kind that runs ``python -m explain_engine COMMAND ARGUMENTS`` as one step."""

    unit = "steps"

    def __init__(self, command: str) -> None:
        self.command = command

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        arguments = job.parameters.get("arguments")
        if not arguments or not all(isinstance(a, str) for a in arguments):
            raise JobInputError(
                f"{self.command}: parameters must hold 'arguments', the command's arguments"
            )
        return [ChunkPlan(JobChunk.Step.ITEMS, 0, [self.command])], 1

    def arguments(self, job: Job) -> list[str]:
        """The command line, with ``{work}`` replaced by the job's folder."""
        return [a.replace(WORK, str(job.work_dir)) for a in job.parameters["arguments"]]

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        job.work_dir.mkdir(parents=True, exist_ok=True)
        arguments = self.arguments(job)
        report = run_engine_command([self.command, *arguments], say)
        out = arguments[arguments.index("--out") + 1] if "--out" in arguments[:-1] else None

        def commit() -> None:
            Job.objects.filter(pk=job.pk).update(result={"out": out, "summary": report.text})

        return StepResult(1, report.errors, report.text, commit)

    def probe(self, job: Job, chunk: JobChunk) -> int:
        return 0
