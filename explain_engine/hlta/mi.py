"""Mutual information between binary variables from (possibly soft) co-occurrence counts.

Spec §2 "MI" (clustering/EmpiricalMiComputerForBinaryData.java): with n_a, n_b the weights of
the rows where a resp. b is 1, n_ab the weight where both are, and N the total weight,
p11 = n_ab/N, p10 = p_a - p11, p01 = p_b - p11, p00 = 1 - p_a - p_b + p11 and
MI = sum over the four cells of p log(p / (p_row p_col)), natural log, zero cells skipped,
no smoothing.
"""

from __future__ import annotations

import numpy as np

from explain_engine.hlta.data import WeightedData


def binary_mi(n_ab: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, total: float) -> np.ndarray:
    """Elementwise MI (nats) of binary pairs from their 1/1 count and their two 1-counts.

    The arguments broadcast against each other. Cells whose count is not positive (also tiny
    negative rounding from soft counts) contribute nothing.
    """
    n_ab, n_a, n_b = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (n_ab, n_a, n_b))
    )
    cells = (
        (n_ab, n_a, n_b),
        (n_a - n_ab, n_a, total - n_b),
        (n_b - n_ab, total - n_a, n_b),
        (total - n_a - n_b + n_ab, total - n_a, total - n_b),
    )
    mi = np.zeros(n_ab.shape)
    for count, row, col in cells:
        positive = count > 0
        ratio = np.divide(count * total, row * col, out=np.ones(mi.shape), where=positive)
        mi += np.where(positive, count / total * np.log(ratio), 0.0)
    return mi


def pairwise_mi(data: WeightedData) -> np.ndarray:
    """The (n_vars, n_vars) MI matrix of all variables of ``data`` (diagonal: entropies).

    Co-occurrence weights come from one sparse product Xᵀ diag(w) X.
    """
    rows = data.rows
    co = (rows.T @ rows.multiply(data.weights[:, None]).tocsr()).toarray()
    ones = np.diag(co).copy()
    return binary_mi(co, ones[:, None], ones[None, :], data.total)
