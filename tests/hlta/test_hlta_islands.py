"""Island building: UD-test, correlation test, maxIsland cap, leftover rule (spec §2, test 5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from explain_engine.hlta.data import WeightedData, compress
from explain_engine.hlta.islands import Island, IslandSettings, build_islands, island_log_odds
from explain_engine.hlta.mi import pairwise_mi
from explain_engine.hlta.smallem import SmallModel


def two_latent_data(
    n: int, sizes: tuple[int, int], seed: int, coupling: float = 0.1
) -> WeightedData:
    """Y1 ~ B(0.3) with ``sizes[0]`` children, Y2 weakly dependent on Y1 with ``sizes[1]``
    children; every child is 1 with probability 0.8 under its latent's 1 and 0.1 under 0."""
    rng = np.random.default_rng(seed)
    y1 = rng.random(n) < 0.3
    y2 = np.where(y1, rng.random(n) < 0.3 + coupling, rng.random(n) < 0.3 - 0.43 * coupling)
    columns = [
        rng.random(n) < np.where(y, 0.8, 0.1)
        for y, size in zip((y1, y2), sizes, strict=True)
        for _ in range(size)
    ]
    return compress(sp.csr_matrix(np.stack(columns, axis=1).astype(float)))


def islands_of(data: WeightedData, **settings) -> list[tuple[int, ...]]:
    islands = build_islands(
        data, pairwise_mi(data), IslandSettings(**settings), np.random.default_rng(0)
    )
    return [island.members for island in islands]


def test_one_latent_with_eight_children_is_one_island():
    data = two_latent_data(20_000, (8, 0), seed=1)
    assert [set(m) for m in islands_of(data, max_island=15)] == [set(range(8))]


@pytest.mark.parametrize("ct_threshold", [None, 3.0])
def test_ud_test_separates_two_weakly_coupled_groups(ct_threshold):
    # The first variable of group 2 joins (its anchor is in group 1, so m2 gains nothing);
    # the second one fails the UD-test with the first as anchor, which returns to the pool.
    data = two_latent_data(20_000, (5, 5), seed=0)
    islands = islands_of(data, max_island=15, ct_threshold=ct_threshold)
    assert [set(m) for m in islands] == [set(range(5)), set(range(5, 10))]


def test_a_failed_ud_test_on_the_last_variables_emits_two_islands():
    data = two_latent_data(20_000, (4, 2), seed=0)
    islands = build_islands(data, pairwise_mi(data), IslandSettings(), np.random.default_rng(0))
    assert [set(i.members) for i in islands] == [{0, 1, 2, 3}, {4, 5}]
    pair = islands[1]
    assert pair.seeds == pair.members
    topic = int(np.argmax(pair.model.leaf_cpt[0, :, 1]))
    assert np.all(pair.model.leaf_cpt[:, topic, 1] > 0.7)
    assert np.all(pair.model.leaf_cpt[:, 1 - topic, 1] < 0.2)


def test_islands_are_capped_at_max_island_unless_fewer_than_three_would_be_left():
    data = two_latent_data(20_000, (13, 0), seed=1)
    sizes = [len(m) for m in islands_of(data, max_island=4)]
    assert sizes == [4, 4, 5]  # 13 = 4 + 4 + 5: the last island takes the 1 left over
    assert sorted(itertools.chain(*islands_of(data, max_island=4))) == list(range(13))


def test_island_log_odds_are_the_lcm_posteriors():
    rng = np.random.default_rng(3)
    rows = (rng.random((20, 5)) < 0.4).astype(float)
    data = WeightedData(sp.csr_matrix(rows), np.ones(20))
    model = SmallModel.lcm(np.array([0.4, 0.6]), rng.dirichlet([1, 1], size=(3, 2)))
    island = Island((4, 0, 2), (4, 0), model)
    log_odds = island_log_odds([island], data)[:, 0]
    for row, value in zip(rows, log_odds, strict=True):
        joint = [
            model.prior[y]
            * np.prod([model.leaf_cpt[i, y, int(row[v])] for i, v in enumerate((4, 0, 2))])
            for y in (0, 1)
        ]
        assert value == pytest.approx(np.log(joint[1] / joint[0]), rel=1e-10)
