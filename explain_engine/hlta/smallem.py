"""EM for the small models of island building, on weighted pattern counts (spec §4 "Local EM").

A ``SmallModel`` has a binary latent root Y, optionally one binary latent Z that is a child of
Y, and k binary leaves, each a child of Y or of Z. With Z absent it is a latent class model
(LCM, the island model); with Z it is the two-latent model of the UD-test (spec §2 step 4d)
and of PEM's bridging edges (spec §2 "Bridging").

``fit`` is latlab's ParallelEmLearner with Chickering–Heckerman restarts, as coded:

1. ``restarts`` copies whose free CPTs are drawn U(0, 1] and normalised (clamped CPTs keep
   their values), then one EM step on each;
2. rounds of s = 1, 2, 4, ... steps (capped by the remaining budget) on the survivors; if in
   one step no survivor gains more than ``threshold`` the first survivor wins at once; after
   each round the survivors are sorted by log-likelihood and the top half is kept;
3. one more step on the winner, then steps until the gain is <= ``threshold`` or the total
   number of steps (selection included) reaches ``max_steps`` (at least one such step).

Every M-step adds 1 to each expected-count cell before normalising (Laplace). The
log-likelihood checked is the one computed in the E-step, i.e. that of the parameters before
the step. All restarts are updated at once: arrays carry a leading restart axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EmSettings:
    """Local EM settings (spec §4; hlta-xai defaults: 16 restarts, 200 steps, ε = 0.01)."""

    restarts: int = 16
    max_steps: int = 200
    threshold: float = 0.01


@dataclass(frozen=True, eq=False)
class SmallModel:
    """Parameters of a small model; arrays are read-only by convention.

    ``prior``: (2,) P(Y). ``leaf_cpt``: (k, 2, 2), ``leaf_cpt[i, s, x]`` = P(leaf i = x | its
    parent = s). ``leaf_parent``: (k,) 0 if leaf i hangs under Y, 1 if under Z. ``z_cpt``:
    (2, 2) P(Z = z | Y = y) as ``[y, z]``, or None for an LCM.
    """

    prior: np.ndarray
    leaf_cpt: np.ndarray
    leaf_parent: np.ndarray
    z_cpt: np.ndarray | None = None

    @classmethod
    def lcm(cls, prior: np.ndarray, leaf_cpt: np.ndarray) -> SmallModel:
        """An LCM: every leaf under Y."""
        leaf_cpt = np.asarray(leaf_cpt, dtype=np.float64)
        return cls(np.asarray(prior, dtype=np.float64), leaf_cpt, np.zeros(len(leaf_cpt), int))

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_cpt)

    @property
    def dimension(self) -> int:
        """Free parameters: 1 for P(Y), 2 per 2x2 CPT (Z and every leaf); spec §1."""
        return 1 + 2 * self.n_leaves + (0 if self.z_cpt is None else 2)

    def without_leaf(self, leaf: int) -> SmallModel:
        """The same model with leaf ``leaf`` removed (the others keep their CPTs)."""
        keep = np.arange(self.n_leaves) != leaf
        return SmallModel(self.prior, self.leaf_cpt[keep], self.leaf_parent[keep], self.z_cpt)

    def log_likelihood(self, counts: np.ndarray) -> float:
        """LL of weighted pattern counts over the k leaves (bit i of a pattern = leaf i)."""
        patterns = _Patterns.of(counts, self.n_leaves)
        loglik, _ = _posteriors(_Batch.of(self), patterns)
        return float(loglik[0])


def fit(
    model: SmallModel,
    counts: np.ndarray,
    settings: EmSettings,
    rng: np.random.Generator,
    *,
    fixed_prior: bool = False,
    fixed_leaves: Sequence[int] = (),
) -> SmallModel:
    """EM with Chickering–Heckerman restarts (module docstring) on pattern counts.

    ``model`` gives the structure and the clamped values: P(Y) when ``fixed_prior``, the CPTs
    of the leaves in ``fixed_leaves``. Clamped arrays come back bit-identical; every other
    CPT (including P(Z|Y)) starts random in each restart.
    """
    patterns = _Patterns.of(counts, model.n_leaves)
    free = _Free(
        not fixed_prior,
        np.isin(np.arange(model.n_leaves), np.asarray(fixed_leaves, dtype=int), invert=True),
    )
    batch = _Batch.of(model).repeat(settings.restarts).randomized(free, rng)

    loglik, batch = _em_step(batch, patterns, free)
    steps = 1
    candidates, steps_per_round = settings.restarts, 1
    while candidates > 1 and steps < settings.max_steps:
        improved = True
        for _ in range(steps_per_round):
            last = loglik[:candidates]
            current, survivors = _em_step(batch.take(slice(candidates)), patterns, free)
            batch = batch.replaced(slice(candidates), survivors)
            loglik = np.concatenate([current, loglik[candidates:]])
            steps += 1
            improved = bool(np.any((current - last > settings.threshold) | np.isneginf(last)))
            if not improved:
                break
        if not improved:
            break
        order = np.argsort(-loglik[:candidates], kind="stable")
        batch = batch.replaced(slice(candidates), batch.take(order))
        loglik = np.concatenate([loglik[order], loglik[candidates:]])
        candidates //= 2
        steps_per_round = min(steps_per_round * 2, settings.max_steps - steps)

    best = batch.take(slice(1))
    loglik, best = _em_step(best, patterns, free)
    steps += 1
    while True:
        previous = loglik
        loglik, best = _em_step(best, patterns, free)
        steps += 1
        if not (loglik[0] - previous[0] > settings.threshold and steps < settings.max_steps):
            break
    return best.model(0)


@dataclass(frozen=True)
class _Free:
    prior: bool
    leaves: np.ndarray  # (k,) bool


@dataclass(frozen=True)
class _Patterns:
    """The patterns with positive count: ``bits`` (P, k) float 0/1 and ``counts`` (P,)."""

    bits: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, counts: np.ndarray, n_leaves: int) -> _Patterns:
        if counts.shape != (1 << n_leaves,):
            raise ValueError(f"expected {1 << n_leaves} pattern counts, got {counts.shape}")
        codes = np.flatnonzero(counts > 0)
        bits = ((codes[:, None] >> np.arange(n_leaves)) & 1).astype(np.float64)
        return cls(bits, counts[codes])


@dataclass(frozen=True, eq=False)
class _Structure:
    """Latent configurations h (LCM: h = y; two latents: h = 2y + z) and, per (h, leaf), the
    state of the leaf's parent: ``state`` (H, k) and its one-hot form ``onehot`` (H, k, 2)."""

    leaf_parent: np.ndarray
    two_latents: bool
    state: np.ndarray
    onehot: np.ndarray

    @classmethod
    def of(cls, leaf_parent: np.ndarray, two_latents: bool) -> _Structure:
        if two_latents:
            h = np.arange(4)[:, None]
            state = np.where(leaf_parent[None, :] == 0, h // 2, h % 2)
        else:
            state = np.repeat(np.arange(2)[:, None], len(leaf_parent), axis=1)
        return cls(leaf_parent, two_latents, state, np.eye(2)[state])


@dataclass(frozen=True, eq=False)
class _Batch:
    """R models of one structure: prior (R, 2), leaf (R, k, 2, 2), z (R, 2, 2) or None."""

    prior: np.ndarray
    leaf: np.ndarray
    z: np.ndarray | None
    structure: _Structure

    @classmethod
    def of(cls, model: SmallModel) -> _Batch:
        z = None if model.z_cpt is None else model.z_cpt[None]
        structure = _Structure.of(model.leaf_parent, z is not None)
        return cls(model.prior[None], model.leaf_cpt[None], z, structure)

    def model(self, r: int) -> SmallModel:
        z = None if self.z is None else self.z[r]
        return SmallModel(self.prior[r], self.leaf[r], self.structure.leaf_parent, z)

    def repeat(self, n: int) -> _Batch:
        return self.take(np.zeros(n, dtype=int))

    def take(self, index: slice | np.ndarray) -> _Batch:
        z = None if self.z is None else self.z[index]
        return _Batch(self.prior[index], self.leaf[index], z, self.structure)

    def replaced(self, index: slice, part: _Batch) -> _Batch:
        """A copy with the models at ``index`` replaced by ``part``."""
        prior, leaf = self.prior.copy(), self.leaf.copy()
        prior[index], leaf[index] = part.prior, part.leaf
        z = None
        if self.z is not None:
            z = self.z.copy()
            z[index] = part.z
        return _Batch(prior, leaf, z, self.structure)

    def randomized(self, free: _Free, rng: np.random.Generator) -> _Batch:
        """Free CPTs redrawn: every row U(0, 1] then normalised (Function.randomlyDistribute)."""
        prior, leaf, z = self.prior, self.leaf.copy(), self.z
        if free.prior:
            prior = _random_rows(rng, prior.shape)
        n_free = int(free.leaves.sum())
        if n_free:
            leaf[:, free.leaves] = _random_rows(rng, (len(leaf), n_free, 2, 2))
        if z is not None:
            z = _random_rows(rng, z.shape)
        return _Batch(prior, leaf, z, self.structure)


def _random_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    cells = 1.0 - rng.random(shape)
    return cells / cells.sum(axis=-1, keepdims=True)


def _posteriors(batch: _Batch, patterns: _Patterns) -> tuple[np.ndarray, np.ndarray]:
    """E-step: LL per model (R,) and weighted posteriors of the configurations (R, H, P)."""
    structure = batch.structure
    log_h = np.log(batch.prior)
    if structure.two_latents:
        log_h = (log_h[:, :, None] + np.log(batch.z)).reshape(len(log_h), 4)
    k = structure.state.shape[1]
    log_leaf = np.log(batch.leaf)[:, np.arange(k)[None, :], structure.state, :]  # (R, H, k, 2)
    base = log_h + log_leaf[..., 0].sum(axis=-1)
    joint = base[:, :, None] + (log_leaf[..., 1] - log_leaf[..., 0]) @ patterns.bits.T
    top = joint.max(axis=1, keepdims=True)
    log_p = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))  # (R, P)
    weighted = np.exp(joint - log_p[:, None, :]) * patterns.counts
    return log_p @ patterns.counts, weighted


