"""The latent tree model: binary nodes in one tree, observed leaves, exact inference.

Spec §1 and §7 ``ltm.py``. Node ``i`` has a parent ``parent[i]`` (-1 for the single root), a
level (0 = observed leaf, >= 1 latent) and a CPT ``cpt[i, s, x]`` = P(node i = x | parent = s);
the root keeps its prior P(root = x) in both rows. Observed nodes are leaves with a latent
parent; a data matrix has one column per observed node, in node order.

Inference is the upward/downward (sum-product) pass in log space, batched over documents and
over all latents of one height (upward) or depth (downward). Messages from observed leaves
to their parents are one sparse product X @ (ln P(x=1|s) - ln P(x=0|s)) plus a constant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

_CHUNK_ROWS = 2048


@dataclass(frozen=True, eq=False)
class TreeModel:
    """A latent tree model (module docstring); arrays are read-only by convention."""

    names: tuple[str, ...]
    parent: np.ndarray
    level: np.ndarray
    cpt: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.parent.shape != (n,) or self.level.shape != (n,) or self.cpt.shape != (n, 2, 2):
            raise ValueError("names, parent, level and cpt must describe the same nodes")
        roots = np.flatnonzero(self.parent < 0)
        if len(roots) != 1:
            raise ValueError(f"expected exactly one root, found {len(roots)}")
        has_children = np.zeros(n, dtype=bool)
        has_children[self.parent[self.parent >= 0]] = True
        if np.any(has_children & self.observed) or np.any(self.level[roots] == 0):
            raise ValueError("observed nodes (level 0) must be leaves with a parent")

    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def root(self) -> int:
        return int(np.flatnonzero(self.parent < 0)[0])

    @property
    def observed(self) -> np.ndarray:
        """(n,) bool: the observed nodes (level 0)."""
        return self.level == 0

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        """Children of every node, in node order."""
        lists: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for node, parent in enumerate(self.parent):
            if parent >= 0:
                lists[parent].append(node)
        return tuple(tuple(c) for c in lists)

    @cached_property
    def depth(self) -> np.ndarray:
        """(n,) distance from the root."""
        depth = np.full(self.n_nodes, -1)
        depth[self.root] = 0
        stack = [self.root]
        while stack:
            node = stack.pop()
            for child in self.children[node]:
                depth[child] = depth[node] + 1
                stack.append(child)
        return depth

    @cached_property
    def height(self) -> np.ndarray:
        """(n,) longest distance down to a leaf (0 for leaves)."""
        height = np.zeros(self.n_nodes, dtype=int)
        for node in np.argsort(-self.depth, kind="stable"):
            if self.parent[node] >= 0:
                height[self.parent[node]] = max(height[self.parent[node]], height[node] + 1)
        return height

    def marginals(self) -> np.ndarray:
        """(n, 2) P(node = x) without evidence."""
        marginal = np.empty((self.n_nodes, 2))
        for node in np.argsort(self.depth, kind="stable"):
            p = self.parent[node]
            marginal[node] = self.cpt[node, 0] if p < 0 else marginal[p] @ self.cpt[node]
        return marginal


@dataclass(frozen=True)
class Inference:
    """Results of one pass over a data matrix.

    ``loglik``: (n_rows,) ln P(row). ``posterior``: (n_rows, n_nodes, 2) P(node = x | row)
    (an indicator on observed nodes). ``family_counts``: (n_nodes, 2, 2) Σ_rows w P(parent = s,
    node = x | row) as ``[node, s, x]``; for the root Σ w P(root = x | row) in both rows.
    """

    loglik: np.ndarray
    posterior: np.ndarray
    family_counts: np.ndarray


def infer(model: TreeModel, rows: sp.spmatrix, weights: np.ndarray | None = None) -> Inference:
    """Exact inference for every row of a binary data matrix (columns = observed nodes)."""
    rows, weights = _prepared(rows, weights)
    parts = [_Propagation(model, *chunk) for chunk in _chunks(rows, weights)]
    latents = np.flatnonzero(~model.observed)
    posterior = np.empty((rows.shape[0], model.n_nodes, 2))
    posterior[:, latents] = np.concatenate([p.posterior for p in parts])
    dense = rows.toarray()
    posterior[:, model.observed] = np.stack([1.0 - dense, dense], axis=-1)
    return Inference(
        np.concatenate([p.loglik for p in parts]),
        posterior,
        sum((p.family_counts for p in parts), np.zeros((model.n_nodes, 2, 2))),
    )


def expected_counts(
    model: TreeModel, rows: sp.spmatrix, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """(Σ w ln P(row), family counts as in ``Inference``) without per-row posteriors."""
    rows, weights = _prepared(rows, weights)
    loglik, counts = 0.0, np.zeros((model.n_nodes, 2, 2))
    for chunk_rows, chunk_weights in _chunks(rows, weights):
        part = _Propagation(model, chunk_rows, chunk_weights)
        loglik += float(part.loglik @ chunk_weights)
        counts += part.family_counts
    return loglik, counts


def _prepared(rows: sp.spmatrix, weights: np.ndarray | None) -> tuple[sp.csr_matrix, np.ndarray]:
    rows = sp.csr_matrix(rows, dtype=np.float64)
    weights = np.ones(rows.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    return rows, weights


def _chunks(rows: sp.csr_matrix, weights: np.ndarray) -> Iterator[tuple[sp.csr_matrix, np.ndarray]]:
    for start in range(0, rows.shape[0], _CHUNK_ROWS):
        yield rows[start : start + _CHUNK_ROWS], weights[start : start + _CHUNK_ROWS]


class _Propagation:
    """Upward and downward passes for one chunk of rows (module docstring).

    Arrays over latents only: ``lam[d, j, x]`` = ln P(evidence below latent j | j = x),
    ``msg[d, j, s]`` = its message to its parent, ``pi[d, j, x]`` = ln P(evidence outside the
    subtree of j, j = x). Results: ``loglik`` (n,), ``posterior`` (n, n_latents, 2) and
    ``family_counts`` (n_nodes, 2, 2).
    """

    def __init__(self, model: TreeModel, rows: sp.csr_matrix, weights: np.ndarray):
        observed, latents = np.flatnonzero(model.observed), np.flatnonzero(~model.observed)
        if rows.shape[1] != len(observed):
            raise ValueError(f"data has {rows.shape[1]} columns for {len(observed)} observed nodes")
        position = np.full(model.n_nodes, -1)
        position[latents] = np.arange(len(latents))
        up = np.where(model.parent[latents] >= 0, position[model.parent[latents]], -1)
        leaf_up = position[model.parent[observed]]
        log_cpt = np.log(model.cpt)
        log_lat = log_cpt[latents]
        n, n_lat = rows.shape[0], len(latents)

        lam = np.empty((n, n_lat, 2))
        for s in range(2):
            constant = np.bincount(leaf_up, log_cpt[observed, s, 0], minlength=n_lat)
            slope = log_cpt[observed, s, 1] - log_cpt[observed, s, 0]
            scatter = sp.csr_matrix(
                (slope, (np.arange(len(observed)), leaf_up)), shape=(len(observed), n_lat)
            )
            lam[:, :, s] = (rows @ scatter).toarray() + constant
        msg = np.zeros((n, n_lat, 2))
        height, depth = model.height[latents], model.depth[latents]
        for h in range(1, height.max() + 1):
            group = np.flatnonzero((height == h) & (up >= 0))
            msg[:, group] = _log_sum_pair(log_lat[group][None] + lam[:, group, None, :], axis=-1)
            group = group[np.argsort(up[group], kind="stable")]
            if group.size:
                parents, starts = np.unique(up[group], return_index=True)
                lam[:, parents] += np.add.reduceat(msg[:, group], starts, axis=1)
        root = position[model.root]
        self.loglik = _log_sum_pair(log_lat[root, 0] + lam[:, root], axis=-1)

        pi = np.empty((n, n_lat, 2))
        pi[:, root] = log_lat[root, 0]
        counts = np.zeros((model.n_nodes, 2, 2))
        for d in range(1, depth.max() + 1):
            group = np.flatnonzero(depth == d)
            cavity = pi[:, up[group]] + lam[:, up[group]] - msg[:, group]
            outside = cavity[..., :, None] + log_lat[group][None]  # (n, g, s, x)
            pi[:, group] = _log_sum_pair(outside, axis=-2)
            joint = np.exp(outside + lam[:, group, None, :] - self.loglik[:, None, None, None])
            counts[latents[group]] = np.einsum("d,dgsx->gsx", weights, joint)
        self.posterior = np.exp(pi + lam - self.loglik[:, None, None])
        counts[model.root] = weights @ self.posterior[:, root]
        # Observed leaf o with parent p: P(o = 1, p = s | d) = x_do P(p = s | d).
        for s in range(2):
            weighted = self.posterior[:, :, s] * weights[:, None]
            ones = np.asarray(rows.T @ weighted)[np.arange(len(observed)), leaf_up]
            counts[observed, s, 1] = ones
            counts[observed, s, 0] = weighted.sum(axis=0)[leaf_up] - ones
        self.family_counts = counts


def _log_sum_pair(values: np.ndarray, axis: int) -> np.ndarray:
    """ln(exp(a) + exp(b)) over an axis of length 2 (binary states)."""
    return np.logaddexp(np.take(values, 0, axis=axis), np.take(values, 1, axis=axis))


def hierarchy_leaves(model: TreeModel) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For every latent: its observed descendants through lower-level children only (so not
    through bridge edges of the top level) and P(leaf = x | latent = s) as (n_leaves, 2, 2).

    These are the leaves that post-processing ranks by MI (spec §4 "Post-processing").
    """
    result: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for node in np.argsort(model.height, kind="stable"):
        if model.observed[node]:
            continue
        leaves, conditionals = [], []
        for child in model.children[node]:
            if model.level[child] >= model.level[node]:
                continue
            if model.observed[child]:
                leaves.append(np.array([child]))
                conditionals.append(model.cpt[child][None])
            else:
                below, given_child = result[child]
                leaves.append(below)
                conditionals.append(np.einsum("sc,ncx->nsx", model.cpt[child], given_child))
        if not leaves:
            leaves, conditionals = [np.empty(0, dtype=int)], [np.empty((0, 2, 2))]
        result[int(node)] = (np.concatenate(leaves), np.concatenate(conditionals))
    return result


def mutual_information(marginal: np.ndarray, conditional: np.ndarray) -> np.ndarray:
    """MI(Y; X_i) for P(Y) = ``marginal`` (2,) and P(X_i | Y) = ``conditional`` (n, 2, 2)."""
    joint = marginal[None, :, None] * conditional
    product = marginal[None, :, None] * joint.sum(axis=1, keepdims=True)
    ratio = np.divide(joint, product, out=np.ones_like(joint), where=joint > 0)
    return np.sum(joint * np.log(ratio), axis=(1, 2))
