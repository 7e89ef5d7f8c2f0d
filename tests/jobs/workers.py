"""Real Celery workers for tests: ``python -m celery -A studyserver worker`` subprocesses on
Redis (DB 15) and the PostgreSQL database of the test session.

Each worker gets the environment a deployed worker would have (``CELERY_BROKER_URL``,
``DATABASE_URL`` naming pytest-django's ``test_…`` database, ``CWOX_MEDIA_ROOT``), with short
heartbeats so that a vanished worker's chunk is taken over within seconds. The test process
sends its messages to the same Redis database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.db import connection

from studies.jobs.models import Job
from studyserver.celery import app

REDIS_URL = os.environ.get("CWOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 90.0
HEARTBEAT_SECONDS = "0.5"
STALE_SECONDS = "4"


@dataclass
class Worker:
    """One worker process (its own process group: killing it kills its pool too)."""

    name: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def is_ready(self) -> bool:
        return " ready." in self.log.read_text(errors="replace")

    def consume(self, queue: str) -> None:
        """Make the (running) worker consume ``queue`` too (Celery remote control)."""
        replies = app.control.add_consumer(queue, destination=[self.nodename], reply=True)
        assert replies, f"{self.name} did not answer add_consumer"

    @property
    def nodename(self) -> str:
        return f"{self.name}@{socket.gethostname()}"

    def stop(self) -> None:
        """Kill the worker and its pool processes (the test is over: nothing to finish)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class WorkerPool:
    """Starts workers (:meth:`start`) and waits for jobs (:meth:`wait`)."""

    environment: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    def start(
        self, name: str, app_module: str = "studyserver", queue: str = "celery", **env: str
    ) -> Worker:
        """Start worker ``name@host`` (prefork, one pool process) consuming ``queue``; see
        :meth:`ready` to wait for it."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", app_module, "worker", "--pool=prefork"]
        command += ["--concurrency=1", "-n", f"{name}@%h", "--without-mingle", "--without-gossip"]
        command += ["-Q", queue, "--loglevel=INFO"]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.environment, **env},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self.workers.append(worker)
        return worker

    def ready(self, *workers: Worker) -> None:
        """Wait until every one of ``workers`` has connected and is ready for tasks."""
        for worker in workers:
            self.until(worker.is_ready, READY_SECONDS, worker)

    def wait(self, job: Job, seconds: float = 120.0) -> Job:
        """Wait until ``job`` is finished; fail with the workers' logs after ``seconds``."""
        self.until(lambda: Job.objects.get(pk=job.pk).is_finished, seconds)
        return Job.objects.get(pk=job.pk)

    def until(
        self, condition: Callable[[], bool], seconds: float, starting: Worker | None = None
    ) -> None:
        """Wait for ``condition``; fail with the workers' logs after ``seconds`` (or at once
        when the ``starting`` worker exits)."""
        deadline = time.monotonic() + seconds
        while not condition():
            if starting is not None and not starting.alive():
                pytest.fail(f"worker {starting.name} exited at start\n{starting.tail()}")
            if time.monotonic() > deadline:
                logs = "\n".join(worker.tail() for worker in self.workers)
                pytest.fail(f"gave up waiting after {seconds:.0f} s\n{logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def database_url() -> str:
    """The URL of the database this test session uses (pytest-django's ``test_…``)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


@contextlib.contextmanager
def broker() -> Iterator[redis.Redis]:
    """Configure this process's Celery app with the test broker (an emptied Redis database)
    and put the configuration back afterwards; yields a Redis client of that database."""
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"needs Redis at {REDIS_URL} ({error})")
    client.flushdb()
    saved = {key: app.conf[key] for key in ("broker_url", "result_backend")}
    app.close()
    app.conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL)
    try:
        yield client
    finally:
        app.close()
        app.conf.update(saved)
        client.flushdb()


@contextlib.contextmanager
def start_pool(media_root: Path, logs: Path) -> Iterator[WorkerPool]:
    """A :class:`WorkerPool` with the broker configured in this process too; the workers are
    stopped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "worker processes share the test database: needs PostgreSQL "
            "(DATABASE_URL=postgres://postgres@127.0.0.1:5432/cwox, as scripts/test.sh sets)"
        )
    media_root.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "DATABASE_URL": database_url(),
        "CWOX_MEDIA_ROOT": str(media_root),
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "CWOX_JOB_HEARTBEAT_SECONDS": HEARTBEAT_SECONDS,
        "CWOX_JOB_STALE_SECONDS": STALE_SECONDS,
        "CWOX_BROKER_RESTORE_INTERVAL": "1",
        "OMP_NUM_THREADS": "1",
    }
    with broker():
        pool = WorkerPool(environment, logs)
        try:
            yield pool
        finally:
            pool.stop()
