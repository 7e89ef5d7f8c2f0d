"""Condition kinds: every WOX method and its placebo arm, with the method's cluster map."""

from __future__ import annotations

import pytest

from explain_engine.errors import EngineInputError
from explain_engine.placebo import split_methods
from explain_engine.registry import method_names
from studies.condition_kinds import condition_kinds, shows_cluster_map
from studies.demo import conditions_named
from studies.models.study import KNOWN_METHODS


def test_every_method_has_a_placebo_kind_that_shows_what_the_method_shows():
    kinds = condition_kinds()
    for method in method_names():
        placebo = kinds[f"placebo-{method}"]
        assert placebo.engine_method and f"placebo-{method}" in KNOWN_METHODS
        assert shows_cluster_map(placebo.name) == shows_cluster_map(method)
    assert shows_cluster_map("placebo-cwox-2s") and not shows_cluster_map("placebo-swox")


def test_placebo_names_split_from_methods_and_unknown_ones_are_refused():
    assert split_methods(("swox", "placebo-cwox-2s")) == (("swox",), ("cwox-2s",))
    with pytest.raises(EngineInputError, match="placebo-<method>"):
        split_methods(("placebo-gradcam",))


def test_demo_conditions_are_named_like_the_papers():
    assert conditions_named("swox, cwox-2s,placebo-cwox-2s") == (
        ("SWOX", "swox"),
        ("CWOX-2s", "cwox-2s"),
        ("Placebo (CWOX-2s)", "placebo-cwox-2s"),
    )
