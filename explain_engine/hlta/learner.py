"""HLTA on label documents: the level loop, stacking, global EM and post-processing.

Spec §3 (FastHLTA_learn) with hlta-xai defaults. Level loop: if the level's data has more
distinct rows than ``struct_sample_size``, replace it by a weighted bootstrap sample of that
many documents (only level 1 can trigger this); compute MI; build islands; if there are at
most ``max_top`` islands, bridge them by a maximum spanning tree and stop; else stack a new
latent over each island (P(member | latent) from the island LCM) and hard-assign: each row's
new value is 1 iff P(Y = 1 | the island's own members) > 1/2 under the island LCM alone,
duplicates merged. Then optional stepwise global EM on all documents (off by default, as in
hlta-xai) and post-processing (state order, Z names, smoothing).

Documents are label lists; single-label documents are dropped by default (CWOX's data
preparation). Classes that never occur in the remaining documents are left out of the tree
and listed in its metadata as ``"unseen_classes"``. The same documents, settings and seed
give the identical tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from explain_engine.errors import EngineInputError
from explain_engine.hlta.bridge import Bridge, bridge_islands
from explain_engine.hlta.data import (
    WeightedData,
    compress,
    documents_to_matrix,
    sample_with_replacement,
)
from explain_engine.hlta.islands import Island, IslandSettings, build_islands, island_log_odds
from explain_engine.hlta.latent_tree import to_latent_tree
from explain_engine.hlta.ltm import TreeModel
from explain_engine.hlta.mi import pairwise_mi
from explain_engine.hlta.postprocess import postprocess
from explain_engine.hlta.smallem import EmSettings
from explain_engine.hlta.stepwise import StepwiseSettings, stepwise_em
from explain_engine.tree import LatentTree


@dataclass(frozen=True)
class HltaSettings:
    """All learner settings; defaults = hlta-xai's label-co-occurrence CLI (spec §4 table).

    ``ct_threshold`` None turns the correlation test off; ``bic_batch_size`` None uses the
    plain BIC; ``struct_sample_size`` None learns the structure on all documents.
    ``bridge_edges``: "independent" (StepwiseEMHLTA as coded) or "pem" (PEM.java's EM).
    """

    max_island: int = 10
    max_top: int = 15
    ud_threshold: float = 3.0
    ct_threshold: float | None = 3.0
    em_restarts: int = 16
    em_max_steps: int = 200
    em_threshold: float = 0.01
    struct_sample_size: int | None = 100_000
    bic_batch_size: int | None = 5000
    bridge_edges: Literal["independent", "pem"] = "independent"
    global_em: bool = False
    global_batch_size: int = 1000
    global_max_steps: int = 128
    global_max_epochs: int = 10
    keep_single_label_documents: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {
            "max_island": self.max_island,
            "max_top": self.max_top,
            "em_restarts": self.em_restarts,
            "em_max_steps": self.em_max_steps,
            "global_batch_size": self.global_batch_size,
            "global_max_steps": self.global_max_steps,
            "global_max_epochs": self.global_max_epochs,
            "struct_sample_size": self.struct_sample_size or 1,
            "bic_batch_size": self.bic_batch_size or 1,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise EngineInputError(
                    f"HLTA setting {name} is {value!r}; expected an integer >= 1"
                )
        if self.max_island < 3:
            raise EngineInputError(f"HLTA setting max_island is {self.max_island}; expected >= 3")
        if self.bridge_edges not in ("independent", "pem"):
            raise EngineInputError(
                f"HLTA setting bridge_edges is {self.bridge_edges!r}; "
                'expected "independent" or "pem"'
            )

    @property
    def islands(self) -> IslandSettings:
        return IslandSettings(
            self.ud_threshold, self.max_island, self.ct_threshold, self.bic_batch_size, self.em
        )

    @property
    def em(self) -> EmSettings:
        return EmSettings(self.em_restarts, self.em_max_steps, self.em_threshold)

    @property
    def stepwise(self) -> StepwiseSettings:
        return StepwiseSettings(
            self.global_batch_size, self.global_max_steps, self.global_max_epochs, self.em_threshold
        )


@dataclass(frozen=True, eq=False)
class HltaResult:
    """The learned model (node names = the tree's ids, for BIF export) and its ``LatentTree``."""

    model: TreeModel
    tree: LatentTree


def learn_tree(
    documents: Sequence[Sequence[int]],
    num_classes: int,
    *,
    settings: HltaSettings = HltaSettings(),
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> LatentTree:
    """Learn a latent tree over the classes from label documents (see ``learn_model``)."""
    return learn_model(
        documents, num_classes, settings=settings, class_names=class_names, progress=progress
    ).tree


def learn_model(
    documents: Sequence[Sequence[int]],
    num_classes: int,
    *,
    settings: HltaSettings = HltaSettings(),
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> HltaResult:
    """Learn an HLTA model from documents (lists of class indices in ``0 .. num_classes-1``).

    Every class that occurs in the used documents gets exactly one level-1 parent.
    ``class_names[i]`` (optional) names class i in the tree. Raises ``EngineInputError`` for
    malformed documents or when no document is left to learn from.
    """
    if class_names is not None and len(class_names) != num_classes:
        raise EngineInputError(
            f"{len(class_names)} class names for {num_classes} classes; expected one per class"
        )
    matrix = documents_to_matrix(documents, num_classes)
    min_labels = 1 if settings.keep_single_label_documents else 2
    matrix = matrix[np.diff(matrix.indptr) >= min_labels]
    seen = np.flatnonzero(matrix.getnnz(axis=0))
    if not seen.size:
        raise EngineInputError(
            f"no document has {min_labels} or more labels; expected some documents to learn from"
        )
    matrix = matrix[:, seen]
    full = compress(matrix)
    rng = np.random.default_rng(settings.seed)

    levels, bridge = _build_levels(full, settings, rng, progress)
    model = _stack(levels, bridge, [f"c{c}" for c in seen])
    if settings.global_em:
        model = stepwise_em(model, matrix, settings.stepwise, rng)
    model = postprocess(model, full.total)
    metadata = {
        "learner": "explain_engine.hlta",
        "settings": asdict(settings),
        "num_classes": num_classes,
        "num_documents": len(documents),
        "num_documents_used": matrix.shape[0],
        "num_distinct_documents": full.n_rows,
        "unseen_classes": [int(c) for c in np.setdiff1d(np.arange(num_classes), seen)],
        "latents_per_level": [len(islands) for islands in levels],
    }
    return HltaResult(model, to_latent_tree(model, seen, class_names, metadata))


def _build_levels(
    data: WeightedData, settings: HltaSettings, rng: np.random.Generator, progress: bool
) -> tuple[list[list[Island]], Bridge]:
    """Islands of every level (level 1 first) and the bridge of the top level."""
    levels: list[list[Island]] = []
    while True:
        if settings.struct_sample_size and data.n_rows > settings.struct_sample_size:
            data = sample_with_replacement(data, settings.struct_sample_size, rng)
        with tqdm(
            total=data.n_vars,
            desc=f"HLTA level {len(levels) + 1}",
            unit="var",
            disable=not progress,
        ) as bar:
            islands = build_islands(data, pairwise_mi(data), settings.islands, rng, bar)
        levels.append(islands)
        if len(islands) <= settings.max_top:
            return levels, bridge_islands(islands, data, settings.bridge_edges, settings.em, rng)
        data = hard_assignment(islands, data)


def hard_assignment(islands: Sequence[Island], data: WeightedData) -> WeightedData:
    """The next level's data: one column per island latent, 1 iff P(Y=1|row) > 1/2 (a tie
    goes to s0), weights kept and duplicate rows merged (HardAssignmentForIslands)."""
    return compress(sp.csr_matrix(island_log_odds(islands, data) > 0), data.weights)


def _stack(levels: list[list[Island]], bridge: Bridge, class_names: list[str]) -> TreeModel:
    """One tree model from the islands of all levels and the top-level bridge.

    Nodes: the classes, then each level's latents in island order. A member's CPT is
    P(member | island latent) from the island LCM; the top level's root keeps its island
    prior and the other top latents get their bridge CPTs.
    """
    names = list(class_names)
    level_of = [0] * len(names)
    parent: list[int] = [-1] * len(names)
    cpts: list[np.ndarray] = [np.empty((2, 2))] * len(names)
    below = list(range(len(names)))  # node ids of the variables the current level clusters
    for number, islands in enumerate(levels, start=1):
        first = len(names)
        for j, island in enumerate(islands):
            names.append(f"L{number}_{j}")
            level_of.append(number)
            parent.append(-1)
            cpts.append(np.empty((2, 2)))
            for member, cpt in zip(island.members, island.model.leaf_cpt, strict=True):
                parent[below[member]] = first + j
                cpts[below[member]] = cpt
        below = list(range(first, len(names)))
    for j, node in enumerate(below):
        parent[node] = -1 if bridge.parent[j] < 0 else below[bridge.parent[j]]
        cpts[node] = bridge.cpt[j]
    return TreeModel(tuple(names), np.array(parent), np.array(level_of), np.stack(cpts))
