"""BIF writing and reading in latlab's layout (spec §5, test 9)."""

from __future__ import annotations

import numpy as np
import pytest

from explain_engine.errors import EngineInputError
from explain_engine.hlta.bif import bif_text, parse_bif, read_bif, write_bif
from explain_engine.hlta.ltm import TreeModel


def asymmetric_model() -> TreeModel:
    cpt = np.array(
        [
            [[0.9, 0.1], [0.3, 0.7]],  # P(c1 | Z11): rows = parent state
            [[0.6, 0.4], [0.25, 0.75]],
            [[0.8159073856422222, 0.18409261435777785], [0.3071261003106736, 0.6928738996893263]],
            [[0.68, 0.32], [0.68, 0.32]],  # root prior in both rows
        ]
    )
    return TreeModel(
        ("c1", "c2", "Z11", "Z21"), np.array([2, 2, 3, -1]), np.array([0, 0, 1, 2]), cpt
    )


def test_tables_list_the_child_as_the_most_significant_index():
    text = bif_text(asymmetric_model(), "net")
    assert text.startswith('network "net" {\n}\n')
    assert 'variable "c1" {\n\ttype discrete[2] { "s0" "s1" };\n}' in text
    assert 'probability ( "c1" | "Z11" ) {\n\ttable 0.9 0.3 0.1 0.7;\n}' in text
    assert (
        'probability ( "Z11" | "Z21" ) {\n\ttable 0.8159073856422222 0.3071261003106736 '
        "0.18409261435777785 0.6928738996893263;\n}"
    ) in text
    assert 'probability ( "Z21" ) {\n\ttable 0.68 0.32;\n}' in text


def test_bif_round_trip_restores_names_structure_levels_and_parameters(tmp_path):
    model = asymmetric_model()
    write_bif(model, tmp_path / "m.bif")
    again = read_bif(tmp_path / "m.bif")
    assert again.names == model.names
    np.testing.assert_array_equal(again.parent, model.parent)
    np.testing.assert_array_equal(again.level, model.level)
    assert again.cpt.tobytes() == model.cpt.tobytes()


def test_learned_model_round_trips_through_bif(planted_result, tmp_path):
    model = planted_result.model
    write_bif(model, tmp_path / "planted.bif")
    again = read_bif(tmp_path / "planted.bif")
    assert again.names == model.names
    np.testing.assert_array_equal(again.parent, model.parent)
    np.testing.assert_array_equal(again.level, model.level)
    assert again.cpt.tobytes() == model.cpt.tobytes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('variable "a" { type discrete[2] { "s0" "s1" }; }', "no probability block"),
        (
            'variable "a" { type discrete[2] { "s0" "s1" }; }\n'
            'probability ( "a" | "b" ) { table 0.5 0.5 0.5 0.5; }',
            "undeclared",
        ),
        (
            'variable "a" { type discrete[2] { "s0" "s1" }; }\n'
            'probability ( "a" ) { table 0.2 0.3 0.5; }',
            "expected 2",
        ),
    ],
)
def test_malformed_bif_raises_engine_input_error(text, message):
    with pytest.raises(EngineInputError, match=message):
        parse_bif(text)
