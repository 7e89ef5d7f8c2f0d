"""Statistics of a faithfulness run: Tables 1–3 and paired tests from ``pairs.csv``.

:func:`summarize` gives the mean CAUC and CDROP per (method, explainer) with 95 % t-intervals
over pairs (:func:`explain_engine.intervals.t_interval`, the interval the study analysis uses
too), CWOX-2s's mean n_δ, CAUC and CDROP per explainer, and two-sided paired Wilcoxon
signed-rank tests of CWOX-2s against every other method (:func:`paired_test`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from scipy import stats

from explain_engine.intervals import Interval, t_interval
from explain_engine.metrics import CAUC, CDROP, Metric
from explain_engine.registry import method_names

#: The method every other one is compared with by the paired tests.
PROPOSED: Final = "cwox-2s"
CONFIDENCE: Final = 0.95


@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of CWOX-2s against another method on shared pairs."""

    explainer: str
    metric: str
    other: str
    n: int
    median_difference: float  # median of (CWOX-2s − other)
    statistic: float
    p_value: float
    better: str  # PROPOSED, other, or "tie" by the sign of the median difference


@dataclass(frozen=True)
class Tables:
    """The evaluation tables as tidy numeric frames."""

    table1: pd.DataFrame  # mean CAUC: method, explainer, n, mean, low, high
    table2: pd.DataFrame  # mean CDROP
    table3: pd.DataFrame  # CWOX-2s per explainer: explainer, quantity, n, mean, low, high
    tests: pd.DataFrame  # paired tests: one row per PairedTest


def read_pairs(path: Path) -> pd.DataFrame:
    """pairs.csv as a frame (``foil`` kept as text, scores as floats)."""
    frame = pd.read_csv(path, dtype={"foil": str, "image": str})
    frame["degenerate"] = frame["degenerate"].astype(str).str.lower() == "true"
    return frame


def summarize(pairs: pd.DataFrame) -> Tables:
    """Tables 1–3 and the paired tests from the rows of pairs.csv."""
    valid = pairs[~pairs["degenerate"]]
    known = method_names()
    methods = [m for m in known if m in set(pairs["method"])] + sorted(
        set(pairs["method"]) - set(known)
    )
    explainers = list(dict.fromkeys(pairs["explainer"]))

    def means(column: str) -> pd.DataFrame:
        records = []
        for method in methods:
            for explainer in explainers:
                part = valid[(valid["method"] == method) & (valid["explainer"] == explainer)]
                interval = t_interval(part[column].to_numpy(dtype=float), CONFIDENCE)
                records.append({"method": method, "explainer": explainer, **_row(interval)})
        return pd.DataFrame.from_records(
            records, columns=["method", "explainer", "n", "mean", "low", "high"]
        )

    table3 = []
    for explainer in explainers:
        part = valid[(valid["method"] == PROPOSED) & (valid["explainer"] == explainer)]
        for quantity in ("n_delta", "cauc", "cdrop"):
            interval = t_interval(part[quantity].to_numpy(dtype=float), CONFIDENCE)
            table3.append({"explainer": explainer, "quantity": quantity, **_row(interval)})
    tests = [
        asdict(paired_test(pairs, explainer, metric, other))
        for explainer in explainers
        for metric in (CAUC, CDROP)
        for other in methods
        if other != PROPOSED and PROPOSED in methods
    ]
    return Tables(
        means("cauc"),
        means("cdrop"),
        pd.DataFrame.from_records(
            table3, columns=["explainer", "quantity", "n", "mean", "low", "high"]
        ),
        pd.DataFrame.from_records(
            tests, columns=[f.name for f in PairedTest.__dataclass_fields__.values()]
        ),
    )


def paired_test(pairs: pd.DataFrame, explainer: str, metric: Metric, other: str) -> PairedTest:
    """Wilcoxon signed-rank (two-sided) of CWOX-2s vs ``other`` where both scores are finite."""
    part = pairs[(pairs["explainer"] == explainer) & ~pairs["degenerate"]]
    keys = ["image", "target", "foil"]
    ours = part[part["method"] == PROPOSED].set_index(keys)[metric.name]
    theirs = part[part["method"] == other].set_index(keys)[metric.name]
    joined = pd.concat([ours.rename("a"), theirs.rename("b")], axis=1, join="inner")
    joined = joined[np.isfinite(joined["a"]) & np.isfinite(joined["b"])]
    a, b = joined["a"].to_numpy(dtype=float), joined["b"].to_numpy(dtype=float)
    n = len(a)
    if n == 0:
        return PairedTest(explainer, metric.name, other, 0, math.nan, math.nan, math.nan, "tie")
    difference = float(np.median(a - b))
    # Without a nonzero difference the test is undefined (scipy would warn): NaN. The warning
    # filters are process-wide, so they are not touched here.
    if np.count_nonzero(a - b) == 0:
        statistic, p_value = math.nan, math.nan
    else:
        result = stats.wilcoxon(a, b)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    if metric.better(difference, 0.0):
        better = PROPOSED
    elif metric.better(0.0, difference):
        better = other
    else:
        better = "tie"
    return PairedTest(explainer, metric.name, other, n, difference, statistic, p_value, better)


def _row(interval: Interval) -> dict[str, float]:
    """A table row's n, mean, low, high."""
    return {"n": interval.n, "mean": interval.estimate, "low": interval.low, "high": interval.high}
