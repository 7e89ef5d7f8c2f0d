"""Islands: groups of variables that one binary latent explains (spec §2, BuildIslands/OneIsland).

``build_islands`` follows StepwiseEMHLTA.IslandFinding as coded (with hlta-xai's correlation
test and batch BIC). Per island, from the pool V of variables not yet in an island:

1. |V| <= 3: one LCM on all of V is the island (the library requires |V| = 3 here; smaller
   pools only occur when a level starts with fewer than 3 variables).
2. Seeds A, B = the pair of V with the largest MI; C = the variable of V \\ {A, B} with the
   largest MI to A or B; S = {A, B, C}; m = LCM on S (full EM).
3. Repeat: (W, X) = argmax MI(W, X) over anchors W in S \\ {A, B} (the seeds are never
   anchors) and X in V \\ S; S' = S + X.
   m1 = m + X, only P(X|Y) fitted (EM on {A, B, X} with P(Y), P(A|Y), P(B|Y) clamped);
   correlation test (if on): m0+ = m + X independent of Y with its empirical P(X), dimension
   dim(m) + 1; if BIC(m1) - BIC(m0+) < τ_CT and |V| - |S'| + 1 >= 3, the island is m;
   m2 = m1 with W, X moved under a new latent Z below Y (P(Z|Y), P(W|Z), P(X|Z) fitted by
   EM on {A, B, W, X} with the rest clamped); UD-test: if BIC(m2) - BIC(m1) > δ, the island
   is m without W (W returns to the pool), or, when V \\ S' is empty, two islands: m without W
   and {W, X} (P(W|Z), P(X|Z) from m2, P(Z) refitted with B as a third, dropped leaf);
   else m = m1, S = S', and the island is m once V \\ S' is empty or |S'| >= maxIsland with at
   least 3 variables left over.

All BIC values are on the data projected on S' with N its total weight, plain or batch
(``scores.bic``). Island parameters are never refitted jointly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from explain_engine.hlta.data import Projection, WeightedData, marginal_counts
from explain_engine.hlta.scores import bic
from explain_engine.hlta.smallem import EmSettings, SmallModel, fit


@dataclass(frozen=True)
class IslandSettings:
    """Settings of island building (spec §4 defaults table, hlta-xai column).

    ``ct_threshold`` None turns the correlation test off; ``bic_batch_size`` None gives the
    plain BIC.
    """

    ud_threshold: float = 3.0
    max_island: int = 10
    ct_threshold: float | None = 3.0
    bic_batch_size: int | None = 5000
    em: EmSettings = EmSettings()


@dataclass(frozen=True, eq=False)
class Island:
    """An island: ``members`` (variable indices, in order of joining) under one latent.

    ``model`` is its LCM, leaf i = ``members[i]``; ``seeds`` are the pair it grew from
    (used by PEM-style bridging).
    """

    members: tuple[int, ...]
    seeds: tuple[int, ...]
    model: SmallModel


def build_islands(
    data: WeightedData,
    mi: np.ndarray,
    settings: IslandSettings,
    rng: np.random.Generator,
    progress: tqdm | None = None,
) -> list[Island]:
    """Partition all variables of ``data`` into islands (module docstring), in build order.

    ``mi`` is the (n_vars, n_vars) MI matrix of ``data``. ``progress`` (optional) is advanced
    by the number of variables placed.
    """
    in_pool = np.ones(data.n_vars, dtype=bool)
    islands: list[Island] = []
    while in_pool.any():
        grower = _IslandGrower(data, mi, np.flatnonzero(in_pool), settings, rng)
        for island in grower.run():
            in_pool[list(island.members)] = False
            islands.append(island)
            if progress is not None:
                progress.update(len(island.members))
    return islands


def island_log_odds(islands: Sequence[Island], data: WeightedData) -> np.ndarray:
    """ln P(Y=1|d) - ln P(Y=0|d) for every island latent Y and row d, from its LCM alone.

    Shape (n_rows, n_islands); one sparse product over all islands (spec §3 step 5).
    """
    slopes = np.zeros((data.n_vars, len(islands)))
    offsets = np.zeros(len(islands))
    for j, island in enumerate(islands):
        log_cpt = np.log(island.model.leaf_cpt)  # (k, s, x)
        log_prior = np.log(island.model.prior)
        offsets[j] = log_prior[1] - log_prior[0] + np.sum(log_cpt[:, 1, 0] - log_cpt[:, 0, 0])
        slopes[list(island.members), j] = (log_cpt[:, 1, 1] - log_cpt[:, 1, 0]) - (
            log_cpt[:, 0, 1] - log_cpt[:, 0, 0]
        )
    return np.asarray(data.rows @ slopes) + offsets


class _IslandGrower:
    """One run of OneIsland on a pool; ``run`` returns the one or two islands it emits."""

    def __init__(
        self,
        data: WeightedData,
        mi: np.ndarray,
        pool: np.ndarray,
        settings: IslandSettings,
        rng: np.random.Generator,
    ):
        self.data, self.mi, self.pool = data, mi, pool
        self.settings, self.rng = settings, rng

    def run(self) -> list[Island]:
        if len(self.pool) <= 3:  # step 1
            return [self._whole_pool()]
        a, b = self._best_pair()  # step 2
        _, c = self._closest([a, b], [a, b])  # step 3
        members = [a, b, c]
        projection = Projection(self.data, members)
        model = self._fit(_random_lcm(3), projection.counts())
        while True:  # step 4
            w, x = self._closest(members[2:], members)  # a: seeds are never anchors
            grown = projection.extended(x)  # b
            counts = grown.counts()
            k = len(members) + 1
            left = len(self.pool) - k
            m1 = self._with_leaf(model, counts)  # c
            ll1 = m1.log_likelihood(counts)
            if self.settings.ct_threshold is not None and left + 1 >= 3:  # e
                ll0 = model.log_likelihood(marginal_counts(counts, range(k - 1)))
                ll0 += _independent_loglik(counts)
                ct_gain = self._bic(ll1, m1.dimension) - self._bic(ll0, model.dimension + 1)
                if ct_gain < self.settings.ct_threshold:
                    return [Island(tuple(members), (a, b), model)]
            w_leaf = members.index(w)
            m2 = self._two_latent(m1, counts, w_leaf)  # d
            ud_gain = self._bic(m2.log_likelihood(counts), m2.dimension) - self._bic(
                ll1, m1.dimension
            )
            if ud_gain > self.settings.ud_threshold:  # f
                rest = Island(
                    tuple(v for v in members if v != w), (a, b), model.without_leaf(w_leaf)
                )
                if left == 0:
                    return [rest, self._split_pair(m2, counts, w_leaf, w, x)]
                return [rest]
            members.append(x)  # h
            model, projection = m1, grown
            if left == 0 or (k >= self.settings.max_island and left >= 3):  # g
                return [Island(tuple(members), (a, b), model)]

    # ------------------------------------------------------------------------ choices

    def _best_pair(self) -> tuple[int, int]:
        """The pool pair with the largest MI (first in index order on ties)."""
        sub = self.mi[np.ix_(self.pool, self.pool)].copy()
        sub[np.tril_indices(len(self.pool))] = -np.inf
        i, j = np.unravel_index(np.argmax(sub), sub.shape)
        return int(self.pool[i]), int(self.pool[j])

    def _closest(self, anchors: Sequence[int], taken: Sequence[int]) -> tuple[int, int]:
        """(anchor, variable) maximising MI over ``anchors`` x (pool minus ``taken``)."""
        candidates = self.pool[~np.isin(self.pool, taken)]
        sub = self.mi[np.ix_(anchors, candidates)]
        i, j = np.unravel_index(np.argmax(sub), sub.shape)
        return int(anchors[i]), int(candidates[j])

    # ------------------------------------------------------------------------- models

    def _fit(self, model: SmallModel, counts: np.ndarray, **clamped) -> SmallModel:
        return fit(model, counts, self.settings.em, self.rng, **clamped)

    def _bic(self, loglik: float, dimension: int) -> float:
        return bic(loglik, dimension, self.data.total, self.settings.bic_batch_size)

    def _whole_pool(self) -> Island:
        members = tuple(int(v) for v in self.pool)
        counts = Projection(self.data, members).counts()
        seeds = self._best_pair() if len(members) > 1 else members
        return Island(members, seeds, self._fit(_random_lcm(len(members)), counts))

    def _with_leaf(self, model: SmallModel, counts: np.ndarray) -> SmallModel:
        """m1: ``model`` plus the last variable of ``counts``, only its CPT fitted (step c)."""
        k = model.n_leaves + 1
        sub = SmallModel.lcm(model.prior, np.concatenate([model.leaf_cpt[:2], _UNIFORM[None]]))
        fitted = self._fit(
            sub, marginal_counts(counts, [0, 1, k - 1]), fixed_prior=True, fixed_leaves=(0, 1)
        )
        return SmallModel.lcm(model.prior, np.concatenate([model.leaf_cpt, fitted.leaf_cpt[2:]]))

    def _two_latent(self, m1: SmallModel, counts: np.ndarray, w_leaf: int) -> SmallModel:
        """m2: W (leaf ``w_leaf``) and X (last leaf) moved under a new latent Z (step d)."""
        x_leaf = m1.n_leaves - 1
        sub = SmallModel(
            m1.prior,
            np.stack([m1.leaf_cpt[0], m1.leaf_cpt[1], _UNIFORM, _UNIFORM]),
            np.array([0, 0, 1, 1]),
            _UNIFORM,
        )
        fitted = self._fit(
            sub,
            marginal_counts(counts, [0, 1, w_leaf, x_leaf]),
            fixed_prior=True,
            fixed_leaves=(0, 1),
        )
        leaf_cpt = m1.leaf_cpt.copy()
        leaf_cpt[[w_leaf, x_leaf]] = fitted.leaf_cpt[2:]
        leaf_parent = np.zeros(m1.n_leaves, dtype=int)
        leaf_parent[[w_leaf, x_leaf]] = 1
        return SmallModel(m1.prior, leaf_cpt, leaf_parent, fitted.z_cpt)

    def _split_pair(
        self, m2: SmallModel, counts: np.ndarray, w_leaf: int, w: int, x: int
    ) -> Island:
        """The 2-leaf island {W, X}: P(W|Z), P(X|Z) from m2, P(Z) fitted with seed B added."""
        x_leaf = m2.n_leaves - 1
        sub = SmallModel.lcm(
            _UNIFORM[0], np.stack([m2.leaf_cpt[w_leaf], m2.leaf_cpt[x_leaf], _UNIFORM])
        )
        fitted = self._fit(sub, marginal_counts(counts, [w_leaf, x_leaf, 1]), fixed_leaves=(0, 1))
        return Island((w, x), (w, x), SmallModel.lcm(fitted.prior, fitted.leaf_cpt[:2]))


_UNIFORM = np.full((2, 2), 0.5)
_UNIFORM.flags.writeable = False


def _random_lcm(n_leaves: int) -> SmallModel:
    """An LCM structure whose parameters are all free (``fit`` redraws them)."""
    return SmallModel.lcm(_UNIFORM[0], np.broadcast_to(_UNIFORM, (n_leaves, 2, 2)))


def _independent_loglik(counts: np.ndarray) -> float:
    """LL of the last variable of ``counts`` under its own empirical frequency (m0+'s X)."""
    half = counts.size // 2
    ones, total = counts[half:].sum(), counts.sum()
    zeros = total - ones
    loglik = 0.0
    for n in (ones, zeros):
        if n > 0:
            loglik += n * np.log(n / total)
    return float(loglik)
