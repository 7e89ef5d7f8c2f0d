"""Single-step jobs: one offline engine command (``build-documents``, ``build-tree``,
``evaluate``), run in-process through the engine's API.

``Job.parameters`` is ``{"settings": ...}``: the command's typed settings
(:data:`explain_engine.offline_jobs.OFFLINE_COMMANDS`) as JSON, checked when the job is created
and again when a worker loads them; ``{work}`` in a path stands for the job's folder on the
media storage. :func:`command_parameters` makes them from settings or from the command's
arguments as on its command line (``manage.py run_job build-tree DOCS --out {work}/tree.json``).
The commands resume by themselves when run again with the same output (documents already
written, evaluation units marked done), so a job re-run after a crash continues where the
command stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from explain_engine.cli import parse_settings
from explain_engine.errors import EngineInputError
from explain_engine.offline_jobs import OFFLINE_COMMANDS
from explain_engine.settings import from_json, to_json
from studies.jobs.kinds import ChunkPlan, JobInputError, Say, StepResult, add_kind
from studies.jobs.models import Job, JobChunk

WORK = "{work}"


def command_parameters(command: str, settings: Any) -> dict[str, Any]:
    """``Job.parameters`` of a ``command`` job with these typed settings."""
    settings_type, _ = OFFLINE_COMMANDS[command]
    if not isinstance(settings, settings_type):
        raise JobInputError(f"{command}: expected {settings_type.__name__} settings")
    return {"settings": to_json(settings)}


def parameters_from_arguments(command: str, arguments: Sequence[str]) -> dict[str, Any]:
    """``Job.parameters`` from the command's arguments as on its command line (JobInputError
    with the engine's message for a bad one)."""
    try:
        _, settings = parse_settings([command, *arguments])
    except EngineInputError as error:
        raise JobInputError(str(error)) from None
    return command_parameters(command, settings)


class EngineCommand:
    """A kind that runs one offline engine command as one step."""

    unit = "steps"

    def __init__(self, command: str) -> None:
        self.command = command

    def settings(self, job: Job) -> Any:
        """The job's typed settings, with ``{work}`` replaced by the job's folder."""
        parameters = job.parameters
        if not isinstance(parameters, dict) or set(parameters) != {"settings"}:
            raise JobInputError(f"{self.command}: parameters must hold 'settings' only")
        text = json.dumps(parameters["settings"]).replace(WORK, str(job.work_dir))
        settings_type, _ = OFFLINE_COMMANDS[self.command]
        try:
            return from_json(settings_type, json.loads(text), f"{self.command} settings")
        except EngineInputError as error:
            raise JobInputError(str(error)) from None

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        self.settings(job)
        return [ChunkPlan(JobChunk.Step.ITEMS, 0, [self.command])], 1

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        job.work_dir.mkdir(parents=True, exist_ok=True)
        _, run = OFFLINE_COMMANDS[self.command]
        summary = run(self.settings(job))
        say(summary.text)

        def commit() -> None:
            Job.objects.filter(pk=job.pk).update(
                result={"out": str(summary.out), "summary": summary.text}
            )

        return StepResult(1, list(summary.errors), summary.text, commit)

    def probe(self, job: Job, chunk: JobChunk) -> int:
        return 0


for _command in OFFLINE_COMMANDS:
    add_kind(_command, EngineCommand(_command))
