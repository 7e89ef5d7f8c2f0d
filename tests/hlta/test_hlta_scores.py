"""BIC, batch BIC and model dimensions (spec §1, §2 "Notes" and "Batch BIC", test 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explain_engine.hlta.scores import bic
from explain_engine.hlta.smallem import SmallModel


@pytest.mark.parametrize("k", [3, 4, 10])
def test_dimensions_of_the_unidimensional_and_two_latent_models(k):
    m1 = SmallModel.lcm(np.full(2, 0.5), np.full((k, 2, 2), 0.5))
    leaf_parent = np.array([0] * (k - 2) + [1, 1])
    m2 = SmallModel(m1.prior, m1.leaf_cpt, leaf_parent, np.full((2, 2), 0.5))
    assert m1.dimension == 2 * k + 1
    assert m2.dimension == 2 * k + 3


def test_plain_bic_is_loglik_minus_half_dimension_log_n():
    assert bic(-1000.0, 7, 500.0) == -1000.0 - 3.5 * math.log(500.0)
    assert bic(-1000.0, 7, 500.0, None) == bic(-1000.0, 7, 500.0, 0)


def test_batch_bic_scores_an_average_batch():
    assert bic(-1e6, 9, 1e5, 5000) == -1e6 * 5000 / 1e5 - 4.5 * math.log(5000)
    # a batch at least as large as the data falls back to the plain BIC
    assert bic(-1e3, 9, 4000.0, 5000) == bic(-1e3, 9, 4000.0)


def test_ud_threshold_is_a_loglik_gain_above_delta_plus_log_n():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = float(rng.integers(10, 10**6))
        ll1 = -float(rng.random()) * n
        ll2 = ll1 + float(rng.normal(0, 20))
        dim = int(rng.integers(7, 30))
        fails = bic(ll2, dim + 2, n) - bic(ll1, dim, n) > 3.0
        assert fails == (ll2 - ll1 > 3.0 + math.log(n))
        batch_fails = bic(ll2, dim + 2, n, 5000) - bic(ll1, dim, n, 5000) > 3.0
        if n > 5000:
            assert batch_fails == ((ll2 - ll1) * 5000 / n > 3.0 + math.log(5000))
