"""Bridging the top-level islands into one tree (spec §2 "Bridging").

MI between island latents comes from each island's LCM alone:
P(Yi, Yj) ∝ Σ_d w_d P(Yi|d) P(Yj|d) (StepwiseEMHLTA.computeEmpDist). The maximum spanning
tree is Kruskal's on descending MI (ties: the pair (i, j) first in row-major order); the root
is the first island with at least 3 leaves (the first island if none has), and edges point
away from it in breadth-first order (neighbours by island index).

Edge CPTs P(Yc|Yp): ``"independent"`` (default, StepwiseEMHLTA as coded: its edge-fitting loop
never runs, so a child's CPT is its island prior in both rows) or ``"pem"`` (PEM.java: EM on
the four-leaf model of the parent's seeds under Yp and the child's seeds under Yc, only
P(Yc|Yp) free).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit

from explain_engine.hlta.data import Projection, WeightedData
from explain_engine.hlta.islands import Island, island_log_odds
from explain_engine.hlta.mi import binary_mi
from explain_engine.hlta.smallem import EmSettings, SmallModel, fit

EdgeEstimation = Literal["independent", "pem"]


@dataclass(frozen=True, eq=False)
class Bridge:
    """The bridged top level: ``parent[j]`` is island j's parent island (-1 for ``root``);
    ``cpt[j]`` is P(Yj = x | Yparent = s) as ``[s, x]`` (for the root both rows hold its
    prior)."""

    root: int
    parent: np.ndarray
    cpt: np.ndarray


def latent_mi(islands: Sequence[Island], data: WeightedData) -> np.ndarray:
    """(m, m) MI between island latents from their soft posteriors (module docstring)."""
    posterior = expit(island_log_odds(islands, data))
    weighted = posterior * data.weights[:, None]
    ones = weighted.sum(axis=0)
    return binary_mi(posterior.T @ weighted, ones[:, None], ones[None, :], data.total)


def maximum_spanning_tree(weights: np.ndarray) -> list[tuple[int, int]]:
    """Kruskal's maximum spanning tree of a complete graph given by a symmetric matrix."""
    n = len(weights)
    i, j = np.triu_indices(n, k=1)
    order = np.argsort(-weights[i, j], kind="stable")
    component = list(range(n))

    def find(v: int) -> int:
        while component[v] != v:
            component[v] = component[component[v]]
            v = component[v]
        return v

    edges: list[tuple[int, int]] = []
    for e in order:
        a, b = find(int(i[e])), find(int(j[e]))
        if a != b:
            component[b] = a
            edges.append((int(i[e]), int(j[e])))
            if len(edges) == n - 1:
                break
    return edges


def orient(edges: Sequence[tuple[int, int]], root: int, n: int) -> np.ndarray:
    """Parent array (-1 for ``root``) of a spanning tree, by breadth-first search."""
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parent = np.full(n, -2)
    parent[root] = -1
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for other in sorted(neighbours[node]):
            if parent[other] == -2:
                parent[other] = node
                queue.append(other)
    return parent


def bridge_islands(
    islands: Sequence[Island],
    data: WeightedData,
    edges: EdgeEstimation,
    em: EmSettings,
    rng: np.random.Generator,
) -> Bridge:
    """Link the islands of the top level by a maximum spanning tree (module docstring)."""
    n = len(islands)
    root = next((j for j, island in enumerate(islands) if len(island.members) >= 3), 0)
    parent = orient(maximum_spanning_tree(latent_mi(islands, data)), root, n)
    cpt = np.empty((n, 2, 2))
    for j, island in enumerate(islands):
        if parent[j] < 0 or edges == "independent":
            cpt[j] = island.model.prior
        else:
            cpt[j] = _pem_edge(islands[parent[j]], island, data, em, rng)
    return Bridge(root, parent, cpt)


def _pem_edge(
    upper: Island, lower: Island, data: WeightedData, em: EmSettings, rng: np.random.Generator
) -> np.ndarray:
    """P(Ylower | Yupper) by EM with both islands' seed CPTs and P(Yupper) clamped."""
    upper_seeds, lower_seeds = list(upper.seeds), list(lower.seeds)
    leaf_cpt = np.concatenate(
        [_seed_cpts(upper, upper_seeds), _seed_cpts(lower, lower_seeds)], axis=0
    )
    leaf_parent = np.array([0] * len(upper_seeds) + [1] * len(lower_seeds))
    model = SmallModel(upper.model.prior, leaf_cpt, leaf_parent, np.full((2, 2), 0.5))
    counts = Projection(data, upper_seeds + lower_seeds).counts()
    fitted = fit(model, counts, em, rng, fixed_prior=True, fixed_leaves=range(len(leaf_cpt)))
    return fitted.z_cpt


def _seed_cpts(island: Island, seeds: Sequence[int]) -> np.ndarray:
    return island.model.leaf_cpt[[island.members.index(s) for s in seeds]]
