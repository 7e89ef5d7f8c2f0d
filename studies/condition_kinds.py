"""Condition kinds: what the participants of a study condition are shown, by name.

A condition names a kind in ``Condition.method``. Every WOX method registered in the engine
(:func:`explain_engine.registry.method_names`) is a kind, declaring from the method whether
its heatmap sets carry a stage-1 cluster map (CWOX-2s: paper Fig. 7). Other kinds, such as
control arms ("no heatmap", a placebo), register with :func:`register_condition_kind` in their
own module. Nothing else lists kind names: known methods, form choices and "show a cluster
map" are read from here. This module needs neither Django nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from explain_engine.registry import METHODS


@dataclass(frozen=True)
class ConditionKind:
    """A kind of condition.

    Attributes:
        name: the value of ``Condition.method`` (lower-case letters, digits, '-').
        description: one line for researchers.
        has_cluster_map: its heatmap sets hold a stage-1 cluster map shown beside the pair's.
        engine_method: whether the engine's pregeneration makes its heatmaps.
    """

    name: str
    description: str
    has_cluster_map: bool = False
    engine_method: bool = False


_REGISTERED: dict[str, ConditionKind] = {}


def register_condition_kind(kind: ConditionKind) -> ConditionKind:
    """Register a kind that is not an engine method (ValueError if the name is taken)."""
    if kind.name in METHODS.names() or kind.name in _REGISTERED:
        raise ValueError(f"condition kind {kind.name!r} is already registered")
    _REGISTERED[kind.name] = kind
    return kind


def condition_kinds() -> dict[str, ConditionKind]:
    """Every kind by name: the engine's WOX methods first (in their order), then the others."""
    methods = {
        name: ConditionKind(name, cls.description, cls.has_cluster_map, engine_method=True)
        for name, cls in METHODS.classes().items()
    }
    return {**methods, **_REGISTERED}


def condition_kind(name: str) -> ConditionKind | None:
    """The kind called ``name`` (None for a name nothing registered, e.g. a custom arm whose
    heatmaps were imported from elsewhere)."""
    return condition_kinds().get(name)


def shows_cluster_map(name: str) -> bool:
    """Whether a condition of kind ``name`` shows a stage-1 cluster map."""
    kind = condition_kind(name)
    return kind is not None and kind.has_cluster_map
