"""Local EM: recovery, clamping, +1 smoothing and the Chickering–Heckerman schedule (test 3)."""

from __future__ import annotations

import numpy as np
import pytest

from explain_engine.hlta import smallem
from explain_engine.hlta.smallem import EmSettings, SmallModel, fit

PRIOR = np.array([0.7, 0.3])
CPT = np.array(
    [
        [[0.9, 0.1], [0.2, 0.8]],
        [[0.8, 0.2], [0.3, 0.7]],
        [[0.95, 0.05], [0.4, 0.6]],
        [[0.6, 0.4], [0.1, 0.9]],
    ]
)


def lcm_counts(n: int, prior: np.ndarray, cpt: np.ndarray, seed: int) -> np.ndarray:
    """Pattern counts of n samples from an LCM (bit i = leaf i)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prior[1]).astype(int)
    x = rng.random((n, len(cpt))) < cpt[np.arange(len(cpt)), y[:, None], 1]
    codes = (x * (1 << np.arange(len(cpt)))).sum(axis=1)
    return np.bincount(codes, minlength=1 << len(cpt)).astype(float)


def free_lcm(k: int) -> SmallModel:
    return SmallModel.lcm(np.full(2, 0.5), np.full((k, 2, 2), 0.5))


def test_em_recovers_a_planted_lcm_up_to_label_swap():
    counts = lcm_counts(50_000, PRIOR, CPT, seed=0)
    fitted = fit(free_lcm(4), counts, EmSettings(), np.random.default_rng(1))
    prior, cpt = fitted.prior, fitted.leaf_cpt
    if prior[0] < prior[1]:  # label swap
        prior, cpt = prior[::-1], cpt[:, ::-1]
    np.testing.assert_allclose(prior, PRIOR, atol=0.02)
    np.testing.assert_allclose(cpt, CPT, atol=0.03)


def test_clamped_parameters_come_back_bit_identical():
    counts = lcm_counts(5_000, PRIOR, CPT, seed=2)
    prior = np.array([0.6180339887, 0.3819660113])
    cpt = np.array([[[0.71, 0.29], [0.13, 0.87]], [[0.55, 0.45], [0.2, 0.8]]])
    model = SmallModel(
        prior,
        np.concatenate([cpt, np.full((2, 2, 2), 0.5)]),
        np.array([0, 0, 1, 1]),
        np.full((2, 2), 0.5),
    )
    fitted = fit(
        model, counts, EmSettings(), np.random.default_rng(0), fixed_prior=True, fixed_leaves=(0, 1)
    )
    assert fitted.prior.tobytes() == prior.tobytes()
    assert fitted.leaf_cpt[:2].tobytes() == cpt.tobytes()
    assert not np.allclose(fitted.leaf_cpt[2:], 0.5)
    assert not np.allclose(fitted.z_cpt, 0.5)


def test_m_step_adds_one_to_every_expected_count():
    # Leaf 0 is clamped (almost) deterministic, so Y = leaf 0 and EM's fixed point is the
    # +1-smoothed frequency table: P(x|y) = (n(x, y) + 1) / (n(y) + 2), P(y) = (n(y) + 1) / (N + 2).
    eps = 1e-200
    determined = np.array([[1 - eps, eps], [eps, 1 - eps]])
    model = SmallModel.lcm(np.full(2, 0.5), np.stack([determined, np.full((2, 2), 0.5)]))
    n = {(0, 0): 7.0, (0, 1): 3.0, (1, 0): 1.0, (1, 1): 4.0}  # (y, x) -> weight
    counts = np.zeros(4)
    for (y, x), weight in n.items():
        counts[y | (x << 1)] = weight
    fitted = fit(model, counts, EmSettings(restarts=4), np.random.default_rng(0), fixed_leaves=(0,))
    np.testing.assert_allclose(fitted.prior, [(10 + 1) / (15 + 2), (5 + 1) / (15 + 2)])
    np.testing.assert_allclose(fitted.leaf_cpt[1], [[8 / 12, 4 / 12], [2 / 7, 5 / 7]])


@pytest.fixture
def recorded_batch_sizes(monkeypatch) -> list[int]:
    """The number of candidate models in every EM step ``fit`` takes."""
    sizes: list[int] = []
    step = smallem._em_step

    def recording(batch, patterns, free):
        sizes.append(len(batch.prior))
        return step(batch, patterns, free)

    monkeypatch.setattr(smallem, "_em_step", recording)
    return sizes


def test_restart_schedule_halves_candidates_and_doubles_steps(recorded_batch_sizes):
    counts = lcm_counts(2_000, PRIOR, CPT[:3], seed=3)
    settings = EmSettings(restarts=8, max_steps=20, threshold=-np.inf)
    fit(free_lcm(3), counts, settings, np.random.default_rng(0))
    # 1 step on 8; rounds of 1 step on 8, 2 on 4, 4 on 2; the winner runs to 20 steps in all.
    assert recorded_batch_sizes == [8, 8, 4, 4, 2, 2, 2, 2] + [1] * 12


def test_no_improvement_ends_the_selection_with_the_first_candidate(recorded_batch_sizes):
    counts = lcm_counts(2_000, PRIOR, CPT[:3], seed=3)
    settings = EmSettings(restarts=8, max_steps=200, threshold=np.inf)
    fit(free_lcm(3), counts, settings, np.random.default_rng(0))
    assert recorded_batch_sizes == [8, 8, 1, 1]


def test_log_likelihood_sums_weighted_pattern_probabilities():
    model = SmallModel.lcm(PRIOR, CPT[:2])
    counts = np.array([1.0, 2.0, 0.0, 3.0])
    p = [
        sum(PRIOR[y] * CPT[0, y, code & 1] * CPT[1, y, code >> 1] for y in (0, 1))
        for code in range(4)
    ]
    expected = sum(c * np.log(q) for c, q in zip(counts, p, strict=True) if c)
    assert model.log_likelihood(counts) == pytest.approx(expected, rel=1e-12)
