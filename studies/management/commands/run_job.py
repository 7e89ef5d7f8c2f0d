"""``manage.py run_job``: start, follow, cancel and resume background jobs from the shell.

With a broker configured (``CELERY_BROKER_URL``) a new job is sent to the Celery workers
(``--wait`` follows its progress); without one (the embedded default), or with ``--inline``,
it runs right here, chunk after chunk, exactly as a worker would run it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from explain_engine.errors import EngineInputError
from explain_engine.registry import explainer_names
from explain_engine.settings import choose_explainer
from studies.jobs.control import (
    JobError,
    cancel_job,
    create_job,
    create_pregeneration,
    rerun_job,
    start_job,
)
from studies.jobs.dispatch import DispatchError, broker_configured
from studies.jobs.engine_commands import parameters_from_arguments
from studies.jobs.kinds import JobInputError
from studies.jobs.models import Job
from studies.jobs.runner import run_inline
from studies.management.pair_options import add_pair_arguments, pair_rules
from studies.models import Study

ENGINE_KINDS = {
    "build-documents": "IMAGES_DIR --out {work}/docs.jsonl [--views N] [--device cuda]",
    "build-tree": "DOCS.jsonl --out {work}/tree.json [--max-top 15] [--seed N]",
    "evaluate": "IMAGES_DIR --out {work}/evaluation [--explainers gradcam] [--limit N]",
}
FOLLOW_SECONDS = 2.0


class Command(BaseCommand):
    help = (
        "Background jobs: pregenerate a study's heatmaps in chunks, build documents, learn a "
        "tree, evaluate faithfulness; resume, cancel or show jobs. Runs in this process when "
        "no broker is configured (or with --inline), else on the Celery workers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        pregenerate = actions.add_parser(
            "pregenerate", help="pairs and heatmaps of IMAGES_DIR, imported into a draft STUDY"
        )
        pregenerate.add_argument("study", help="the study's slug (a draft with conditions)")
        pregenerate.add_argument("images", help="folder of images that every worker reaches")
        pregenerate.add_argument("--explainer", choices=explainer_names(), default="gradcam")
        pregenerate.add_argument("--rise-masks", help="RISE masks for stage 1,stage 2")
        pregenerate.add_argument("--device", default="auto", help="auto, cpu or cuda")
        pregenerate.add_argument("--model", help="classifier (default: the embedded one)")
        pregenerate.add_argument("--tree", help="latent tree (default: the model's own)")
        add_pair_arguments(pregenerate)
        pregenerate.add_argument("--training", type=int, default=0, help="training items")
        pregenerate.add_argument("--chunk-size", type=int, help="items per chunk (default 8)")
        pregenerate.add_argument("--batch-size", type=int, help="images per engine batch")
        _add_start_options(pregenerate)
        for kind, usage in ENGINE_KINDS.items():
            command = actions.add_parser(
                kind, help=f"python -m explain_engine {kind} as a job (its settings are stored)"
            )
            command.add_argument("--study", help="the study this job is for (optional)")
            _add_start_options(command)
            command.add_argument(
                "arguments",
                nargs=argparse.REMAINDER,
                help=f"the engine command's arguments ({{work}} = the job's folder): {usage}",
            )
        resume = actions.add_parser("resume", help="run a job's unfinished chunks again")
        resume.add_argument("job", type=int)
        _add_start_options(resume)
        cancel = actions.add_parser("cancel", help="stop a job between chunks")
        cancel.add_argument("job", type=int)
        status = actions.add_parser("status", help="recent jobs, or one job in detail")
        status.add_argument("job", type=int, nargs="?")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        try:
            if action == "status":
                self._status(options["job"])
            elif action == "cancel":
                job = cancel_job(_job(options["job"]))
                self.stdout.write(f"{job}: cancel requested ({job.get_state_display()})")
            elif action == "resume":
                self._start(rerun_job(_job(options["job"])), options)
            else:
                self._start(self._create(action, options), options)
        except (JobInputError, JobError, DispatchError) as error:
            raise CommandError(str(error)) from error

    def _create(self, action: str, options: dict) -> Job:
        if action == "pregenerate":
            try:
                explainer = choose_explainer(options["explainer"], masks=options["rise_masks"])
                rules = pair_rules(options)
            except EngineInputError as error:
                raise JobInputError(str(error)) from None
            chosen = {
                name: options[name]
                for name in ("device", "model", "batch_size", "training", "chunk_size")
                if options[name] is not None
            }
            return create_pregeneration(
                _study(options["study"]),
                options["images"],
                explainer=explainer,
                rules=rules,
                labels=options["labels"],
                tree=Path(options["tree"]) if options["tree"] else None,
                **chosen,
            )
        study = _study(options["study"]) if options["study"] else None
        parameters = parameters_from_arguments(action, options["arguments"])
        return create_job(action, parameters, study=study)

    def _start(self, job: Job, options: dict) -> None:
        if broker_configured() and not options["inline"]:
            start_job(job)
            self.stdout.write(f"{job} sent to the workers; follow it in the admin (Jobs)")
            if options["wait"]:
                self._report(self._follow(job))
            return
        self.stdout.write(f"{job} runs in this process")
        try:
            job = run_inline(job.pk, say=self.stdout.write)
        except KeyboardInterrupt:
            raise CommandError(
                f"interrupted; continue with: manage.py run_job resume {job.pk}"
            ) from None
        self._report(job)

    def _follow(self, job: Job) -> Job:
        shown = ""
        while not job.is_finished:
            time.sleep(FOLLOW_SECONDS)
            job = Job.objects.get(pk=job.pk)
            line = f"{job.get_state_display()}: {job.progress().text()}"
            if line != shown:
                self.stdout.write(line)
                shown = line
        return job

    def _report(self, job: Job) -> None:
        for error in job.errors():
            self.stderr.write(f"error: {error}")
        line = f"{job}: {job.get_state_display().lower()}, {job.progress().text()}"
        if job.state == Job.State.SUCCEEDED:
            self.stdout.write(self.style.SUCCESS(line))
        elif job.is_finished:
            raise CommandError(f"{line}; fix the cause, then: manage.py run_job resume {job.pk}")
        else:
            self.stdout.write(f"{line} (chunks are running elsewhere)")

    def _status(self, job_id: int | None) -> None:
        if job_id is None:
            for job in Job.objects.with_progress()[:20]:
                progress = job.progress().text()
                self.stdout.write(f"#{job.pk:<5} {job.kind:<16} {job.state:<10} {progress}")
            return
        job = _job(job_id)
        self.stdout.write(f"{job}: {job.get_state_display().lower()}, {job.progress().text()}")
        for chunk in job.chunks.all():
            where = f" on {chunk.worker}" if chunk.worker else ""
            self.stdout.write(
                f"  {chunk.label:<10} {chunk.state:<8} attempts {chunk.attempts}{where}"
            )
        for error in job.errors():
            self.stdout.write(f"  error: {error}")


def _add_start_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inline", action="store_true", help="run here even when a broker is configured"
    )
    parser.add_argument(
        "--wait", action="store_true", help="with a broker: follow the job until it ends"
    )


def _study(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"no study with slug {slug!r}")
    return study


def _job(job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise CommandError(f"no job #{job_id}")
    return job
