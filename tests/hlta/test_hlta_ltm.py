"""Tree inference against brute-force enumeration (spec test 2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from explain_engine.hlta.data import compress
from explain_engine.hlta.ltm import (
    TreeModel,
    expected_counts,
    hierarchy_leaves,
    infer,
    mutual_information,
)


def random_tree(seed: int) -> TreeModel:
    """6-8 nodes: 2-3 latents in a random tree, observed leaves under random latents, every
    latent with a child; node order shuffled so that observed nodes are not first; a latent's
    level is its height."""
    rng = np.random.default_rng(seed)
    n_latent = int(rng.integers(2, 4))
    n_observed = int(rng.integers(6, 9)) - n_latent
    parent = [-1] + [int(rng.integers(i)) for i in range(1, n_latent)]
    childless = [j for j in range(n_latent) if j not in parent]
    parent += childless + [int(rng.integers(n_latent)) for _ in range(n_observed - len(childless))]
    order = rng.permutation(len(parent))  # order[new] = old
    new_of = np.argsort(order)
    parent = np.array([-1 if parent[old] < 0 else new_of[parent[old]] for old in order])
    level = np.array([0 if old >= n_latent else 1 for old in order])
    cpt = rng.dirichlet([1.0, 1.0], size=(len(parent), 2))
    root = int(np.flatnonzero(parent < 0)[0])
    cpt[root, 1] = cpt[root, 0]
    names = tuple(f"n{i}" for i in range(len(parent)))
    height = TreeModel(names, parent, level, cpt).height
    return TreeModel(names, parent, np.where(level > 0, height, 0), cpt)


def joint_table(model: TreeModel) -> tuple[np.ndarray, np.ndarray]:
    """All configurations (n_configs, n_nodes) and their probabilities."""
    configs = np.array(list(itertools.product([0, 1], repeat=model.n_nodes)))
    p = np.ones(len(configs))
    for node in range(model.n_nodes):
        parent = model.parent[node]
        parent_state = 0 if parent < 0 else configs[:, parent]
        p *= model.cpt[node, parent_state, configs[:, node]]
    return configs, p


@pytest.mark.parametrize("seed", range(6))
def test_inference_matches_brute_force_enumeration(seed):
    model = random_tree(seed)
    configs, p = joint_table(model)
    observed = np.flatnonzero(model.observed)
    rng = np.random.default_rng(100 + seed)
    rows = (rng.random((5, len(observed))) < 0.5).astype(float)
    weights = rng.random(5) + 0.5
    result = infer(model, sp.csr_matrix(rows), weights)
    expected_counts_ = np.zeros((model.n_nodes, 2, 2))
    for d, row in enumerate(rows):
        match = np.all(configs[:, observed] == row, axis=1)
        evidence = p[match].sum()
        assert result.loglik[d] == pytest.approx(np.log(evidence), rel=1e-12)
        for node in range(model.n_nodes):
            for x in (0, 1):
                post = p[match & (configs[:, node] == x)].sum() / evidence
                assert result.posterior[d, node, x] == pytest.approx(post, abs=1e-12)
                parent = model.parent[node]
                for s in (0, 1):
                    if parent < 0:
                        family = post
                    else:
                        together = match & (configs[:, node] == x) & (configs[:, parent] == s)
                        family = p[together].sum() / evidence
                    expected_counts_[node, s, x] += weights[d] * family
    np.testing.assert_allclose(result.family_counts, expected_counts_, atol=1e-12)


def test_compressed_and_uncompressed_data_give_the_same_likelihood_and_counts():
    model = random_tree(7)
    n_observed = int(model.observed.sum())
    rng = np.random.default_rng(0)
    rows = sp.csr_matrix((rng.random((3000, n_observed)) < 0.3).astype(float))
    data = compress(rows)
    assert data.n_rows < 3000
    loglik, counts = expected_counts(model, rows)
    loglik_c, counts_c = expected_counts(model, data.rows, data.weights)
    assert loglik_c == pytest.approx(loglik, rel=1e-12)
    np.testing.assert_allclose(counts_c, counts, rtol=1e-10)


def test_marginals_and_leaf_conditionals_match_the_joint():
    model = random_tree(8)
    configs, p = joint_table(model)
    marginal = model.marginals()
    for node in range(model.n_nodes):
        assert marginal[node, 1] == pytest.approx(p[configs[:, node] == 1].sum(), abs=1e-12)
    for latent, (leaves, conditional) in hierarchy_leaves(model).items():
        for leaf, table in zip(leaves, conditional, strict=True):
            for s in (0, 1):
                given = configs[:, latent] == s
                p1 = p[given & (configs[:, leaf] == 1)].sum() / p[given].sum()
                assert table[s, 1] == pytest.approx(p1, abs=1e-12)
        joint = marginal[latent][None, :, None] * conditional
        px = joint.sum(axis=1)
        brute = [
            sum(
                j[s, x] * np.log(j[s, x] / (marginal[latent, s] * q[x]))
                for s in (0, 1)
                for x in (0, 1)
            )
            for j, q in zip(joint, px, strict=True)
        ]
        np.testing.assert_allclose(mutual_information(marginal[latent], conditional), brute)


def test_a_model_needs_exactly_one_root_and_observed_leaves():
    parent, level, cpt = np.array([-1, 0, 0]), np.array([1, 0, 0]), np.full((3, 2, 2), 0.5)
    TreeModel(("z", "a", "b"), parent, level, cpt)
    with pytest.raises(ValueError, match="one root"):
        TreeModel(("z", "a", "b"), np.array([-1, -1, 0]), level, cpt)
    with pytest.raises(ValueError, match="leaves"):
        TreeModel(("z", "a", "b"), np.array([-1, 0, 1]), np.array([1, 0, 0]), cpt)
