"""Running one engine command for a job, in this process, keeping what it reported.

The engine is driven through its command line, as :mod:`studies.stimuli_pipeline` does (the
server never reaches into engine internals). Its standard error is captured too: it carries the
per-item errors (``error: item ID: reason``), the summary line of ``pregenerate`` and, for a bad
option, argparse's message. Importing the engine (and torch) is deferred to the first run, so
that creating a job in the web server stays cheap.
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr
from dataclasses import dataclass

from studies.jobs.kinds import Say

ITEM_ERROR = re.compile(r"^error: item (?P<item>[^:]+): (?P<reason>.*)$")
PROGRESS_BAR = re.compile(r"\[\d+:\d\d[<,\]]")  # tqdm's "[00:01<00:02, ...]"


class EngineStepError(RuntimeError):
    """The engine refused its input: bad option, unreadable file, ... (message included)."""


@dataclass(frozen=True)
class EngineReport:
    """What one engine command reported: its summary lines and the items it could not make."""

    lines: tuple[str, ...]
    item_errors: dict[str, str]

    @property
    def errors(self) -> list[str]:
        """Every ``error: …`` line (unreadable inputs, failed items), without the prefix."""
        return [
            line.removeprefix("error:").strip() for line in self.lines if line.startswith("error:")
        ]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_engine_command(
    arguments: list[str], say: Say, *, partial_tree: bool = False
) -> EngineReport:
    """Run ``python -m explain_engine ARGUMENTS`` in-process (exit status 0 or 1 is success).

    Raises:
        EngineStepError: exit status 2 or an argparse error, with the engine's message.
    """
    from studies.stimuli_pipeline import EngineJobError, run_engine

    said: list[str] = []
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            run_engine(arguments, said.append, partial_tree=partial_tree)
    except (EngineJobError, SystemExit) as error:
        reported = _lines(captured.getvalue())
        message = [line for line in reported if "error:" in line] or reported[-3:]
        message = message or [str(error)]
        command = " ".join(arguments[:1])
        raise EngineStepError(f"explain_engine {command} failed: " + " / ".join(message)) from None
    lines = [*said, *_lines(captured.getvalue())]
    for line in lines:
        say(line)
    errors = {match["item"]: match["reason"] for line in lines if (match := ITEM_ERROR.match(line))}
    return EngineReport(tuple(lines), errors)


def _lines(text: str) -> list[str]:
    """The meaningful lines of captured output: no progress bars, no blank lines."""
    parts = (part.strip() for chunk in text.split("\n") for part in chunk.split("\r"))
    return [part for part in parts if part and not PROGRESS_BAR.search(part)]
