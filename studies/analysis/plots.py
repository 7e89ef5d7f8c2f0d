"""Figures: accuracy and confidence per condition and group with CI error bars, and
calibration curves. Figures are built with the object-oriented API on the Agg canvas (no
pyplot state, safe in a web server's threads); `save_figure` writes PNG and SVG.

Layout rules, so that a figure cannot hide or misdraw data: legends sit right of the panels,
outside the axes; y-limits cover the whole scale of the measure (`summary.SCALES`) and every
error bar, with a margin so that markers on the scale's ends are drawn whole; counts above the
bars stay inside the axes; cells with fewer than `SMALL_CELL` participants are marked † and a
footnote says so."""

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .export import atomic_write
from .schema import CONFIDENCE_LEVELS
from .summary import CELL_MARKS, MEASURES, SCALES, SMALL_CELL, SMALL_MARK

FIGURE_FORMATS: tuple[str, ...] = ("png", "svg")
_COUNT_HEADROOM = 0.14  # share of the y range left above the highest bar for its "n=" label
_END_MARGIN = 0.04  # share of the y range beyond each end of the scale
_BAR_SPAN = 0.8  # share of the space between conditions filled by one condition's bars
_CALIBRATION_DODGE = 0.06  # horizontal shift between conditions' points, in confidence units


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _order(given: Sequence[str] | None, found: pd.Series) -> list[str]:
    return list(given) if given is not None else list(dict.fromkeys(found))


def _no_data(axes) -> None:
    axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)


def _legend_outside(figure: Figure, title: str) -> None:
    """One legend for the whole figure, right of the panels (outside every axes), with each
    label once."""
    handles = {}
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(
            handles.values(),
            handles.keys(),
            title=title,
            loc="outside right upper",
            fontsize=8,
        )


def _y_limits(axes, low: float, high: float, top: float, headroom: float) -> None:
    """y from the scale's low end (with a margin) to above max(high, top) with `headroom`."""
    span = high - low
    axes.set_ylim(low - _END_MARGIN * span, max(high, top) + headroom * span)


def _error(frame: pd.DataFrame, value: str) -> np.ndarray:
    """Asymmetric error bar lengths (2, n); 0 where the interval is missing."""
    below = (frame[value] - frame["ci_low"]).fillna(0).clip(lower=0)
    above = (frame["ci_high"] - frame[value]).fillna(0).clip(lower=0)
    return np.vstack([below.to_numpy(), above.to_numpy()])


