"""Figures render and save as non-empty PNG and SVG files."""

import numpy as np
import pytest
from analysis_studies import simulate_study
from matplotlib.figure import Figure

from studies.analysis import (
    analyse,
    empty_participants,
    empty_trials,
    plot_calibration,
    plot_summary,
    save_figure,
)


@pytest.fixture(scope="module")
def tables():
    trials, participants = simulate_study(
        np.random.default_rng(9),
        {
            ("expert", "SWOX"): (4, 0.5),
            ("expert", "CWOX-2s"): (3, 0.8),
            ("non-expert", "CWOX-2s"): (1, 0.7),
        },
        n_items=6,
    )
    return analyse(trials, participants, conditions=["SWOX", "CWOX-1sB", "CWOX-2s"])


def _assert_saved(figure, stem):
    png, svg = save_figure(figure, stem)
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5000
    assert "<svg" in svg.read_text(encoding="utf-8")
    assert not [p for p in stem.parent.iterdir() if p.name.startswith(".")]


def test_summary_bars_with_error_bars(tables, tmp_path):
    figure = plot_summary(tables.summary)
    assert isinstance(figure, Figure)
    accuracy, confidence = figure.axes[:2]
    assert accuracy.get_title() == "accuracy" and confidence.get_title() == "confidence"
    assert [t.get_text() for t in accuracy.get_xticklabels()] == ["SWOX", "CWOX-1sB", "CWOX-2s"]
    assert len(accuracy.patches) == 2 * 3  # one bar per group and condition
    _assert_saved(figure, tmp_path / "summary")


def test_calibration_curves(tables, tmp_path):
    figure = plot_calibration(tables.calibration)
    assert [axes.get_title() for axes in figure.axes] == ["expert", "non-expert"]
    assert len(figure.axes[0].get_lines()) >= 2
    _assert_saved(figure, tmp_path / "nested" / "calibration")


def test_empty_study_plots_say_no_data(tmp_path):
    tables = analyse(empty_trials(), empty_participants())
    for name, figure in {
        "summary": plot_summary(tables.summary),
        "calibration": plot_calibration(tables.calibration),
    }.items():
        texts = [t.get_text() for axes in figure.axes for t in axes.texts]
        assert "no data" in texts
        _assert_saved(figure, tmp_path / name)
