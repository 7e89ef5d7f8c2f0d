"""The online phase (paper Algorithm 1, part II) for a batch of images.

classify → top-K classes → confusion clusters (latent tree cut, or singletons without a tree)
→ the union of every requested WOX method's base maps, computed by the base explainer in one
pass over the batch → each method combines its maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from explain_engine.explainers.base import BaseExplainer
from explain_engine.models import Classifier
from explain_engine.registry import method_names
from explain_engine.results import ImageExplanation, TopClass
from explain_engine.targets import Compound, Request, TopKRule, check_classes
from explain_engine.tree import LatentTree, singleton_clusters
from explain_engine.wox import WoxMethod, WoxOptions, get_method


@dataclass
class ExplanationSettings:
    """What to explain and how.

    Attributes:
        methods: registered WOX method names (:func:`explain_engine.registry.method_names`,
            all of them by default).
        top_k: how many top classes to explain.
        tree: latent tree for the confusion clusters; None → every class its own cluster
            (the CWOX-2s cluster maps are then the CWOX-1sA maps).
        cluster_level: tree level at which clusters are cut (1 in the paper).
        options: how base maps are combined (paper defaults).
        classes: explain exactly these class indices instead of the top-K (e.g. a confusing
            pair chosen in advance); they are ordered by probability.
    """

    methods: Sequence[str] = field(default_factory=method_names)
    top_k: TopKRule = field(default_factory=TopKRule)
    tree: LatentTree | None = None
    cluster_level: int = 1
    options: WoxOptions = field(default_factory=WoxOptions)
    classes: Sequence[int] | None = None

    def wox_methods(self) -> list[WoxMethod]:
        return [get_method(name, self.options) for name in self.methods]

    def select(self, probabilities: torch.Tensor) -> tuple[list[int], list[float]]:
        """The classes to explain and their probabilities, most probable first."""
        if self.classes is None:
            return self.top_k.select(probabilities)
        chosen = check_classes(self.classes, len(probabilities))
        ranked = sorted(chosen, key=lambda c: -float(probabilities[c]))
        return ranked, [float(probabilities[c]) for c in ranked]

    def clusters(self, top: list[int], probabilities: list[float]) -> list[Compound]:
        if self.tree is None:
            return singleton_clusters(top, probabilities)
        return self.tree.clusters(top, probabilities, level=self.cluster_level)


def explain_batch(
    classifier: Classifier,
    images: Sequence[Image.Image],
    explainer: BaseExplainer,
    settings: ExplanationSettings | None = None,
) -> list[ImageExplanation]:
    """Explain every image of ``images`` with every method of ``settings`` (see module doc)."""
    settings = settings or ExplanationSettings()
    methods = settings.wox_methods()
    unit, inputs = classifier.prepare(list(images))
    selections: list[tuple[list[int], list[float], list[Compound]]] = []

    def plan(logits: torch.Tensor) -> list[list[Request]]:
        requests = []
        for row in logits.float().softmax(dim=-1):
            top, probabilities = settings.select(row)
            clusters = settings.clusters(top, probabilities)
            selections.append((top, probabilities, clusters))
            needed: set[Request] = set()
            for method in methods:
                needed |= method.requests(tuple(top), clusters)
            requests.append(sorted(needed))
        return requests

    _, base_maps = explainer.run(classifier, inputs, plan)
    results = []
    for b, (top, probabilities, clusters) in enumerate(selections):
        top_classes = tuple(
            TopClass(index, classifier.class_names[index], probability)
            for index, probability in zip(top, probabilities, strict=True)
        )
        by_method = {}
        for method in methods:
            explanation = method.combine(base_maps[b], clusters, explainer.name)
            by_method[method.name] = explanation
        results.append(
            ImageExplanation(top_classes, tuple(tuple(c) for c in clusters), by_method, unit[b])
        )
    return results