def plot_summary(
    summary: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
) -> Figure:
    """Bar charts of mean accuracy and mean confidence (one panel each): conditions on the
    x axis, one bar per group, error bars from ci_low..ci_high (none where missing), "n=" above
    each bar (with † below `SMALL_CELL` participants), the group legend right of the panels and
    a footnote below them; y covers the measure's scale (`summary.SCALES`) and every error bar.
    `summary` is the long-form table of `analyse`; orders default to its row order.
    """
    conditions = _order(conditions, summary["condition"])
    groups = _order(groups, summary["group"])
    figure = _figure(max(5.0, 1.6 * len(conditions) * max(1, len(groups)) / 2 + 3), 4.0)
    panels = figure.subplots(1, len(MEASURES), squeeze=False)[0]
    width = _BAR_SPAN / max(1, len(groups))
    x = np.arange(len(conditions))
    small = False
    for axes, measure in zip(panels, MEASURES, strict=True):
        low, high = SCALES[measure]
        axes.set_title(measure)
        axes.set_ylabel("mean (95% CI)")
        axes.set_xticks(x, conditions)
        rows = summary[summary["measure"] == measure].set_index(["group", "condition"])
        _y_limits(axes, min(0.0, low), high, float(rows["ci_high"].max()), _COUNT_HEADROOM)
        if rows["n_participants"].sum() == 0:
            _no_data(axes)
            continue
        for g, group in enumerate(groups):
            cells = rows.reindex([(group, condition) for condition in conditions])
            positions = x + (g - (len(groups) - 1) / 2) * width
            heights = cells["mean"].fillna(0).to_numpy()
            axes.bar(positions, heights, width, label=group, color=f"C{g}")
            has_ci = (cells["ci_low"].notna() & cells["ci_high"].notna()).to_numpy()
            if has_ci.any():
                axes.errorbar(
                    positions[has_ci],
                    heights[has_ci],
                    yerr=_error(cells[has_ci], "mean"),
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                )
            tops = np.fmax(heights, cells["ci_high"].to_numpy(dtype="float64"))
            counts = cells["n_participants"].fillna(0).astype(int)
            for position, top, n in zip(positions, tops, counts, strict=True):
                small = small or 0 < n < SMALL_CELL
                if n > 0:
                    axes.annotate(
                        f"n={n}{SMALL_MARK if n < SMALL_CELL else ''}",
                        (position, top),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
    _legend_outside(figure, "group")
    if small:
        figure.supxlabel(f"{SMALL_MARK} {CELL_MARKS[SMALL_MARK]}", fontsize=8)
    return figure


def plot_calibration(
    calibration: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
) -> Figure:
    """Calibration curves: accuracy against confidence level 1..5, one line per condition,
    one panel per group, Wilson error bars where available; levels without trials are gaps.
    y covers [0, 1] with a margin (points at 0 or 1 drawn whole); one condition legend right
    of the panels. `calibration` is the table of `analyse`; orders default to its row order."""
    conditions = _order(conditions, calibration["condition"])
    groups = _order(groups, calibration["group"])
    figure = _figure(4.2 * max(1, len(groups)), 3.6)
    panels = figure.subplots(1, max(1, len(groups)), squeeze=False)[0]
    for axes in panels:
        axes.set_xlim(0.5, 5.5)
        _y_limits(axes, *SCALES["accuracy"], top=1.0, headroom=_END_MARGIN)
        axes.set_xticks(CONFIDENCE_LEVELS)
        axes.set_xlabel("confidence")
        axes.set_ylabel("accuracy (Wilson 95% CI)")
    if calibration["n_trials"].sum() == 0:
        _no_data(panels[0])
        return figure
    for axes, group in zip(panels, groups, strict=False):
        axes.set_title(group)
        for c, condition in enumerate(conditions):
            cells = (
                calibration[
                    (calibration["group"] == group) & (calibration["condition"] == condition)
                ]
                .set_index("confidence")
                .reindex(CONFIDENCE_LEVELS)
            )
            if cells["n_trials"].fillna(0).sum() == 0:
                continue
            dodge = (c - (len(conditions) - 1) / 2) * _CALIBRATION_DODGE
            axes.errorbar(
                np.add(CONFIDENCE_LEVELS, dodge),
                cells["accuracy"].to_numpy(),
                yerr=_error(cells, "accuracy"),
                marker="o",
                capsize=3,
                label=condition,
                color=f"C{c}",  # one colour per condition in every panel (one legend)
            )
    _legend_outside(figure, "condition")
    return figure


def plot_power(power: pd.DataFrame, targets: Sequence[float] = (0.8, 0.9)) -> Figure:
    """Power against participants per cell: one panel per group, one colour per planned pair,
    solid lines for Welch's t on participant means and dashed for the pooled-trials test,
    error bars ±1.96 Monte Carlo SE, dotted lines at `targets`; y covers [0, 1] with a margin,
    the legend sits right of the panels. `power` is the table of `power.simulate_power`."""
    groups = list(dict.fromkeys(power["group"]))
    figure = _figure(4.2 * max(1, len(groups)) + 2.5, 3.8)
    panels = figure.subplots(1, max(1, len(groups)), squeeze=False, sharey=True)[0]
    pairs = list(dict.fromkeys(zip(power["condition_a"], power["condition_b"], strict=True)))
    styles = {"welch_t": ("-", "Welch t, participant means"), "pooled": ("--", "pooled trials")}
    for axes, group in zip(panels, groups, strict=False):
        axes.set_title(group)
        axes.set_xlabel("participants per cell")
        _y_limits(axes, 0.0, 1.0, top=1.0, headroom=_END_MARGIN)
        for target in targets:
            axes.axhline(target, color="grey", linestyle=":", linewidth=1)
        for k, (a, b) in enumerate(pairs):
            for test, (linestyle, test_label) in styles.items():
                rows = power[
                    (power["group"] == group)
                    & (power["condition_a"] == a)
                    & (power["condition_b"] == b)
                    & (power["test"] == test)
                ]
                axes.errorbar(
                    rows["n_per_cell"],
                    rows["power"],
                    yerr=1.96 * rows["mc_se"],
                    color=f"C{k}",
                    linestyle=linestyle,
                    marker="o",
                    markersize=3,
                    capsize=2,
                    label=f"{a} vs {b}, {test_label}",
                )
    panels[0].set_ylabel("power (±1.96 Monte Carlo SE)")
    _legend_outside(figure, "comparison, test")
    return figure


def save_figure(
    figure: Figure, stem: str | Path, formats: Iterable[str] = FIGURE_FORMATS
) -> list[Path]:
    """Write `figure` to `<stem>.<format>` for each format (PNG at 150 dpi), atomically;
    returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        written.append(
            atomic_write(path, lambda target, fmt=fmt: figure.savefig(target, format=fmt, dpi=150))
        )
    return written
