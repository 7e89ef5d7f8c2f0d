"""Figures render and save as non-empty PNG and SVG files."""

import numpy as np
import pytest
from analysis_studies import Person, build_study, simulate_study
from matplotlib.figure import Figure

from studies.analysis import (
    analyse,
    empty_participants,
    empty_trials,
    plot_calibration,
    plot_summary,
    save_figure,
)
from studies.analysis.summary import SCALES


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


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _assert_legend_outside_every_axes(figure):
    figure.canvas.draw()
    assert [axes.get_legend() for axes in figure.axes] == [None] * len(figure.axes)
    (legend,) = figure.legends
    box = legend.get_window_extent()
    for axes in figure.axes:
        assert not _overlaps(box, axes.get_window_extent()), axes.get_title()


def test_summary_plot_shows_every_bar_error_bar_and_count_whole(tmp_path):
    trials, participants = build_study(
        Person("a", "g", "A", [(f"i{k}", k < 2, 1) for k in range(5)]),  # 0.4
        Person("b", "g", "A", [(f"i{k}", k < 4, 5) for k in range(5)]),  # 0.8
        Person("c", "h", "A", [(f"i{k}", True, 3) for k in range(5)]),
    )
    summary = analyse(trials, participants).summary
    figure = plot_summary(summary)
    _assert_legend_outside_every_axes(figure)
    for axes, measure in zip(figure.axes, ("accuracy", "confidence"), strict=True):
        low, high = axes.get_ylim()
        scale_low, scale_high = SCALES[measure]
        assert low < min(0.0, scale_low) and high > scale_high
        bars = [segment for c in axes.collections for segment in c.get_segments()]
        assert bars, measure
        assert all(low <= y <= high for segment in bars for _, y in segment), measure
        box = axes.get_window_extent()
        counts = [text for text in axes.texts if text.get_text().startswith("n=")]
        assert [text.get_text() for text in counts] == ["n=2†", "n=1†"]
        for text in counts:
            label = text.get_window_extent()
            assert box.y0 <= label.y0 and label.y1 <= box.y1, text.get_text()
    assert "fewer than 5 participants" in figure.get_supxlabel()
    _assert_saved(figure, tmp_path / "small")


def test_calibration_gives_a_condition_one_colour_in_every_panel(tables):
    figure = plot_calibration(tables.calibration)
    _assert_legend_outside_every_axes(figure)
    colours = {}
    for axes in figure.axes:
        low, high = axes.get_ylim()
        assert low < 0 and high > 1  # markers at 0 and 1 are drawn whole
        for curve in axes.containers:  # one errorbar container per condition drawn
            colours.setdefault(curve.get_label(), set()).add(curve.lines[0].get_color())
    assert set(colours) == {"SWOX", "CWOX-2s"}  # CWOX-2s is drawn in both panels
    assert all(len(found) == 1 for found in colours.values()), colours
