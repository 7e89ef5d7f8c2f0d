"""Post-processing of a learned model (spec §4 "Post-processing", postProcessingModel).

In order: (i) state reordering, so that s1 is a latent's "topic" state: rank the latent's
hierarchy leaves (``ltm.hierarchy_leaves``) by MI with it under the model, take the top 3
(all if there are at most 3), severity(s) = Σ ln P(leaf = 1 | latent = s), and swap the
states when severity(s0) > severity(s1); (ii) renaming latents Z{level}{k}, k counting from
1 per level in depth-first order from the top-level latents; (iii) smoothing every CPT cell
p <- (N p + 1) / (N + 2) with N the size of the full data.
"""

from __future__ import annotations

import numpy as np

from explain_engine.hlta.ltm import TreeModel, hierarchy_leaves, mutual_information

_TOP_LEAVES = 3


def postprocess(model: TreeModel, total: float) -> TreeModel:
    """Reorder states, rename latents and smooth the CPTs (module docstring)."""
    return smoothed(renamed(reordered(model)), total)


def reordered(model: TreeModel) -> TreeModel:
    """The model with the states of every latent ordered by severity (s1 = topic state).

    Swapping one latent's states leaves every P(leaf | other latent) unchanged, so all
    severities are computed on the input model.
    """
    marginal = model.marginals()
    cpt = model.cpt.copy()
    for latent, (_, conditional) in hierarchy_leaves(model).items():
        if not len(conditional):
            continue
        mi = mutual_information(marginal[latent], conditional)
        top = np.argsort(-mi, kind="stable")[:_TOP_LEAVES]
        severity = np.log(conditional[top, :, 1]).sum(axis=0)
        if severity[0] > severity[1]:
            cpt[latent] = cpt[latent][:, ::-1]
            for child in model.children[latent]:
                cpt[child] = cpt[child][::-1, :]
    return TreeModel(model.names, model.parent, model.level, cpt)


def renamed(model: TreeModel) -> TreeModel:
    """Latents renamed Z{level}{k} by depth-first search from the top-level latents.

    Top-level latents are visited in node order, children in node order; bridge children
    (same level) are not descended into from their bridge parent but visited as top-level
    latents themselves.
    """
    names = list(model.names)
    counters: dict[int, int] = {}
    top = int(model.level.max())
    stack = [int(node) for node in reversed(np.flatnonzero(model.level == top))]
    while stack:
        node = stack.pop()
        level = int(model.level[node])
        counters[level] = counters.get(level, 0) + 1
        names[node] = f"Z{level}{counters[level]}"
        stack.extend(
            child for child in reversed(model.children[node]) if 0 < model.level[child] < level
        )
    return TreeModel(tuple(names), model.parent, model.level, model.cpt)


def smoothed(model: TreeModel, total: float) -> TreeModel:
    """Every CPT cell p replaced by (N p + 1) / (N + 2) (smoothingParameters)."""
    return TreeModel(model.names, model.parent, model.level, (total * model.cpt + 1) / (total + 2))