def _em_step(batch: _Batch, patterns: _Patterns, free: _Free) -> tuple[np.ndarray, _Batch]:
    """One EM step on every model: (LL before the step (R,), updated models)."""
    loglik, weighted = _posteriors(batch, patterns)
    onehot = batch.structure.onehot
    per_h = weighted.sum(axis=2)  # (R, H)
    ones = np.einsum("rhk,hks->rks", weighted @ patterns.bits, onehot)
    totals = np.einsum("rh,hks->rks", per_h, onehot)
    leaf_counts = np.stack([totals - ones, ones], axis=-1)
    leaf = np.where(free.leaves[None, :, None, None], _normalized(leaf_counts), batch.leaf)
    z = None
    if batch.z is not None:
        joint = per_h.reshape(len(per_h), 2, 2)
        z = _normalized(joint)
        per_y = joint.sum(axis=-1)
    else:
        per_y = per_h
    prior = _normalized(per_y) if free.prior else batch.prior
    return loglik, _Batch(prior, leaf, z, batch.structure)


def _normalized(counts: np.ndarray) -> np.ndarray:
    """M-step with the +1 smoothing of every cell: (n + 1) / (sum n + |X|)."""
    smoothed = counts + 1.0
    return smoothed / smoothed.sum(axis=-1, keepdims=True)
