"""Whole-output explanation methods: SWOX, CWOX-1sA, CWOX-1sB and CWOX-2s.

Each method does two things and nothing else: it says which base saliency maps it needs
(:meth:`WoxMethod.requests`), and it combines them into its heatmaps (:meth:`WoxMethod.combine`).
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
Grad-CAM base maps are a base-explainer setting (``GradCAM(relu=False)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import Request
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, compound

METHODS = ("swox", "cwox-1sa", "cwox-1sb", "cwox-2s")
Clusters = Sequence[Compound]
BaseMaps = Mapping[Request, torch.Tensor]


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

    @classmethod
    def reference(cls, explainer: str) -> WoxOptions:
        """The public reference code's behaviour for ``explainer`` (``gradcam`` or ``rise``)."""
        is_rise = explainer == "rise"
        return cls(
            contrast="pairwise",
            support="percentile",
            support_percentile=70.0 if is_rise else 50.0,
            normalize_base_maps=is_rise,
        )


def min_max(heatmap: torch.Tensor) -> torch.Tensor:
    """Rescale to [0, 1]; a constant map becomes all zeros."""
    low, high = heatmap.min(), heatmap.max()
    if high <= low:
        return torch.zeros_like(heatmap)
    return (heatmap - low) / (high - low)


class WoxMethod(ABC):
    """A WOX method: which base maps it needs and how it combines them."""

    name: str

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
                torch.zeros_like(target_map),
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


def _classes_with_foils(clusters: Clusters) -> list[tuple[int, int, list[Compound]]]:
    """(cluster index, class, other top classes as singleton foils) for every top class."""
    everything = [c for cluster in clusters for c in cluster]
    return [
        (i, c, [(other,) for other in everything if other != c])
        for i, cluster in enumerate(clusters)
        for c in cluster
    ]


class Swox(WoxMethod):
    """SWOX: one plain base map per top class."""

    name = "swox"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        return {(1, (c,)) for c in top}

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = [
            Heatmap("class", (c,), (), base[(1, (c,))], i)
            for i, cluster in enumerate(clusters)
            for c in cluster
        ]
        return self._explanation(clusters, explainer, maps)


class Cwox1sA(WoxMethod):
    """CWOX-1sA: ReLU(H_c − H_{C∖c}); with a single top class, H_c."""

    name = "cwox-1sa"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        return set().union(
            *(
                self._contrast_requests(1, (c,), foils)
                for _, c, foils in _classes_with_foils(clusters)
            )
        )

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = []
        for i, c, foils in _classes_with_foils(clusters):
            values = (
                self._difference(base, 1, (c,), foils).clamp_min(0)
                if foils
                else self._base(base, 1, (c,))
            )
            maps.append(Heatmap("class", (c,), tuple(f for (f,) in foils), values, i))
        return self._explanation(clusters, explainer, maps)


class Cwox1sB(WoxMethod):
    """CWOX-1sB (SCOUT-style): norm(H_c) · (1 − norm(H_{C∖c})); single class: norm(H_c)."""

    name = "cwox-1sb"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        everything = compound(top)
        return {(1, (c,)) for c in top} | {
            (1, compound(set(everything) - {c})) for c in top if len(everything) > 1
        }

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = []
        for i, c, foils in _classes_with_foils(clusters):
            values = min_max(base[(1, (c,))])
            if foils:
                values = values * (1 - min_max(base[(1, compound(f for (f,) in foils))]))
            maps.append(Heatmap("class", (c,), tuple(f for (f,) in foils), values, i))
        return self._explanation(clusters, explainer, maps)


class Cwox2s(WoxMethod):
    """CWOX-2s: cluster maps by eq. (1) at stage 1, class maps by eq. (2) at stage 2."""

    name = "cwox-2s"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        needed: set[Request] = set()
        for i, cluster in enumerate(clusters):
            other_clusters = [tuple(o) for k, o in enumerate(clusters) if k != i]
            needed |= self._contrast_requests(1, tuple(cluster), other_clusters)
            for c in cluster:
                needed |= self._contrast_requests(2, (c,), [(o,) for o in cluster if o != c])
        return needed

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps: list[Heatmap] = []
        for i, cluster in enumerate(clusters):
            cluster = tuple(cluster)
            other_clusters = [tuple(o) for k, o in enumerate(clusters) if k != i]
            if other_clusters:
                cluster_map = self._difference(base, 1, cluster, other_clusters).clamp_min(0)
            else:
                cluster_map = self._base(base, 1, cluster)
            foil_classes = tuple(c for o in other_clusters for c in o)
            maps.append(Heatmap("cluster", cluster, foil_classes, cluster_map, i))
            support = self._support(cluster_map)
            for c in cluster:
                siblings = [(o,) for o in cluster if o != c]
                if siblings:
                    values = self._difference(base, 2, (c,), siblings).clamp_min(0)
                else:
                    values = self._base(base, 2, (c,))
                maps.append(
                    Heatmap("class", (c,), tuple(o for (o,) in siblings), support * values, i)
                )
        return self._explanation(clusters, explainer, maps)

    def _support(self, cluster_map: torch.Tensor) -> torch.Tensor:
        """supp(Ĥ_{C_i}) as a 0/1 float mask of the map's shape."""
        if self.options.support == "percentile":
            threshold = torch.quantile(
                cluster_map.float().flatten(), self.options.support_percentile / 100.0
            )
            return (cluster_map >= threshold).to(cluster_map.dtype)
        return (cluster_map > self.options.epsilon).to(cluster_map.dtype)


_REGISTRY: dict[str, type[WoxMethod]] = {m.name: m for m in (Swox, Cwox1sA, Cwox1sB, Cwox2s)}


def get_method(name: str, options: WoxOptions = WoxOptions()) -> WoxMethod:
    """The WOX method called ``name`` (one of :data:`METHODS`)."""
    try:
        return _REGISTRY[name](options)
    except KeyError:
        raise EngineInputError(
            f"method {name!r}: unknown (expected one of {', '.join(METHODS)})"
        ) from None
