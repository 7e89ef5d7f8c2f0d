"""Confidence intervals of a mean, shared by the faithfulness tables and the study analysis.

One implementation for both callers: :mod:`explain_engine.evaluation.statistics` (means of
CAUC/CDROP over pairs) and :mod:`studies.analysis` (means of participant means, pooled trials).
It lives in the engine because the engine may not import the study app, while the study
analysis may use the engine's plain numerical modules; this module imports only numpy and
scipy (no torch, no Django).

* :func:`t_interval`: mean ± t_{(1+level)/2, n−1} · s / sqrt(n), with the sample sd s (ddof=1),
  over the finite values (NaN and infinities are left out).
* :func:`wilson_interval`: Wilson score interval for a proportion of pooled trials.

Fewer than :data:`MIN_VALUES` values give NaN bounds; none gives a NaN estimate too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_VALUES = 2


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval (low/high NaN when undefined).

    ``method`` is ``"t"``, ``"wilson"`` or another caller's name; ``n`` counts the values
    (or trials) the interval is computed from.
    """

    estimate: float
    low: float
    high: float
    method: str
    n: int = 0

    @property
    def half_width(self) -> float:
        """(high - low) / 2: the "±" of a symmetric interval."""
        return (self.high - self.low) / 2


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval for the mean of the finite ``values`` (see the module docstring)."""
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, "t", 0)
    mean = float(x.mean())
    if n < MIN_VALUES:
        return Interval(mean, np.nan, np.nan, "t", n)
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, "t", n)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for successes / n pooled trials (NaN estimate when n == 0).

    With z = Phi^-1((1+level)/2) and p = successes / n the bounds are
    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
    """
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, "wilson", 0)
    p = successes / n
    z = stats.norm.ppf((1 + level) / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else centre - half  # exact bounds where rounding would
    high = 1.0 if successes == n else centre + half  # leave 1e-17 or 0.99999...
    return Interval(p, float(low), float(high), "wilson", n)
