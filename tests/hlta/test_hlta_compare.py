"""Partition agreement scores against hand-computed values."""

from __future__ import annotations

import math

import pytest

from explain_engine.hlta.compare import adjusted_rand_index, normalized_mutual_information


def test_identical_partitions_score_one_whatever_the_labels():
    a = [0, 0, 1, 1, 2]
    b = ["x", "x", "y", "y", "z"]
    assert adjusted_rand_index(a, b) == 1.0
    assert normalized_mutual_information(a, b) == pytest.approx(1.0)


def test_adjusted_rand_index_of_a_small_example():
    # contingency [[2, 1], [0, 2]]: index 2, expected 4 * 4 / 10, max 4
    a = [0, 0, 0, 1, 1]
    b = [0, 0, 1, 1, 1]
    assert adjusted_rand_index(a, b) == pytest.approx((2 - 1.6) / (4 - 1.6))


def test_normalized_mutual_information_of_a_small_example():
    a = [0, 0, 1, 1]
    b = [0, 1, 0, 1]  # independent
    assert normalized_mutual_information(a, b) == pytest.approx(0.0, abs=1e-12)
    c = [0, 0, 0, 1]
    h_a, h_c = math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mi = 0.5 * math.log(0.5 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.75))
    mi += 0.25 * math.log(0.25 / (0.5 * 0.25))
    assert normalized_mutual_information(a, c) == pytest.approx(2 * mi / (h_a + h_c))
