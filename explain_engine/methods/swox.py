"""SWOX (paper Section 4): the plain base map of every top class."""

from __future__ import annotations

from explain_engine.registry import register_method
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, Request
from explain_engine.wox import BaseMaps, Clusters, WoxMethod


@register_method("swox", order=0)
class Swox(WoxMethod):
    """SWOX: one plain base map per top class."""

    has_cluster_map = False
    description = "plain base map of every top class"

    def requests(self, top: Compound, clusters: Clusters) -> set[Request]:
        return {(1, (c,)) for c in top}

    def combine(self, base: BaseMaps, clusters: Clusters, explainer: str) -> WoxExplanation:
        maps = [
            Heatmap("class", (c,), (), base[(1, (c,))], i)
            for i, cluster in enumerate(clusters)
            for c in cluster
        ]
        return self._explanation(clusters, explainer, maps)
