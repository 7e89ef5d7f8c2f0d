"""CWOX-1sB (SCOUT-style): each top class times the inverse of the other top classes' map."""

from __future__ import annotations

from explain_engine.registry import register_method
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, Request, compound
from explain_engine.wox import BaseMaps, Clusters, WoxMethod, classes_with_foils, min_max


@register_method("cwox-1sb", order=2)
class Cwox1sB(WoxMethod):
    """CWOX-1sB (SCOUT-style): norm(H_c) · (1 − norm(H_{C∖c})); single class: norm(H_c)."""

    has_cluster_map = False
    description = "each top class times the inverse of the others (SCOUT-style)"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        everything = compound(top)
        return {(1, (c,)) for c in top} | {
            (1, compound(set(everything) - {c})) for c in top if len(everything) > 1
        }

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = []
        for i, c, foils in classes_with_foils(clusters):
            values = min_max(base[(1, (c,))])
            if foils:
                values = values * (1 - min_max(base[(1, compound(f for (f,) in foils))]))
            maps.append(Heatmap("class", (c,), tuple(f for (f,) in foils), values, i))
        return self._explanation(clusters, explainer, maps)
