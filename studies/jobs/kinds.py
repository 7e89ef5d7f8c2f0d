"""What a kind of job does in each of its steps (the runner does the bookkeeping).

A kind plans the job's first chunks (:meth:`JobKind.plan`), runs one chunk
(:meth:`JobKind.run`, returning a :class:`StepResult`) and reports a running chunk's progress
(:meth:`JobKind.probe`). A result's ``commit`` runs in the database transaction that marks the
chunk done, so what it writes (the next step's chunks, the imported stimuli) is stored exactly
once, together with the chunk's completion, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from studies.jobs.models import Job, JobChunk

Say = Callable[[str], None]


class JobInputError(ValueError):
    """A job's parameters or inputs are not usable (named in the message)."""


@dataclass(frozen=True)
class ChunkPlan:
    """A chunk to create: its step (``JobChunk.Step``), index and item ids."""

    step: int
    index: int
    item_ids: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    """What running one chunk produced.

    Attributes:
        items_done: units of the job's total that this chunk finished (items or steps).
        errors: items (or parts) that could not be made, with the reason.
        output: the engine's summary lines, shown in the admin.
        commit: called inside the transaction that marks the chunk done.
    """

    items_done: int = 0
    errors: list[str] = field(default_factory=list)
    output: str = ""
    commit: Callable[[], None] | None = None


class JobKind(Protocol):
    """The behaviour of one ``Job.Kind``; ``unit`` names what its total counts."""

    unit: str

    def plan(self, job: Job) -> tuple[list[ChunkPlan], int]:
        """Check ``job.parameters`` (JobInputError) and return the first chunks and the total
        number of units (0 when a later step will know it)."""
        ...

    def run(self, job: Job, chunk: JobChunk, say: Say) -> StepResult:
        """Do the chunk's work; raise to fail the chunk (the message is shown)."""
        ...

    def probe(self, job: Job, chunk: JobChunk) -> int:
        """Units of ``chunk`` finished so far, while it runs (cheap: called every heartbeat)."""
        ...


def get_kind(name: str) -> JobKind:
    """The kind registered under ``name`` (a ``Job.Kind`` value); KeyError if unknown."""
    from studies.jobs.engine_commands import EngineCommand
    from studies.jobs.pregeneration import Pregeneration

    kinds: dict[str, JobKind] = {
        "pregenerate": Pregeneration(),
        "build-documents": EngineCommand("build-documents"),
        "build-tree": EngineCommand("build-tree"),
        "evaluate": EngineCommand("evaluate"),
    }
    return KINDS.get(name) or kinds[name]


KINDS: dict[str, JobKind] = {}
"""Extra kinds by name, looked up before the built-in ones (tests register small ones here)."""
