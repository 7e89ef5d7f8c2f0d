"""``celery -A tests.jobs.crashing_worker worker``: the study server's workers, with a way to
kill one in the middle of a chunk, for the crash test.

When the file named by ``CWOX_TEST_CRASH_ARM`` exists, the first pool process that writes an
item's done marker (the engine's last write for an item) removes the file and kills its worker
at once: the main process with SIGKILL (so it cannot hand the task back), then itself. The
chunk's other items are unfinished; its message stays unacknowledged in Redis until the
broker gives it to another worker.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from studyserver.celery import app

ARM = "CWOX_TEST_CRASH_ARM"

__all__ = ["app"]


@worker_process_init.connect
def install_crash_hook(**kwargs: Any) -> None:
    arm = os.environ.get(ARM)
    if not arm:
        return
    from explain_engine import pregenerate

    write = pregenerate.write_json_atomically

    def write_then_die(path: str | os.PathLike, data: Any) -> Path:
        written = write(path, data)
        if Path(path).parent.name == pregenerate.DONE_DIR and _disarm(arm):
            os.kill(os.getppid(), signal.SIGKILL)
            os._exit(1)
        return written

    pregenerate.write_json_atomically = write_then_die


def _disarm(arm: str) -> bool:
    try:
        os.unlink(arm)
    except FileNotFoundError:
        return False
    return True
