"""Documents -> matrix, compression, sampling and pattern counts (spec §2 "Data", §7)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import scipy.sparse as sp

from explain_engine.errors import EngineInputError
from explain_engine.hlta.data import (
    Projection,
    compress,
    documents_to_matrix,
    marginal_counts,
    sample_with_replacement,
)


def weighted_rows(matrix: sp.spmatrix, weights: np.ndarray) -> collections.Counter:
    """Row (as a tuple of column indices) -> total weight."""
    dense = sp.csr_matrix(matrix).toarray() > 0
    counter: collections.Counter = collections.Counter()
    for row, weight in zip(dense, weights, strict=True):
        counter[tuple(np.flatnonzero(row))] += weight
    return counter


def test_documents_become_binary_rows_with_repeats_counted_once():
    matrix = documents_to_matrix([[3, 1, 3], [], [0, np.int64(4)]], 5)
    assert matrix.shape == (3, 5)
    assert matrix.toarray().tolist() == [
        [0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0],
        [1, 0, 0, 0, 1],
    ]


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([[1, 2], [0, 5]], "document 1 has class index 5"),
        ([[1, -1]], "document 0 has class index -1"),
        ([[1], [2.0, 3]], "document 1 has label 2.0"),
        ([[True, 1]], "document 0 has label True"),
        ([["3"]], "document 0 has label '3'"),
    ],
)
def test_malformed_documents_are_rejected_naming_the_document(documents, message):
    with pytest.raises(EngineInputError, match=message):
        documents_to_matrix(documents, 5)


@pytest.mark.parametrize("n_vars", [40, 3])  # index keys / bit-packed keys
def test_compress_merges_identical_rows_and_sums_weights(n_vars):
    rng = np.random.default_rng(0)
    dense = rng.random((300, n_vars)) < (0.05 if n_vars == 40 else 0.5)
    weights = rng.integers(1, 4, size=300).astype(float)
    data = compress(sp.csr_matrix(dense), weights)
    assert weighted_rows(data.rows, data.weights) == weighted_rows(dense, weights)
    assert len(weighted_rows(data.rows, data.weights)) == data.n_rows
    assert data.total == weights.sum()


def test_compress_uses_packed_keys_for_dense_rows():
    rng = np.random.default_rng(1)
    dense = rng.random((200, 70)) < 0.6
    dense[100:] = dense[:100]
    data = compress(sp.csr_matrix(dense))
    assert weighted_rows(data.rows, data.weights) == weighted_rows(dense, np.ones(200))


def test_sample_with_replacement_draws_the_requested_number_of_documents():
    data = compress(sp.csr_matrix(np.eye(4)), np.array([1.0, 1.0, 1.0, 97.0]))
    sample = sample_with_replacement(data, 1000, np.random.default_rng(0))
    assert sample.total == 1000
    assert weighted_rows(sample.rows, sample.weights)[(3,)] > 900


def test_pattern_counts_match_a_brute_force_count():
    rng = np.random.default_rng(2)
    dense = rng.random((500, 6)) < 0.3
    weights = rng.random(500)
    data = compress(sp.csr_matrix(dense), weights)
    columns = [4, 0, 5]
    expected = np.zeros(8)
    for row, weight in zip(dense, weights, strict=True):
        expected[sum(int(row[c]) << bit for bit, c in enumerate(columns))] += weight
    base = Projection(data, columns[:2])
    grown = base.extended(columns[2])
    np.testing.assert_allclose(grown.counts(), expected)
    assert base.columns == (4, 0)
    np.testing.assert_allclose(base.counts(), marginal_counts(expected, [0, 1]))


def test_marginal_counts_reorder_and_sum_out_bits():
    counts = np.arange(16.0)  # pattern code c has weight c
    # keep bits (2, 0): new code = bit2 + 2 * bit0
    expected = np.zeros(4)
    for code in range(16):
        expected[((code >> 2) & 1) | (((code >> 0) & 1) << 1)] += code
    np.testing.assert_array_equal(marginal_counts(counts, [2, 0]), expected)
