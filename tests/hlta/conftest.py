"""Planted-structure documents and helpers shared by the HLTA tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from explain_engine.hlta import HltaResult, HltaSettings, learn_model


@dataclass(frozen=True)
class Planted:
    """Documents drawn from planted label groups inside planted super-groups.

    ``group[c]`` / ``super_group[c]``: the group / super-group of class c; ``held_out``:
    further documents from the same model, for held-out likelihoods.
    """

    documents: list[list[int]]
    held_out: list[list[int]]
    num_classes: int
    group: np.ndarray
    super_group: np.ndarray


def planted_documents(
    n_documents: int,
    seed: int,
    n_held_out: int = 0,
    n_super: int = 10,
    groups_per_super: int = 5,
    sizes: tuple[int, int] = (2, 10),
    activation: float = 0.12,
) -> Planted:
    """Documents in which each super-group is active independently with probability
    ``activation`` and then contributes one of its groups, and with probability 0.5 a second.

    Every member of a picked group is emitted with probability 0.75; a document keeps at most
    6 labels and gets a uniformly random noise label with probability 0.2. Class indices are
    shuffled so that their order carries no information.
    """
    rng = np.random.default_rng(seed)
    n_groups = n_super * groups_per_super
    group_sizes = rng.integers(sizes[0], sizes[1] + 1, size=n_groups)
    num_classes = int(group_sizes.sum())
    classes = rng.permutation(num_classes)
    members = np.split(classes, np.cumsum(group_sizes)[:-1])
    group = np.empty(num_classes, dtype=int)
    for g, labels in enumerate(members):
        group[labels] = g
    super_group = group // groups_per_super
    documents = []
    for _ in range(n_documents + n_held_out):
        picked: set[int] = set()
        for s in np.flatnonzero(rng.random(n_super) < activation):
            first = s * groups_per_super + rng.integers(groups_per_super)
            picked.add(first)
            if rng.random() < 0.5:
                picked.add(s * groups_per_super + rng.integers(groups_per_super))
        labels = {int(c) for g in picked for c in members[g] if rng.random() < 0.75}
        if len(labels) > 6:
            labels = set(rng.choice(sorted(labels), size=6, replace=False).tolist())
        if rng.random() < 0.2:
            labels.add(int(rng.integers(num_classes)))
        documents.append(sorted(labels))
    return Planted(
        documents[:n_documents], documents[n_documents:], num_classes, group, super_group
    )


@pytest.fixture(scope="session")
def planted() -> Planted:
    return planted_documents(20_000, seed=3, n_held_out=5_000)


@pytest.fixture(scope="session")
def planted_result(planted: Planted) -> HltaResult:
    return learn_model(
        planted.documents, planted.num_classes, settings=HltaSettings(seed=5), progress=False
    )
