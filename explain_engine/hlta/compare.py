"""Agreement between two partitions of the same items (e.g. classes by level-1 latent).

Adjusted Rand index (Hubert & Arabie 1985) and normalised mutual information with the
arithmetic-mean normalisation NMI = 2 I(A; B) / (H(A) + H(B)) (scikit-learn's default).
Both are 1 for identical partitions; ARI is about 0 for independent ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy.special import comb

from explain_engine.tree import LatentTree


def contingency(a: Sequence[Hashable], b: Sequence[Hashable]) -> np.ndarray:
    """The table of item counts per (label in ``a``, label in ``b``)."""
    if len(a) != len(b):
        raise ValueError(f"partitions of {len(a)} and {len(b)} items; expected the same items")
    _, rows = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, cols = np.unique(np.asarray(b, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((rows.max(initial=-1) + 1, cols.max(initial=-1) + 1))
    np.add.at(table, (rows, cols), 1)
    return table


def adjusted_rand_index(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """ARI of two labelings of the same items."""
    table = contingency(a, b)
    pairs = comb(table, 2).sum()
    rows, cols = comb(table.sum(axis=1), 2).sum(), comb(table.sum(axis=0), 2).sum()
    expected = rows * cols / comb(table.sum(), 2) if table.sum() > 1 else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((pairs - expected) / (maximum - expected))


def normalized_mutual_information(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """NMI (arithmetic mean of the entropies) of two labelings of the same items."""
    joint = contingency(a, b)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    mi = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz]))
    entropy = -np.sum(pa * np.log(pa)) - np.sum(pb * np.log(pb))
    return 1.0 if entropy == 0 else float(2 * mi / entropy)


def class_partition(tree: LatentTree, level: int = 1) -> Mapping[int, str]:
    """Class index -> id of its ancestor at ``level`` (``LatentTree.ancestor_at_level``)."""
    return {c: tree.ancestor_at_level(c, level) for c in tree.class_indices}
