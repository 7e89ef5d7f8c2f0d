"""The assumptions of a power simulation: `PowerDesign`, built and checked from what a
researcher types (`design_from_accuracy`, `parse_accuracy`, `parse_counts`).

Every check raises `ValueError` naming the input and what was expected, so a command line or a
form can show it as it is.
"""

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .intervals import MIN_PARTICIPANTS

Cell = tuple[str, str]
"""(participant group, condition)."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class PowerDesign:
    """A between-subjects matching study as the simulator draws it.

    Correctness of participant j on item i in cell (g, c) is Bernoulli with
    logit P = b_gc + u_j + v_i, u_j ~ N(0, participant_sd²) and v_i ~ N(0, item_sd²) (random
    intercepts on the logit scale); b_gc is set so that the expected accuracy of a random
    participant on a random item is `accuracy[(g, c)]` (a marginal accuracy, what a pilot's
    share of correct trials estimates). Items are crossed with conditions: one item pool per
    simulated study, shared by every cell, from which each participant sees `items` distinct
    items at random.

    Attributes:
        accuracy: (group, condition) -> marginal accuracy in (0, 1), for every cell.
        conditions, groups: the study's order (pairs are tested within each group).
        items: test trials per participant (>= 1).
        pool: distinct test items in the study (>= items); None: as many as `items`.
        participant_sd, item_sd: sds of the random intercepts (logit scale, >= 0).
        alpha: two-sided significance level of every test (after Holm's correction).
        pairs: the planned comparisons (a, b); None: every pair in condition order.
    """

    accuracy: Mapping[Cell, float]
    conditions: tuple[str, ...]
    groups: tuple[str, ...]
    items: int = 10
    pool: int | None = None
    participant_sd: float = 0.0
    item_sd: float = 0.0
    alpha: float = 0.05
    pairs: tuple[Cell, ...] | None = None

    def __post_init__(self) -> None:
        _check(len(self.conditions) >= 2, "conditions: at least 2 are needed to compare")
        _check(len(self.groups) >= 1, "groups: at least 1 participant group is needed")
        missing = [cell for cell in self.cells if cell not in self.accuracy]
        _check(not missing, f"accuracy: no value for {', '.join(map(':'.join, missing))}")
        for (group, condition), value in self.accuracy.items():
            _check(
                0 < value < 1,
                f"accuracy of {group}:{condition} must lie strictly between 0 and 1, got {value}",
            )
        _check(self.items >= 1, f"items must be >= 1 test trial per participant, got {self.items}")
        _check(
            self.item_pool >= self.items,
            f"pool must be >= items ({self.items}): a participant sees distinct items, "
            f"got {self.pool}",
        )
        for name in ("participant_sd", "item_sd"):
            value = getattr(self, name)
            _check(math.isfinite(value) and value >= 0, f"{name} must be >= 0, got {value}")
        _check(0 < self.alpha < 1, f"alpha must lie between 0 and 1, got {self.alpha}")
        for a, b in self.comparisons:
            _check(
                a in self.conditions and b in self.conditions and a != b,
                f"pairs: ({a!r}, {b!r}) must name two different conditions of "
                f"{', '.join(self.conditions)}",
            )

    @property
    def cells(self) -> list[Cell]:
        """Every (group, condition), groups first."""
        return list(itertools.product(self.groups, self.conditions))

    @property
    def item_pool(self) -> int:
        """The number of distinct test items (`pool`, or `items` when None)."""
        return self.items if self.pool is None else self.pool

    @property
    def comparisons(self) -> tuple[Cell, ...]:
        """The planned pairs: `pairs`, or every pair of conditions in their order."""
        if self.pairs is not None:
            return tuple(self.pairs)
        return tuple(itertools.combinations(self.conditions, 2))


def _match(name: str, known: Mapping[str, str], what: str) -> str:
    found = known.get(name.strip().casefold())
    if found is None:
        expected = ", ".join(sorted(set(known.values())))
        raise ValueError(f"accuracy: unknown {what} {name.strip()!r}; expected one of {expected}")
    return found


def design_from_accuracy(
    accuracy: Mapping[str, float],
    *,
    conditions: Sequence[str],
    groups: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    **settings: object,
) -> PowerDesign:
    """A `PowerDesign` from accuracies keyed "condition" (all groups) or "group:condition"
    (one group; overrides the all-groups value).

    Names match case-insensitively; `aliases` adds other names of a condition (e.g. its
    method, "cwox-2s" -> "CWOX-2s"). `settings` are the other `PowerDesign` fields.

    Raises:
        ValueError: an unknown group or condition, a condition without accuracy, or a value
            `PowerDesign` rejects.
    """
    names = {c.casefold(): c for c in conditions}
    names.update({alias.casefold(): c for alias, c in (aliases or {}).items()})
    group_names = {g.casefold(): g for g in groups}
    per_cell: dict[Cell, float] = {}
    overrides: dict[Cell, float] = {}
    for key, value in accuracy.items():
        group, _, condition = key.rpartition(":")
        condition = _match(condition, names, "condition")
        if group:
            overrides[(_match(group, group_names, "group"), condition)] = float(value)
        else:
            per_cell.update({(g, condition): float(value) for g in groups})
    per_cell.update(overrides)
    return PowerDesign(
        accuracy=per_cell, conditions=tuple(conditions), groups=tuple(groups), **settings
    )


def parse_accuracy(text: str) -> dict[str, float]:
    """ "swox=0.6, expert:cwox-2s=0.75" -> {"swox": 0.6, "expert:cwox-2s": 0.75}.

    Raises:
        ValueError: an entry is not NAME=NUMBER or names the same key twice.
    """
    parsed: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = entry.partition("=")
        try:
            number = float(value) if equals and key.strip() else None
        except ValueError:
            number = None
        _check(number is not None, f"accuracy: {entry!r} is not NAME=NUMBER, e.g. swox=0.6")
        _check(key.strip() not in parsed, f"accuracy: {key.strip()!r} is given twice")
        parsed[key.strip()] = number
    _check(bool(parsed), "accuracy: give at least one NAME=NUMBER, e.g. swox=0.6")
    return parsed


def parse_counts(text: str) -> list[int]:
    """ "10,20,40" -> [10, 20, 40]: participants per cell, each >= 2, ascending, distinct.

    Raises:
        ValueError: an entry is not a whole number, or is < 2, or the list repeats one.
    """
    counts = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        _check(entry.isdigit(), f"n: {entry!r} is not a whole number of participants per cell")
        counts.append(int(entry))
    return check_counts(counts)


def check_counts(counts: Sequence[int]) -> list[int]:
    """`counts` sorted, after checking each is >= 2 (a t-test needs 2 per cell) and unique.

    Raises:
        ValueError: empty, a count < 2, or a repeated count.
    """
    _check(len(counts) > 0, "n: give at least one number of participants per cell")
    small = [n for n in counts if n < MIN_PARTICIPANTS]
    _check(not small, f"n: every cell needs >= {MIN_PARTICIPANTS} participants, got {small}")
    _check(len(set(counts)) == len(counts), f"n: {list(counts)} repeats a value")
    return sorted(int(n) for n in counts)
