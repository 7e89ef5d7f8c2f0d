"""Pairwise mutual information of binary variables (spec §2 "MI", test 1)."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from explain_engine.hlta.data import compress
from explain_engine.hlta.mi import binary_mi, pairwise_mi


def brute_force_mi(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """MI from the weighted 2x2 table, natural log, zero cells skipped."""
    total = weights.sum()
    mi = 0.0
    for a in (0, 1):
        for b in (0, 1):
            p = weights[(x == a) & (y == b)].sum() / total
            pa, pb = weights[x == a].sum() / total, weights[y == b].sum() / total
            if p > 0:
                mi += p * math.log(p / (pa * pb))
    return mi


def test_pairwise_mi_matches_two_by_two_tables_including_zero_cells():
    rng = np.random.default_rng(0)
    dense = (rng.random((400, 7)) < 0.3).astype(int)
    dense[:, 1] = dense[:, 0]  # identical: two empty cells
    dense[:, 2] = 1 - dense[:, 0]  # complementary
    dense[:, 3] = 0  # never present
    dense[:, 4] = dense[:, 0] & dense[:, 5]  # implies 0 and 5
    weights = rng.integers(1, 5, size=400).astype(float)
    mi = pairwise_mi(compress(sp.csr_matrix(dense), weights))
    for i in range(7):
        for j in range(7):
            expected = brute_force_mi(dense[:, i], dense[:, j], weights)
            assert math.isclose(mi[i, j], expected, rel_tol=1e-9, abs_tol=1e-12), (i, j)


def test_binary_mi_is_zero_for_independent_counts():
    assert abs(binary_mi(25.0, 50.0, 50.0, 100.0)) < 1e-15
    assert binary_mi(50.0, 50.0, 50.0, 100.0) == math.log(2)
