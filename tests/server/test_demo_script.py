"""The README's main command, without starting the server: a fresh database, the demo study
pregenerated on the embedded classifier, a researcher account, links; then bots complete it."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    """Run ``command`` in the project folder; fail the test with its stderr if it fails."""
    run = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.mark.slow
def test_demo_script_builds_an_open_study_that_bots_complete(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CWOX_MEDIA_ROOT": str(tmp_path / "media"),
        "CWOX_NO_SERVE": "1",
        "CWOX_ADMIN_PASSWORD": "a-test-password",
    }
    work = tmp_path / "work"
    run = _run(["bash", "scripts/demo.sh", "--work", str(work)], env, 900)
    assert "demo study" in run.stdout and "is open" in run.stdout
    assert "http://127.0.0.1:8000/s/demo/expert/" in run.stdout
    assert "researcher admin: http://127.0.0.1:8000/admin/" in run.stdout

    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        roles = dict(
            db.execute("select role, count(*) from studies_stimulusitem group by role").fetchall()
        )
        methods = {m for (m,) in db.execute("select method from studies_condition")}
        groups = {g for (g,) in db.execute("select slug from studies_participantgroup")}
        staff = db.execute("select count(*) from auth_user where is_superuser").fetchone()[0]
    assert roles["training"] >= 3 and roles["test"] >= 10 and roles["attention"] >= 1
    assert methods == {"swox", "cwox-1sb", "cwox-2s"}
    assert groups == {"expert", "non-expert"}
    assert staff == 1

    _run([sys.executable, "manage.py", "simulate_participants", "demo", "--n", "3"], env, 300)
    again = _run(["bash", "scripts/demo.sh", "--work", str(work)], env, 300)
    assert "the demo study exists" in again.stdout
