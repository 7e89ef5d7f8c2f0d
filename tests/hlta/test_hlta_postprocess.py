"""Post-processing: state reordering, Z naming and smoothing (spec §4 "Post-processing")."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from explain_engine.hlta.ltm import TreeModel, infer
from explain_engine.hlta.postprocess import renamed, reordered, smoothed

TOPIC_LAST = np.array([[0.95, 0.05], [0.3, 0.7]])  # P(leaf | latent): s1 is the topic state
TOPIC_FIRST = TOPIC_LAST[::-1]


def small_model() -> TreeModel:
    """Top t (level 2) over latents a, b (level 1); a over leaves 0, 1; b over leaves 2, 3.

    Latent a has its topic state in s0, b in s1.
    """
    names = ("x0", "x1", "x2", "x3", "a", "b", "t")
    parent = np.array([4, 4, 5, 5, 6, 6, -1])
    level = np.array([0, 0, 0, 0, 1, 1, 2])
    cpt = np.stack(
        [TOPIC_FIRST, TOPIC_FIRST, TOPIC_LAST, TOPIC_LAST]
        + [np.array([[0.8, 0.2], [0.4, 0.6]])] * 2
        + [np.array([[0.3, 0.7], [0.3, 0.7]])]
    )
    return TreeModel(names, parent, level, cpt)


def test_reordering_makes_s1_the_topic_state_and_keeps_the_distribution():
    model = small_model()
    result = reordered(model)
    for leaf in range(4):
        assert result.cpt[leaf, 1, 1] > result.cpt[leaf, 0, 1]
    np.testing.assert_array_equal(result.cpt[2:4], model.cpt[2:4])  # b was already in order
    rows = sp.csr_matrix(np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1).T.astype(float))
    np.testing.assert_allclose(infer(result, rows).loglik, infer(model, rows).loglik)


def test_latents_are_renamed_depth_first_per_level():
    names = renamed(small_model()).names
    assert names == ("x0", "x1", "x2", "x3", "Z11", "Z12", "Z21")


def test_smoothing_maps_every_cell_to_n_p_plus_one_over_n_plus_two():
    model = small_model()
    result = smoothed(model, 98.0)
    np.testing.assert_allclose(result.cpt, (98 * model.cpt + 1) / 100)
    assert result.cpt.sum(axis=-1) == pytest.approx(np.ones((7, 2)))
