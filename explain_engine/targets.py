"""Top classes and compound classes (paper Section 4.1).

A compound class C is a set of class indices, written here as a sorted tuple. Its probability
is P(C|x) = Σ_{c∈C} P(c|x) and its logit z_C(x) = log Σ_{c∈C} exp z_c(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from explain_engine.errors import EngineInputError

if TYPE_CHECKING:
    import torch

Compound = tuple[int, ...]
#: A base map to compute: (stage, compound class); stage 1 is coarse (clusters, one-stage
#: methods), stage 2 fine (CWOX-2s class maps).
Request = tuple[int, Compound]


def compound(classes: object) -> Compound:
    """Canonical form of a compound class: a sorted tuple of distinct class indices."""
    return tuple(sorted({int(c) for c in classes}))  # type: ignore[union-attr]


@dataclass(frozen=True)
class TopKRule:
    """How many top classes to explain: K = min(max_k, Cum(cumulative)).

    Cum(q) is the smallest number of top classes whose cumulative probability exceeds q.
    ``cumulative=None`` gives a fixed K = max_k (paper Section 5: max_k=5, cumulative=0.95).
    """

    max_k: int = 5
    cumulative: float | None = 0.95

    def __post_init__(self) -> None:
        if self.max_k < 1:
            raise EngineInputError(f"top-k: max_k={self.max_k} (expected at least 1)")
        if self.cumulative is not None and not 0.0 < self.cumulative <= 1.0:
            raise EngineInputError(f"top-k: cumulative={self.cumulative} (expected in (0, 1])")

    def select(self, probabilities: torch.Tensor) -> tuple[list[int], list[float]]:
        """Top class indices and probabilities, most probable first, for one (C,) vector."""
        values, indices = probabilities.detach().float().cpu().sort(descending=True)
        k = min(self.max_k, len(values))
        if self.cumulative is not None:
            exceeds = (values.cumsum(0) > self.cumulative).nonzero()
            cum = int(exceeds[0]) + 1 if len(exceeds) else len(values)
            k = min(k, cum)
        return indices[:k].tolist(), values[:k].tolist()


def compound_logits(logits: torch.Tensor, classes: Compound) -> torch.Tensor:
    """z_C = logsumexp of the logits of ``classes`` along the last axis: (..., C) → (...)."""
    return logits[..., list(classes)].logsumexp(dim=-1)


def check_classes(classes: object, num_classes: int, what: str = "class index") -> Compound:
    """Validate class indices against the classifier's output size (EngineInputError if not)."""
    result = compound(classes)
    for index in result:
        if not 0 <= index < num_classes:
            raise EngineInputError(f"{what} {index}: out of range (expected 0..{num_classes - 1})")
    if not result:
        raise EngineInputError(f"{what}: empty set of classes (expected at least one)")
    return result
