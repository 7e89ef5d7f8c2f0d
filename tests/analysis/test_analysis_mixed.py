"""Mixed-effects logistic regression: same fit as statsmodels' formula interface."""

import numpy as np
import pytest
from analysis_studies import simulate_study
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from studies.analysis import analyse


def test_mixed_model_matches_the_formula_fit_and_finds_the_effect():
    trials, participants = simulate_study(
        np.random.default_rng(1),
        {("g", "SWOX"): (12, 0.4), ("g", "CWOX-2s"): (12, 0.85)},
        n_items=10,
    )
    tables = analyse(trials, participants, conditions=["SWOX", "CWOX-2s"], mixed_model=True)
    rows = tables.mixed_model.set_index("term")
    assert list(rows.index) == ["intercept", "CWOX-2s", "sd(participant)", "sd(item)"]
    assert rows["converged"].all() and (rows["reference"] == "SWOX").all()
    data = tables.trials.assign(correct=tables.trials["correct"].astype(float))
    model = BinomialBayesMixedGLM.from_formula(
        "correct ~ C(condition, Treatment('SWOX'))",
        {"participant": "0 + C(participant)", "item": "0 + C(item)"},
        data,
        vcp_p=1.0,
        fe_p=2.0,
    )
    reference = model.fit_vb(rng=0)
    np.testing.assert_allclose(
        rows.loc[["intercept", "CWOX-2s"], "estimate"], reference.fe_mean, rtol=1e-3, atol=1e-3
    )
    np.testing.assert_allclose(
        rows.loc[["sd(participant)", "sd(item)"], "estimate"],
        np.exp(reference.vcp_mean),
        rtol=1e-3,
        atol=1e-3,
    )
    effect = rows.loc["CWOX-2s"]
    assert effect["ci_low"] > 0
    assert effect["odds_ratio"] == pytest.approx(np.exp(effect["estimate"]))


def test_mixed_model_is_off_by_default_and_skips_groups_with_one_condition():
    trials, participants = simulate_study(
        np.random.default_rng(2),
        {("g", "A"): (3, 0.5), ("h", "A"): (3, 0.5), ("h", "B"): (3, 0.7)},
        n_items=4,
    )
    assert analyse(trials, participants).mixed_model is None
    fitted = analyse(trials, participants, mixed_model=True).mixed_model
    assert set(fitted["group"]) == {"h"}
