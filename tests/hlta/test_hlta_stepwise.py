"""Stepwise global EM: step sizes, step budget, held-out likelihood (spec §4, test 8)."""

from __future__ import annotations

import numpy as np
import pytest

from explain_engine.hlta import HltaSettings, learn_model, stepwise
from explain_engine.hlta.data import documents_to_matrix
from explain_engine.hlta.ltm import expected_counts


def classes_of(model) -> list[int]:
    """The class index of each observed node (named c<index>), in node order."""
    return [int(model.names[node][1:]) for node in np.flatnonzero(model.observed)]


def test_step_size_is_u_plus_two_to_the_minus_three_quarters():
    assert stepwise.step_size(0) == 2**-0.75
    assert stepwise.step_size(126) == pytest.approx(128**-0.75)


def test_step_budget_limits_the_number_of_minibatches(planted_result, planted, monkeypatch):
    model = planted_result.model
    documents = documents_to_matrix(planted.documents, planted.num_classes)[:, classes_of(model)]
    calls = []
    real = stepwise.expected_counts

    def counting(*args):
        calls.append(args[1].shape[0])
        return real(*args)

    monkeypatch.setattr(stepwise, "expected_counts", counting)
    settings = stepwise.StepwiseSettings(batch_size=500, max_steps=7, threshold=-1.0)
    stepwise.stepwise_em(model, documents, settings, np.random.default_rng(0))
    assert calls == [500] * 7


def test_global_em_improves_the_held_out_likelihood(planted, planted_result):
    with_em = learn_model(
        planted.documents,
        planted.num_classes,
        settings=HltaSettings(seed=5, global_em=True, global_max_steps=40),
        progress=False,
    ).model
    without = planted_result.model
    assert with_em.names == without.names  # same structure: the seed drives both runs
    held_out = documents_to_matrix(planted.held_out, planted.num_classes)
    held_out = held_out[np.diff(held_out.indptr) >= 2]
    held_out = held_out[:, classes_of(without)]
    loglik_with, _ = expected_counts(with_em, held_out)
    loglik_without, _ = expected_counts(without, held_out)
    assert loglik_with > loglik_without
