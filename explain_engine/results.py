"""Typed results of the online phase: what a heatmap is, and what one explanation holds.

Maps stay ``torch.Tensor`` inside the engine; they are converted to numpy or PNG only at the
edge (rendering, CLI, the study server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

MapKind = Literal["cluster", "class"]


@dataclass(frozen=True)
class TopClass:
    """One of the image's top-K classes.

    ``index`` is the classifier's output index, ``probability`` is P(c|x) in [0, 1].
    """

    index: int
    name: str
    probability: float


@dataclass(frozen=True)
class Heatmap:
    """One explanation heatmap and what it explains.

    Attributes:
        kind: ``"cluster"`` for a stage-1 (compound class) map, ``"class"`` for a single class.
        target: class indices whose evidence the map shows (one index for a class map).
        foil: class indices the target is contrasted against; empty for non-contrastive maps
            (SWOX, single-cluster CWOX-2s stage 1).
        values: float tensor of shape (H, W) in the classifier's input resolution. Values are
            non-negative for the paper's default settings; the reference-code options can
            produce signed maps. Units are those of the base explainer (Grad-CAM: logit
            gradient × activation; RISE: expected probability), comparable only within a map.
        cluster: index into :attr:`WoxExplanation.clusters` of the cluster this map belongs to.
    """

    kind: MapKind
    target: tuple[int, ...]
    foil: tuple[int, ...]
    values: torch.Tensor
    cluster: int


@dataclass(frozen=True)
class WoxExplanation:
    """The heatmaps one WOX method produced for one image.

    Attributes:
        method: ``"swox"``, ``"cwox-1sa"``, ``"cwox-1sb"`` or ``"cwox-2s"``.
        explainer: base explainer name, ``"gradcam"`` or ``"rise"``.
        clusters: the confusion clusters used (class indices, best cluster first).
        maps: cluster maps (CWOX-2s only) and one class map per top class, in cluster order.
        parameters: the settings that produced the maps (JSON-serialisable).
    """

    method: str
    explainer: str
    clusters: tuple[tuple[int, ...], ...]
    maps: tuple[Heatmap, ...]
    parameters: dict = field(default_factory=dict)

    def class_map(self, class_index: int) -> Heatmap:
        """The class map whose target is ``class_index`` (KeyError if there is none)."""
        for heatmap in self.maps:
            if heatmap.kind == "class" and heatmap.target == (class_index,):
                return heatmap
        raise KeyError(f"{self.method} has no class map for class {class_index}")

    def cluster_maps(self) -> tuple[Heatmap, ...]:
        """The stage-1 cluster maps, in cluster order (empty for one-stage methods)."""
        return tuple(h for h in self.maps if h.kind == "cluster")


@dataclass(frozen=True)
class ImageExplanation:
    """Everything explained for one image.

    Attributes:
        top_classes: the top-K classes, most probable first.
        clusters: confusion clusters of the top classes (class indices, best cluster first).
        methods: WOX method name → its explanation.
        input_image: the preprocessed image the maps refer to, as float tensor (3, H, W) of RGB
            values in [0, 1] (before the classifier's normalisation), for rendering.
    """

    top_classes: tuple[TopClass, ...]
    clusters: tuple[tuple[int, ...], ...]
    methods: dict[str, WoxExplanation]
    input_image: torch.Tensor

    def top_class(self, class_index: int) -> TopClass:
        """The :class:`TopClass` with output index ``class_index`` (KeyError if not a top class)."""
        for top in self.top_classes:
            if top.index == class_index:
                return top
        raise KeyError(f"class {class_index} is not among the top classes")
