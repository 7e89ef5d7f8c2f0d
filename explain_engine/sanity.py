"""Sanity checks for saliency maps: model-parameter randomisation (Adebayo et al., 2018,
"Sanity checks for saliency maps", NeurIPS), cascading from the top layer.

If a method's maps hardly change when the classifier's learned weights are replaced by random
ones, the maps do not show what the model learned, and a study with them measures something
else (edges, the photograph's own structure). The test:

1. The classifier's *layer groups* (:func:`cascade_layers`) in input-to-output order: the
   top-level children of the network, with containers (``nn.Sequential``, ``nn.ModuleList``)
   opened one level, so that ResNet50 gives ``conv1, bn1, layer1.0 … layer4.2, fc`` and the
   lukemelas EfficientNet gives ``_conv_stem, _bn0, _blocks.0 … _blocks.15, _conv_head, _bn1,
   _fc``; groups without parameters are left out.
2. Cascading randomisation: a copy of the model whose top ``depth`` groups are re-initialised
   (``reset_parameters`` of every module in them, seeded; batch-norm statistics reset too),
   for each depth asked, e.g. 1 (the logits layer only), 3, …, all.
3. The same classes of the same images are explained on each copy (the trained model's top
   classes and confusion clusters, :attr:`ExplanationSettings.classes`), and each class map is
   compared with the trained model's by Spearman's rank correlation over pixels.

A method passes when its maps decorrelate: the median correlation at full randomisation
should be low. :func:`model_randomisation` flags a method whose median stays at or above
``threshold`` (0.5 by default: more than a quarter of the rank variance still shared). Quantus
(Hedström et al., 2023) has this test too, but calls an explainer on single-class targets; the
maps here are WOX combinations of compound-class base maps, so they are computed by our own
pipeline (and Quantus would bring OpenCV in).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.models import Classifier
from explain_engine.results import ImageExplanation

CONTAINERS = (nn.Sequential, nn.ModuleList)
DEFAULT_THRESHOLD = 0.5


def cascade_layers(model: nn.Module) -> list[str]:
    """Dotted names of ``model``'s layer groups with parameters, input to output order."""
    names = []
    for name, child in model.named_children():
        if isinstance(child, CONTAINERS):
            names += [
                f"{name}.{sub}"
                for sub, grandchild in child.named_children()
                if any(True for _ in grandchild.parameters())
            ]
        elif any(True for _ in child.parameters()):
            names.append(name)
    return names


def randomized_copy(classifier: Classifier, depth: int | None, seed: int = 0) -> Classifier:
    """A copy of ``classifier`` whose top ``depth`` layer groups (None: all) are re-initialised.

    The original is not touched. Raises EngineInputError for a depth outside 1..len(groups).
    """
    groups = cascade_layers(classifier.model)
    depth = len(groups) if depth is None else depth
    if not 1 <= depth <= len(groups):
        raise EngineInputError(f"depth {depth}: expected 1..{len(groups)} (or all)")
    model = copy.deepcopy(classifier.model)
    modules = dict(model.named_modules())
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        for name in groups[-depth:]:
            for module in modules[name].modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
                if hasattr(module, "reset_running_stats"):
                    module.reset_running_stats()
    finally:
        torch.random.set_rng_state(generator_state)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return replace(classifier, model=model.eval())


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> float | None:
    """Spearman's ρ in [-1, 1] between two maps of one shape over their pixels; None when
    either map is constant (a blank map has no ranking)."""
    if first.shape != second.shape:
        raise EngineInputError(f"maps of shapes {tuple(first.shape)} and {tuple(second.shape)}")
    a = first.detach().flatten().float().cpu().numpy()
    b = second.detach().flatten().float().cpu().numpy()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class MethodSanity:
    """One method at one randomisation depth.

    Attributes:
        method: WOX method name.
        depth: layer groups re-initialised (``layers`` of them is full randomisation).
        layers: how many layer groups the classifier has.
        correlations: ρ of every class map compared (None where a map was constant).
        threshold: the median at or above which the method is flagged.
    """

    method: str
    depth: int
    layers: int
    correlations: tuple[float | None, ...]
    threshold: float = DEFAULT_THRESHOLD

    @property
    def median(self) -> float | None:
        values = [c for c in self.correlations if c is not None]
        return float(np.median(values)) if values else None

    @property
    def flagged(self) -> bool:
        """The maps barely changed at full randomisation (median ρ >= threshold)."""
        median = self.median
        return self.depth == self.layers and median is not None and median >= self.threshold

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "depth": self.depth,
            "layers": self.layers,
            "median_rank_correlation": self.median,
            "maps": len(self.correlations),
            "flagged": self.flagged,
            "threshold": self.threshold,
        }


def explain_same_classes(
    classifier: Classifier,
    images: Sequence[Image.Image],
    reference: Sequence[ImageExplanation],
    explainer: BaseExplainer,
    settings: ExplanationSettings,
) -> list[ImageExplanation]:
    """Explain each image's classes of ``reference`` (its top classes) on ``classifier``."""
    return [
        explain_batch(
            classifier,
            [image],
            explainer,
            replace(settings, classes=[c.index for c in explained.top_classes]),
        )[0]
        for image, explained in zip(images, reference, strict=True)
    ]


def model_randomisation(
    classifier: Classifier,
    images: Sequence[Image.Image],
    explainer: BaseExplainer,
    settings: ExplanationSettings,
    depths: Sequence[int | None] = (1, None),
    *,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[MethodSanity]:
    """The cascading randomisation test of every method of ``settings`` on ``images``.

    Returns one :class:`MethodSanity` per depth (None: all layer groups) and method, in that
    order; the class maps of every image's top classes are compared.
    """
    if not images:
        raise EngineInputError("the sanity check needs at least one image")
    layers = len(cascade_layers(classifier.model))
    trained = explain_batch(classifier, images, explainer, settings)
    results = []
    for depth in depths:
        randomised = randomized_copy(classifier, depth, seed)
        other = explain_same_classes(randomised, images, trained, explainer, settings)
        for method in settings.methods:
            correlations = tuple(
                rank_correlation(
                    before.methods[method].class_map(top.index).values,
                    after.methods[method].class_map(top.index).values,
                )
                for before, after in zip(trained, other, strict=True)
                for top in before.top_classes
            )
            full = layers if depth is None else depth
            results.append(MethodSanity(method, full, layers, correlations, threshold))
    return results
