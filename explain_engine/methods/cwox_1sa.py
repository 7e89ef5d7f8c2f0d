"""CWOX-1sA: each top class contrasted with the union of the other top classes."""

from __future__ import annotations

from explain_engine.registry import register_method
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, Request
from explain_engine.wox import BaseMaps, Clusters, WoxMethod, classes_with_foils


@register_method("cwox-1sa", order=1)
class Cwox1sA(WoxMethod):
    """CWOX-1sA: ReLU(H_c − H_{C∖c}); with a single top class, H_c."""

    has_cluster_map = False
    description = "each top class against all other top classes, ReLU(H_c − H_{C∖c})"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        return set().union(
            *(
                self._contrast_requests(1, (c,), foils)
                for _, c, foils in classes_with_foils(clusters)
            )
        )

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = []
        for i, c, foils in classes_with_foils(clusters):
            values = (
                self._difference(base, 1, (c,), foils).clamp_min(0)
                if foils
                else self._base(base, 1, (c,))
            )
            maps.append(Heatmap("class", (c,), tuple(f for (f,) in foils), values, i))
        return self._explanation(clusters, explainer, maps)
