"""Bridging the top-level islands: soft-posterior MI, Kruskal, BFS orientation, edge CPTs."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from explain_engine.hlta.bridge import (
    bridge_islands,
    latent_mi,
    maximum_spanning_tree,
    orient,
)
from explain_engine.hlta.data import WeightedData, compress
from explain_engine.hlta.islands import Island, island_log_odds
from explain_engine.hlta.mi import binary_mi
from explain_engine.hlta.smallem import EmSettings, SmallModel


def spanning_trees(n: int):
    """All spanning trees of the complete graph on n nodes (brute force)."""
    edges = list(itertools.combinations(range(n), 2))
    for subset in itertools.combinations(edges, n - 1):
        component = list(range(n))
        for a, b in subset:
            ca, cb = component[a], component[b]
            component = [ca if c == cb else c for c in component]
        if len(set(component)) == 1:
            yield subset


def test_kruskal_finds_the_maximum_spanning_tree():
    rng = np.random.default_rng(0)
    weights = rng.random((5, 5))
    weights = weights + weights.T
    best = max(sum(weights[a, b] for a, b in tree) for tree in spanning_trees(5))
    edges = maximum_spanning_tree(weights)
    assert len(edges) == 4
    assert sum(weights[a, b] for a, b in edges) == best


def test_orientation_is_breadth_first_from_the_root():
    parent = orient([(0, 1), (1, 2), (1, 3), (3, 4)], root=3, n=5)
    assert parent.tolist() == [1, 3, 1, -1, 3]


def planted_islands(seed: int) -> tuple[list[Island], WeightedData]:
    """Three islands (sizes 2, 3, 3) whose LCMs are the true ones, on sampled data."""
    rng = np.random.default_rng(seed)
    n = 5000
    top = rng.random(n) < 0.4
    latents = [top, np.where(top, rng.random(n) < 0.9, rng.random(n) < 0.1), rng.random(n) < 0.5]
    cpt = np.array([[0.9, 0.1], [0.2, 0.8]])
    sizes = (2, 3, 3)
    columns, islands, start = [], [], 0
    for y, size in zip(latents, sizes, strict=True):
        columns += [rng.random(n) < cpt[y.astype(int), 1] for _ in range(size)]
        members = tuple(range(start, start + size))
        prior = np.array([1 - y.mean(), y.mean()])
        islands.append(Island(members, members[:2], SmallModel.lcm(prior, np.stack([cpt] * size))))
        start += size
    return islands, compress(sp.csr_matrix(np.stack(columns, axis=1).astype(float)))


def test_latent_mi_uses_products_of_island_posteriors():
    islands, data = planted_islands(1)
    posterior = expit(island_log_odds(islands, data))
    mi = latent_mi(islands, data)
    w = data.weights
    for i, j in itertools.combinations(range(3), 2):
        n11 = np.sum(w * posterior[:, i] * posterior[:, j])
        expected = binary_mi(n11, np.sum(w * posterior[:, i]), np.sum(w * posterior[:, j]), w.sum())
        assert mi[i, j] == mi[j, i]
        np.testing.assert_allclose(mi[i, j], expected, rtol=1e-10)
    assert mi[0, 1] > 10 * max(mi[0, 2], mi[1, 2])


def test_bridge_roots_at_the_first_island_with_three_leaves():
    islands, data = planted_islands(2)
    bridge = bridge_islands(islands, data, "independent", EmSettings(), np.random.default_rng(0))
    assert bridge.root == 1
    assert bridge.parent[1] == -1 and bridge.parent[0] == 1
    for j, island in enumerate(islands):
        np.testing.assert_array_equal(bridge.cpt[j], [island.model.prior] * 2)


def test_pem_edges_learn_the_dependence_between_latents():
    islands, data = planted_islands(2)
    bridge = bridge_islands(islands, data, "pem", EmSettings(), np.random.default_rng(0))
    edge = bridge.cpt[0]  # P(Y0 | Y1): Y1 copies Y0 90% of the time
    assert edge[1, 1] > 0.75 and edge[0, 1] < 0.25
