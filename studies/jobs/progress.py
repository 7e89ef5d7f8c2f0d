"""Progress of a job as researchers read it: "12 / 40 items, ETA 3 min" (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Progress:
    """Units of work done out of ``total`` (items of a pregeneration, steps otherwise).

    ``eta`` is None when unknown (nothing done yet in this run) or when nothing is left.
    """

    done: int
    total: int
    unit: str
    eta: timedelta | None = None

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when the total is not known yet)."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    def text(self) -> str:
        """E.g. ``"12 / 40 items, ETA 3 min"``; ``"preparing"`` before the total is known."""
        if not self.total:
            return "preparing"
        text = f"{self.done} / {self.total} {self.unit}"
        return f"{text}, ETA {format_duration(self.eta)}" if self.eta is not None else text


def estimate_eta(
    done: int, total: int, done_at_start: int, started_at: datetime | None, now: datetime
) -> timedelta | None:
    """Time left at the rate of this run: (total − done) ÷ ((done − done_at_start) ÷ elapsed).

    None when the run has not started, has done nothing yet, or nothing is left.
    """
    finished_here = done - done_at_start
    if started_at is None or finished_here <= 0 or done >= total:
        return None
    elapsed = (now - started_at).total_seconds()
    if elapsed <= 0:
        return None
    return timedelta(seconds=(total - done) * elapsed / finished_here)


def format_duration(duration: timedelta) -> str:
    """A rounded duration for people: ``"< 1 min"``, ``"3 min"``, ``"2 h 05 min"``."""
    minutes = round(duration.total_seconds() / 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
