"""Quality of a stimulus heatmap: what a map holds, what its overlay shows, and the pair's maps.

Pure functions of numpy arrays or tensors (no Django, no model). Measures of one map
(:class:`MapQuality`, :func:`map_quality`):

- ``visible_area``: share of pixels whose overlay differs from the photograph by more than
  :data:`VISIBLE_LEVEL` (30 of 255) in some channel — what a participant can see. The same
  measure as ``../shared/tools/heatmap_visibility.py``; None when no overlay is given.
- ``concentration``: share of the positive mass in the top 5 % of pixels (:data:`TOP_SHARE`),
  in [0.05, 1] for a map with positive mass (0.05: flat; 1: all mass in 5 % of the pixels).
- ``n_delta``: n_δ of :func:`explain_engine.metrics.count_salient` (pixels ≥ δ·max, δ = 0.5).
- ``border_peak``: whether the map's maximum lies in the border band (:data:`BORDER_FRACTION`
  of the side, at least one pixel) — often a padding artefact of the base explainer.
- ``finite``, ``constant``, ``positive``: no NaN/inf; one value everywhere; some value > 0.

Measures of a pair (:class:`PairQuality`, :func:`pair_quality`): the Spearman rank correlation
and the SSIM of the two class maps' positive parts (what the overlays show), each scaled by its
maximum. Near 1: the two pictures look alike and a participant cannot tell which is which.

Grades (:func:`grade`): *hard failures* make a picture unusable (``"not-finite"``,
``"constant"``, ``"blank"``: no positive value, or nothing visible in the overlay); *soft flags*
go to the researcher (``"low-visibility"``: visible area below the threshold;
``"indistinguishable"``: pair correlation or SSIM at or above its threshold). Thresholds are
:class:`QualityThresholds`; their defaults are justified in ``docs/stimulus-quality.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from explain_engine.errors import EngineInputError
from explain_engine.metrics import count_salient

VISIBLE_LEVEL = 30
"""A pixel is visible when the overlay differs from the photograph by more than this (0–255)."""
TOP_SHARE = 0.05
"""Share of pixels (the largest values) whose mass ``concentration`` measures."""
DELTA = 0.5
"""δ of n_δ, as in the paper's metrics."""
BORDER_FRACTION = 0.05
"""Width of the border band, as a fraction of the image's height and width."""

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class MapQuality:
    """Quality measures of one map (module docstring). JSON-serialisable via :meth:`to_dict`.

    Attributes:
        finite: no NaN or infinite value.
        constant: every value equal (an all-zero map is constant).
        positive: some value > 0 (something for the overlay to show).
        visible_area: share in [0, 1] of visible overlay pixels; None without an overlay.
        concentration: share in [TOP_SHARE, 1] of the positive mass in the top 5 % of pixels;
            None without positive mass (or non-finite).
        n_delta: pixels ≥ δ·max (0 when max ≤ 0 or non-finite).
        border_peak: the maximum lies in the border band (False without positive value).
    """

    finite: bool
    constant: bool
    positive: bool
    visible_area: float | None
    concentration: float | None
    n_delta: int
    border_peak: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairQuality:
    """How alike the two class maps of a pair are; None where undefined (a constant map).

    Attributes:
        spearman: rank correlation in [-1, 1] of the maps' positive parts.
        ssim: structural similarity in [-1, 1] of the positive parts scaled to [0, 1].
    """

    spearman: float | None
    ssim: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QualityThresholds:
    """Where soft flags start (defaults: ``docs/stimulus-quality.md``).

    Attributes:
        min_visible_area: a map whose overlay shows less is flagged ``low-visibility``
            (0.02: a 32 × 32 spot on a 224-pixel picture).
        max_spearman: a pair whose maps correlate at least this much is ``indistinguishable``
            (0.99: near-duplicates only; SWOX pairs of confusable classes sit at a median of
            0.95, which is the method's property that a study measures, not a defect).
        max_ssim: a pair whose maps have at least this SSIM is ``indistinguishable`` (0.99).
    """

    min_visible_area: float = 0.02
    max_spearman: float = 0.99
    max_ssim: float = 0.99

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Grade:
    """Hard failures (the picture must not be shown) and soft flags (the researcher decides)."""

    hard: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """No hard failure."""
        return not self.hard

    def to_dict(self) -> dict:
        return {"hard": list(self.hard), "soft": list(self.soft)}


def visible_area(overlay: np.ndarray, photo: np.ndarray, level: int = VISIBLE_LEVEL) -> float:
    """Share of pixels where ``overlay`` and ``photo`` differ by more than ``level`` in a channel.

    Args:
        overlay, photo: uint8 (or integer) RGB arrays (H, W, 3) of the same shape, values 0–255.
        level: the visibility threshold in 8-bit levels.

    Returns:
        A share in [0, 1]; 0 when the overlay equals the photograph (a blank picture).
    """
    overlay, photo = np.asarray(overlay), np.asarray(photo)
    if overlay.shape != photo.shape or overlay.ndim != 3:
        raise EngineInputError(
            f"overlay {overlay.shape} and photo {photo.shape} must be (H, W, 3) of one shape"
        )
    difference = np.abs(overlay.astype(np.int16) - photo.astype(np.int16)).max(axis=2)
    return float((difference > level).mean())


