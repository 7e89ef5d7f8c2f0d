"""What a kind of job does in each of its steps (the runner does the bookkeeping).

Kinds register by name with ``@register_kind("pregenerate")`` in their own module
(:mod:`studies.jobs.pregeneration`, :mod:`studies.jobs.engine_commands`); the app's
``ready()`` imports those modules. This module imports no other job module at run time, so
that :mod:`studies.jobs.models` can look kinds up without an import cycle.

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


KINDS: dict[str, JobKind] = {}
"""Kind name → the kind (filled by :func:`register_kind`; tests add small ones)."""


def register_kind(name: str) -> Callable[[type], type]:
    """Class decorator: register an instance of the class as the kind ``name``."""

    def decorate(cls: type) -> type:
        add_kind(name, cls())
        return cls

    return decorate


def add_kind(name: str, kind: JobKind) -> None:
    """Register ``kind`` under ``name`` (a ``Job.Kind`` value)."""
    KINDS[name] = kind


def get_kind(name: str) -> JobKind:
    """The kind registered under ``name`` (a ``Job.Kind`` value); KeyError if unknown."""
    return KINDS[name]
