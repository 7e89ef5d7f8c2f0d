"""Writing files so that a reader never sees a half-written one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it into place.

    On any error the temporary file is removed and an existing ``path`` is left untouched.
    """
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; readers (a web server) need 0644
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_json_atomically(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON with :func:`write_atomically`."""
    payload = (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return write_atomically(path, lambda stream: stream.write(payload))
