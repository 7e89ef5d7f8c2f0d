"""Fixtures of the job tests: media under a temporary folder, photographs to explain, a small
engine-free job kind, and real Celery workers (``tests/jobs/workers.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from studies.jobs.kinds import KINDS
from tests.jobs.counting_kind import COUNTING, CountingKind
from tests.jobs.workers import WorkerPool, broker, start_pool


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def photos(tmp_path: Path) -> Callable[..., Path]:
    """``photos("chelsea", "rocket")``: a folder with those demo photographs."""
    from explain_engine.demo_photos import PHOTOS, bundled_photo

    def folder(*names: str) -> Path:
        images = tmp_path / "images"
        images.mkdir(exist_ok=True)
        for name in names:
            source = bundled_photo(*PHOTOS[name])
            (images / f"{name}{source.suffix}").write_bytes(source.read_bytes())
        return images

    return folder


@pytest.fixture
def counting(monkeypatch) -> CountingKind:
    """The engine-free ``counting`` job kind, registered for this test."""
    kind = CountingKind()
    monkeypatch.setitem(KINDS, COUNTING, kind)
    return kind


@pytest.fixture
def quick_leases(settings) -> None:
    """Heartbeats every 0.2 s; a chunk without one for 1 s is abandoned."""
    settings.CWOX_JOB_HEARTBEAT_SECONDS = 0.2
    settings.CWOX_JOB_STALE_SECONDS = 1.0


@pytest.fixture
def workers(transactional_db, media_root: Path, tmp_path: Path) -> Iterator[WorkerPool]:
    """Start real ``celery -A studyserver worker`` processes on Redis DB 15 and this test's
    PostgreSQL database; they are killed at the end of the test (skips without either)."""
    with start_pool(media_root, tmp_path / "worker-logs") as pool:
        yield pool


@pytest.fixture
def redis_broker(transactional_db):
    """This process sends its messages to Redis DB 15 (no workers listen); yields a client."""
    with broker() as client:
        yield client
