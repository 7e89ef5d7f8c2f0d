"""CWOX-2s (paper eqs. 1, 2): cluster maps at stage 1, class maps within a cluster at stage 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from explain_engine.registry import register_method
from explain_engine.results import Heatmap, WoxExplanation
from explain_engine.targets import Compound, Request
from explain_engine.wox import BaseMaps, Clusters, WoxMethod

if TYPE_CHECKING:
    import torch


@register_method("cwox-2s", order=3)
class Cwox2s(WoxMethod):
    """CWOX-2s: cluster maps by eq. (1) at stage 1, class maps by eq. (2) at stage 2."""

    has_cluster_map = True
    description = "cluster maps (eq. 1), then class maps within the cluster (eq. 2)"

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
            threshold = (
                cluster_map.float().flatten().quantile(self.options.support_percentile / 100.0)
            )
            return (cluster_map >= threshold).to(cluster_map.dtype)
        return (cluster_map > self.options.epsilon).to(cluster_map.dtype)
