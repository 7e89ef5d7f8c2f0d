"""What every whole-output explanation method is: the base class and how maps are combined.

The methods themselves (SWOX, CWOX-1sA, CWOX-1sB, CWOX-2s) are modules of
:mod:`explain_engine.methods`, registered with ``@register_method`` (see
:mod:`explain_engine.registry`). Each method does two things and nothing else: it says which
base saliency maps it needs (:meth:`WoxMethod.requests`), and it combines them into its heatmaps
(:meth:`WoxMethod.combine`).
The base explainer computes the union of every method's requests once, so explaining an image
with all four methods costs about as much as with CWOX-2s alone.

Notation (paper Section 4): top classes C split into clusters C_1..C_I; H_X is the base map of
(compound) class X at stage 1 (coarse) unless written H²_X (stage 2, fine).

- SWOX: H_c for every top class c.
- CWOX-1sA: ReLU(H_c − H_{C∖c}).
- CWOX-1sB (SCOUT): norm(H_c) · (1 − norm(H_{C∖c})), norm = min-max to [0, 1].
- CWOX-2s: eq. (1) Ĥ_{C_i} = ReLU(H_{C_i} − H_{C∖C_i}) if I > 1 else H_{C_i};
  eq. (2) Ĥ_{c_ij} = supp(Ĥ_{C_i}) · ReLU(H²_{c_ij} − H²_{C_i∖c_ij}) if J_i > 1
  else supp(Ĥ_{C_i}) · H²_{c_ij}; supp(M) = 1[M > ε].

:class:`WoxOptions` switches each place where the public reference code differs from the paper
(see DESIGN.md): pairwise-sum contrast, percentile support, min-max before subtraction. Signed
Grad-CAM base maps are a base-explainer setting (``GradCAMSettings(relu=False)``); which
reference options apply to which explainer is the explainer's declaration
(``BaseExplainer.reference_wox_options``).

This module (and every method module) uses tensor methods only and imports torch for type
hints alone, so that reading the method registry (the study server does, for its conditions)
does not load torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from explain_engine.errors import EngineInputError
from explain_engine.registry import METHODS, method_names
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, Request, compound

if TYPE_CHECKING:
    import torch

Clusters = Sequence[Compound]
BaseMaps = Mapping[Request, "torch.Tensor"]


@dataclass(frozen=True)
class WoxOptions:
    """How base maps are combined; the defaults are the paper's equations.

    Attributes:
        contrast: ``"union"`` subtracts the map of the union of the foils (paper);
            ``"pairwise"`` sums the differences to each foil group, (m−1)·H_t − Σ H_f over the
            m groups (reference code).
        support: ``"positive"`` keeps pixels of the cluster map above ``epsilon`` (paper);
            ``"percentile"`` keeps pixels at or above its ``support_percentile``-th percentile
            (reference: 50 for Grad-CAM, 70 for RISE).
        epsilon: threshold of the positive support.
        support_percentile: percentile in [0, 100] for the percentile support.
        normalize_base_maps: min-max normalise every base map to [0, 1] before combining
            (reference code, RISE only).
    """

    contrast: Literal["union", "pairwise"] = "union"
    support: Literal["positive", "percentile"] = "positive"
    epsilon: float = 0.0
    support_percentile: float = 50.0
    normalize_base_maps: bool = False

    def __post_init__(self) -> None:
        if self.contrast not in ("union", "pairwise"):
            raise EngineInputError(f"contrast {self.contrast!r}: expected union or pairwise")
        if self.support not in ("positive", "percentile"):
            raise EngineInputError(f"support {self.support!r}: expected positive or percentile")
        if not 0.0 <= self.support_percentile <= 100.0:
            raise EngineInputError(
                f"support_percentile {self.support_percentile}: expected in [0, 100]"
            )


def min_max(heatmap: torch.Tensor) -> torch.Tensor:
    """Rescale to [0, 1]; a constant map becomes all zeros."""
    low, high = heatmap.min(), heatmap.max()
    if high <= low:
        return heatmap.new_zeros(heatmap.shape)
    return (heatmap - low) / (high - low)


class WoxMethod(ABC):
    """A WOX method: which base maps it needs and how it combines them.

    A subclass registers with ``@register_method("name", order=N)`` in its own module of
    :mod:`explain_engine.methods` and declares:

    - ``has_cluster_map``: whether its explanation holds stage-1 cluster maps that a study
      shows beside the class maps (CWOX-2s, paper Fig. 7);
    - ``description``: one line, for command-line help and the admin;
    - :meth:`requests`: the base maps it needs for an image;
    - :meth:`combine`: its heatmaps from those maps.

    ``name`` is set by the decorator.
    """

    name: ClassVar[str]
    has_cluster_map: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, options: WoxOptions = WoxOptions()) -> None:
        self.options = options

    @abstractmethod
    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        """Base maps needed for an image with top classes ``top`` split into ``clusters``."""

    @abstractmethod
    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        """Heatmaps of this method from the base maps it requested."""

    # -- shared helpers -------------------------------------------------------------------

    def _base(self, base: BaseMaps, stage: int, classes: Compound) -> torch.Tensor:
        heatmap = base[(stage, compound(classes))]  # clusters come in probability order
        return min_max(heatmap) if self.options.normalize_base_maps else heatmap

    def _contrast_requests(
        self, stage: int, target: Compound, foils: Sequence[Compound]
    ) -> set[Request]:
        """Requests for ``target`` against ``foils`` (disjoint compound classes)."""
        needed = {(stage, compound(target))}
        if self.options.contrast == "pairwise":
            needed |= {(stage, compound(foil)) for foil in foils}
        elif foils:
            needed.add((stage, compound(c for foil in foils for c in foil)))
        return needed

    def _difference(
        self, base: BaseMaps, stage: int, target: Compound, foils: Sequence[Compound]
    ) -> torch.Tensor:
        """H_target − H_union(foils) (union) or Σ_f (H_target − H_f) (pairwise); no ReLU."""
        target_map = self._base(base, stage, target)
        if self.options.contrast == "pairwise":
            return sum(
                (target_map - self._base(base, stage, foil) for foil in foils),
                target_map.new_zeros(target_map.shape),
            )
        union = compound(c for foil in foils for c in foil)
        return target_map - self._base(base, stage, union)

    def _explanation(
        self, clusters: Clusters, explainer: str, maps: list[Heatmap]
    ) -> WoxExplanation:
        return WoxExplanation(
            method=self.name,
            explainer=explainer,
            clusters=tuple(tuple(c) for c in clusters),
            maps=tuple(maps),
            parameters=asdict(self.options),
        )


def classes_with_foils(clusters: Clusters) -> list[tuple[int, int, list[Compound]]]:
    """(cluster index, class, other top classes as singleton foils) for every top class."""
    everything = [c for cluster in clusters for c in cluster]
    return [
        (i, c, [(other,) for other in everything if other != c])
        for i, cluster in enumerate(clusters)
        for c in cluster
    ]


def get_method(name: str, options: WoxOptions = WoxOptions()) -> WoxMethod:
    """The registered WOX method called ``name`` (one of :func:`method_names`)."""
    return METHODS.get(name)(options)


def has_cluster_map(name: str) -> bool:
    """Whether method ``name`` shows stage-1 cluster maps (its declaration)."""
    return METHODS.get(name).has_cluster_map


__all__ = [
    "WoxMethod",
    "WoxOptions",
    "classes_with_foils",
    "get_method",
    "has_cluster_map",
    "method_names",
    "min_max",
]