def concentration(heatmap: ArrayLike, top_share: float = TOP_SHARE) -> float | None:
    """Share of the positive mass (sum of max(H, 0)) in the ⌈top_share·n⌉ largest pixels.

    Returns a value in [top_share, 1] (about top_share for a flat map, 1 when the mass sits in
    that many pixels or fewer), or None when the map has no positive mass or is not finite.
    """
    values = _array(heatmap).reshape(-1)
    if not np.isfinite(values).all():
        return None
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if total <= 0:
        return None
    count = max(1, int(np.ceil(top_share * positive.size)))
    return float(np.sort(positive)[-count:].sum() / total)


def border_peak(heatmap: ArrayLike, fraction: float = BORDER_FRACTION) -> bool:
    """Whether the (first) maximum of a map with a positive value lies within the border band:
    ``max(1, round(fraction·side))`` pixels from an edge. False for a map without positive
    value or with non-finite values."""
    values = _array(heatmap)
    if not np.isfinite(values).all() or values.max() <= 0:
        return False
    height, width = values.shape
    row, column = np.unravel_index(int(np.argmax(values)), values.shape)
    band_h, band_w = max(1, round(fraction * height)), max(1, round(fraction * width))
    return bool(
        row < band_h or row >= height - band_h or column < band_w or column >= width - band_w
    )


def map_quality(
    heatmap: ArrayLike, overlay: np.ndarray | None = None, photo: np.ndarray | None = None
) -> MapQuality:
    """Every measure of one map (H, W); ``overlay`` and ``photo`` (H, W, 3 uint8) give the
    visible area (both or neither)."""
    if (overlay is None) != (photo is None):
        raise EngineInputError("visible area needs both the overlay and the photograph")
    values = _array(heatmap)
    finite = bool(np.isfinite(values).all())
    positive = finite and bool(values.max() > 0)
    return MapQuality(
        finite=finite,
        constant=finite and bool(values.min() == values.max()),
        positive=positive,
        visible_area=None if overlay is None else visible_area(overlay, photo),
        concentration=concentration(values),
        n_delta=count_salient(torch.from_numpy(values), DELTA) if finite else 0,
        border_peak=border_peak(values),
    )


def pair_quality(map_a: ArrayLike, map_b: ArrayLike) -> PairQuality:
    """Spearman correlation and SSIM of the positive parts of two maps of one shape (H, W).

    Each measure is None when it is undefined: a non-finite map, or a map whose positive part
    is constant (e.g. all zero) has no ranks to correlate and no scale for SSIM.
    """
    a, b = _array(map_a), _array(map_b)
    if a.shape != b.shape:
        raise EngineInputError(f"pair maps have shapes {a.shape} and {b.shape}; expected one")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return PairQuality(None, None)
    a, b = np.clip(a, 0.0, None), np.clip(b, 0.0, None)
    if a.max() == a.min() or b.max() == b.min():
        return PairQuality(None, None)
    rho = float(spearmanr(a.reshape(-1), b.reshape(-1)).statistic)
    ssim = float(structural_similarity(a / a.max(), b / b.max(), data_range=1.0))
    return PairQuality(spearman=rho, ssim=ssim)


def grade(
    maps: Sequence[MapQuality],
    pair: PairQuality | None = None,
    thresholds: QualityThresholds | None = None,
) -> Grade:
    """Grade the maps of one stimulus (e.g. class maps a and b and the cluster map) and its pair.

    Hard failures, one entry per problem and map position (``"blank:1"`` = second map):
    ``not-finite``, ``constant`` (reported instead of ``blank`` for a constant map), ``blank``
    (no positive value, or a visible area of exactly 0). Soft flags: ``low-visibility:i`` (visible
    area below ``thresholds.min_visible_area``; only for maps that passed the hard checks) and
    ``indistinguishable`` (the pair's Spearman or SSIM at or above its threshold).
    ``thresholds`` None: the defaults.
    """
    thresholds = thresholds or QualityThresholds()
    hard: list[str] = []
    soft: list[str] = []
    for position, quality in enumerate(maps):
        problem = _hard_problem(quality)
        if problem:
            hard.append(f"{problem}:{position}")
        elif (
            quality.visible_area is not None and quality.visible_area < thresholds.min_visible_area
        ):
            soft.append(f"low-visibility:{position}")
    if pair is not None and (
        (pair.spearman is not None and pair.spearman >= thresholds.max_spearman)
        or (pair.ssim is not None and pair.ssim >= thresholds.max_ssim)
    ):
        soft.append("indistinguishable")
    return Grade(tuple(hard), tuple(soft))


def _hard_problem(quality: MapQuality) -> str | None:
    if not quality.finite:
        return "not-finite"
    if quality.constant and quality.positive:
        return "constant"
    if not quality.positive or quality.visible_area == 0:
        return "blank"
    return None


def _array(heatmap: ArrayLike) -> np.ndarray:
    """A (H, W) map as float64 numpy."""
    if isinstance(heatmap, torch.Tensor):
        heatmap = heatmap.detach().to("cpu", torch.float64).numpy()
    values = np.asarray(heatmap, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise EngineInputError(f"a map must have shape (H, W), got {values.shape}")
    return values
