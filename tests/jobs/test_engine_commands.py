"""Single-step jobs run an engine command (here: learning a latent tree) with ``{work}``
standing for the job's folder; a refused option fails the job with the engine's message, and
a re-run after fixing it succeeds."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from explain_engine.tree import LatentTree
from studies.jobs.engine_commands import parameters_from_arguments
from studies.jobs.models import Job, JobChunk

pytestmark = pytest.mark.django_db(transaction=True)


def _documents(path: Path) -> Path:
    """300 two-label documents, each within classes {0, 1, 2} or {3, 4, 5}."""
    pick = random.Random(0)
    lines = [
        json.dumps({"image": f"{n}.jpg", "view": 0, "classes": pick.sample(group, 2)})
        for n in range(300)
        for group in [pick.choice([[0, 1, 2], [3, 4, 5]])]
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_job_learns_a_tree_into_the_jobs_folder(tmp_path):
    documents = _documents(tmp_path / "docs.jsonl")
    arguments = [
        str(documents),
        "--out",
        "{work}/tree.json",
        "--classes",
        "6",
        "--restarts",
        "1",
        "--em-steps",
        "20",
    ]
    call_command("run_job", "build-tree", *arguments, stdout=io.StringIO())
    job = Job.objects.get()
    assert (job.kind, job.state, job.progress().text()) == (
        "build-tree",
        "succeeded",
        "1 / 1 steps",
    )
    tree = job.work_dir / "tree.json"
    assert job.result["out"] == str(tree)
    assert "300 documents" in job.result["summary"]
    learned = LatentTree.load(tree)
    assert sorted(learned.class_indices) == list(range(6))
    assert learned.metadata["num_documents"] == 300


def test_a_refused_option_creates_no_job(tmp_path):
    documents = _documents(tmp_path / "docs.jsonl")
    with pytest.raises(CommandError, match="the following arguments are required: --out"):
        call_command(
            "run_job", "build-tree", str(documents), "--classes", "6", stdout=io.StringIO()
        )
    assert not Job.objects.exists()


def test_stored_settings_are_checked_on_load_and_a_fixed_rerun_succeeds(tmp_path):
    documents = _documents(tmp_path / "docs.jsonl")
    arguments = [str(documents), "--out", "{work}/tree.json", "--classes", "6"]
    arguments += ["--restarts", "1", "--em-steps", "20"]
    parameters = parameters_from_arguments("build-tree", arguments)
    assert parameters["settings"]["hlta"]["em_restarts"] == 1
    broken = json.loads(json.dumps(parameters))
    broken["settings"]["hlta"]["em_restarts"] = "one"
    job = Job.objects.create(kind="build-tree", parameters=broken, total=1)
    JobChunk.objects.create(job=job, step=JobChunk.Step.ITEMS, item_ids=["build-tree"])
    with pytest.raises(CommandError, match="failed, 0 / 1 steps"):
        call_command("run_job", "resume", str(job.pk), stdout=io.StringIO())
    assert job.errors() == ["chunk 0: build-tree settings.hlta.em_restarts: 'one' (expected int)"]
    Job.objects.filter(pk=job.pk).update(parameters=parameters)
    call_command("run_job", "resume", str(job.pk), stdout=io.StringIO())
    assert Job.objects.get().state == Job.State.SUCCEEDED
