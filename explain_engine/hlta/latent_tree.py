"""A post-processed tree model as the project's ``LatentTree`` (spec §5 topic tree).

Top-level latents become roots (the bridge edges among them are kept as node metadata
``"bridge_parent"``, since a ``LatentTree`` parent must lie on a higher level). Nodes are
listed depth-first from the top-level latents, and a level-1 latent's classes by decreasing
MI(Z; class), so ``LatentTree.to_hlta_topic_tree`` writes the published format. Latents carry
``"percentage"`` = P(Z = s1); classes carry ``"p0"`` = P(class = 1 | parent = s0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from explain_engine.hlta.ltm import TreeModel, hierarchy_leaves, mutual_information
from explain_engine.tree import LatentTree, TreeNode


def to_latent_tree(
    model: TreeModel,
    class_indices: Sequence[int],
    class_names: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> LatentTree:
    """The model as a ``LatentTree``; ``class_indices[j]`` is the class of observed node j."""
    observed = np.flatnonzero(model.observed)
    class_of = {int(node): int(c) for node, c in zip(observed, class_indices, strict=True)}
    marginal = model.marginals()
    leaves = hierarchy_leaves(model)
    top = int(model.level.max())

    nodes: list[TreeNode] = []

    def visit(node: int) -> None:
        level = int(model.level[node])
        if level == 0:
            c = class_of[node]
            name = None if class_names is None else class_names[c]
            p0 = float(model.cpt[node, 0, 1])
            nodes.append(TreeNode(f"c{c}", 0, model.names[model.parent[node]], c, name, {"p0": p0}))
            return
        parent = int(model.parent[node])
        node_metadata: dict[str, Any] = {"percentage": float(marginal[node, 1])}
        if level == top:
            if parent >= 0:
                node_metadata["bridge_parent"] = model.names[parent]
            parent = -1
        nodes.append(
            TreeNode(
                model.names[node],
                level,
                None if parent < 0 else model.names[parent],
                metadata=node_metadata,
            )
        )
        children = [c for c in model.children[node] if model.level[c] < level]
        if level == 1:
            order = np.argsort(-mutual_information(marginal[node], leaves[node][1]), kind="stable")
            children = [int(leaves[node][0][i]) for i in order]
        for child in children:
            visit(child)

    for node in np.flatnonzero(model.level == top):
        visit(int(node))
    return LatentTree(nodes, metadata)
