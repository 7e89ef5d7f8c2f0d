"""Hand-built and simulated studies shared by the analysis tests."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Person:
    """One participant of a hand-built study.

    `answers`: (item, correct, confidence) per answered test trial, in order; `checks`: outcome
    of each answered attention check; `response_ms`: per answer (default 2000 ms each);
    `unanswered`: items shown in the test block but not answered.
    """

    participant: str
    group: str | None
    condition: str | None
    answers: Sequence[tuple[str, bool, int | None]] = ()
    state: str = "completed"
    checks: Sequence[bool] = ()
    response_ms: Sequence[float] | None = None
    unanswered: Sequence[str] = field(default_factory=tuple)


def build_study(*people: Person) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials and participants tables of `people`, with one training trial each (always
    wrong, to prove that training trials are not counted)."""
    rows = []
    for person in people:
        if person.group is None or person.condition is None:
            continue
        base = {
            "participant": person.participant,
            "group": person.group,
            "condition": person.condition,
        }
        rows.append(
            {
                **base,
                "item": "training-1",
                "block": "training",
                "is_attention_check": False,
                "answered": True,
                "correct": False,
                "confidence": 1,
                "response_ms": 10.0,
            }
        )
        times = person.response_ms or [2000.0] * len(person.answers)
        for (item, correct, confidence), ms in zip(person.answers, times, strict=True):
            rows.append(
                {
                    **base,
                    "item": item,
                    "block": "test",
                    "is_attention_check": False,
                    "answered": True,
                    "correct": correct,
                    "confidence": confidence,
                    "response_ms": ms,
                }
            )
        for k, passed in enumerate(person.checks):
            rows.append(
                {
                    **base,
                    "item": f"check-{k}",
                    "block": "test",
                    "is_attention_check": True,
                    "answered": True,
                    "correct": passed,
                    "confidence": 5,
                    "response_ms": 1500.0,
                }
            )
        for item in person.unanswered:
            rows.append(
                {
                    **base,
                    "item": item,
                    "block": "test",
                    "is_attention_check": False,
                    "answered": False,
                    "correct": None,
                    "confidence": None,
                    "response_ms": None,
                }
            )
    trials = pd.DataFrame(
        rows,
        columns=[
            "participant",
            "group",
            "condition",
            "item",
            "block",
            "is_attention_check",
            "answered",
            "correct",
            "confidence",
            "response_ms",
        ],
    )
    trials.insert(5, "position", trials.groupby("participant").cumcount() + 1)
    trials["confidence"] = trials["confidence"].astype("Int64")
    trials["correct"] = trials["correct"].astype("boolean")
    participants = pd.DataFrame(
        [(p.participant, p.group, p.condition, p.state) for p in people],
        columns=["participant", "group", "condition", "state"],
    )
    return trials, participants


def simulate_study(
    rng: np.random.Generator,
    cells: dict[tuple[str, str], tuple[int, float]],
    n_items: int = 12,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random completed study: cells maps (group, condition) to (participants, accuracy).

    Each participant answers every item; correctness ~ Bernoulli(accuracy); confidence is
    higher on correct answers (so calibration has signal)."""
    people = []
    for (group, condition), (n, accuracy) in cells.items():
        for k in range(n):
            correct = rng.random(n_items) < accuracy
            confidence = np.clip(rng.integers(1, 4, n_items) + 2 * correct, 1, 5)
            answers = [
                (f"item-{i:02d}", bool(c), int(r))
                for i, (c, r) in enumerate(zip(correct, confidence, strict=True))
            ]
            people.append(
                Person(f"{group}-{condition}-{k:03d}", group, condition, answers, checks=[True])
            )
    return build_study(*people)
