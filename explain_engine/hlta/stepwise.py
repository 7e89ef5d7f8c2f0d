"""Stepwise (online) EM over the whole tree (spec §4 "Global phase", ParallelStepwiseEmLearner).

No restarts: it starts from the constructed model. The documents are shuffled once and cut
into consecutive minibatches of ``batch_size`` (⌊N / b⌋ per epoch, at least one). At step u
(0-based) the batch's expected family counts s_u update the statistics
S <- (1 - η) S + η s_u with η = (u + 2)^-0.75, and θ = S normalised per row (no +1).
It stops when |LL(batch u) - LL(batch u-1)| < ``threshold`` (LL of the parameters before the
step), after ``max_steps`` steps, or after ``max_epochs`` epochs.

One deliberate difference from the library: S starts as ``batch_size`` times the constructed
model's CPTs instead of zero. With a zero start, a class absent from the first minibatch
gets probability 0 and any later document holding it has log-likelihood -inf; with 1000
classes and 1000-document batches that is the common case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from explain_engine.hlta.ltm import TreeModel, expected_counts


@dataclass(frozen=True)
class StepwiseSettings:
    """hlta-xai's --run-global-em settings: b = 1000, 128 steps, 10 epochs, ε = 0.01."""

    batch_size: int = 1000
    max_steps: int = 128
    max_epochs: int = 10
    threshold: float = 0.01


def step_size(step: int) -> float:
    """η for 0-based step u: (u + 2)^-0.75."""
    return (step + 2) ** -0.75


def stepwise_em(
    model: TreeModel, documents: sp.csr_matrix, settings: StepwiseSettings, rng: np.random.Generator
) -> TreeModel:
    """The model after stepwise EM on the document rows (columns = observed nodes)."""
    n_docs = documents.shape[0]
    order = rng.permutation(n_docs)
    size = min(settings.batch_size, n_docs)
    n_batches = max(n_docs // settings.batch_size, 1)
    statistics = model.cpt * size
    current = model
    previous_loglik, step = 0.0, 0
    for _ in range(settings.max_epochs):
        for batch in range(n_batches):
            rows = documents[order[batch * size : (batch + 1) * size]]
            loglik, counts = expected_counts(current, rows)
            eta = step_size(step)
            statistics = (1 - eta) * statistics + eta * counts
            current = TreeModel(
                model.names,
                model.parent,
                model.level,
                statistics / statistics.sum(axis=-1, keepdims=True),
            )
            step += 1
            if abs(loglik - previous_loglik) < settings.threshold or step >= settings.max_steps:
                return current
            previous_loglik = loglik
    return current
