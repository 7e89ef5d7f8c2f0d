"""Turning heatmaps into pictures: overlays on the input image and paper-style summary figures.

Every method and every map is drawn by the same :class:`Rendering`, so that participants and
readers compare evidence, not drawing settings. A rendering is a named, JSON-able record (its
:meth:`Rendering.to_dict` goes into the stimulus manifest); two are defined:

- :data:`PERCENTILE_SQRT` (``"percentile-sqrt"``, the default :data:`RENDERING`): a map is divided
  by the 99th percentile of its *positive* values (a robust maximum: one hot pixel cannot dim the
  rest), clipped to [0, 1]; a normalised value v ≥ ``floor`` (0.05) is drawn with opacity
  ``max_alpha · √v``, below the floor it stays transparent. The square-root ramp keeps small but
  real evidence visible (v = 0.1 gets half the opacity of the peak instead of a tenth).
- :data:`MAX_LINEAR` (``"max-linear"``, the rendering before issue 16): divided by the map's
  maximum, opacity ``0.65 · v``, no floor.

Measurements and the reasons for these numbers: ``docs/stimulus-quality.md``. Common rules:

- Colormap ``"inferno"``. Its lightness rises monotonically with the value, so "brighter = more
  evidence" reads the same in greyscale and for colour-blind viewers, and it has none of jet's
  false boundaries (jet's bright cyan and yellow bands at mid values look like edges that are not
  in the map). The colour of a pixel is ``inferno(v)``; only the opacity ramp differs.
- Scaling is per map. Heatmap units differ between explainers and are comparable only within a
  map (see :class:`~explain_engine.results.Heatmap`), so a shared scale would mean nothing; a
  map and any positive multiple of it give the same picture.
- Zero stays transparent: a pixel whose value is <= 0 shows the input image unchanged (not
  darkened). Signed maps (the reference-code options): negative values are drawn as 0. Only the
  evidence *for* the target is shown, as in the paper's figures.
- An all-zero (or all-negative) map gives the input image unchanged: no rendering invents
  evidence where the map holds none.

Figures use matplotlib's object-oriented API (:class:`~matplotlib.figure.Figure` with the Agg
canvas) and never ``pyplot``, so rendering holds no global state and is safe on server threads.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.files import write_atomically
from explain_engine.results import Heatmap, ImageExplanation, WoxExplanation

COLORMAP = "inferno"
"""The one colormap used for every heatmap (perceptually uniform, monotonic lightness)."""


@dataclass(frozen=True)
class Rendering:
    """How a map becomes an overlay: scale, opacity ramp, noise floor (module docstring).

    Attributes:
        name: short name recorded in manifests, e.g. ``"percentile-sqrt"``.
        scale: ``"max"`` divides by the largest positive value; ``"percentile"`` by the
            ``percentile``-th percentile of the positive values (values above it saturate).
        percentile: in (0, 100], used by ``scale="percentile"``.
        gamma: exponent of the opacity ramp, in (0, 1]: opacity = ``max_alpha · v**gamma``
            (1: linear; 0.5: square root, more opacity for small values).
        max_alpha: opacity in [0, 1] of a normalised value 1.
        floor: normalised values below it (in [0, 1)) are transparent.
        colormap: a matplotlib colormap name; the colour of a pixel is ``colormap(v)``.
    """

    name: str
    scale: Literal["max", "percentile"] = "percentile"
    percentile: float = 99.0
    gamma: float = 0.5
    max_alpha: float = 0.65
    floor: float = 0.05
    colormap: str = COLORMAP

    def __post_init__(self) -> None:
        if self.scale not in ("max", "percentile"):
            raise EngineInputError(f"rendering scale {self.scale!r}: expected max or percentile")
        if not 0.0 < self.percentile <= 100.0:
            raise EngineInputError(f"rendering percentile {self.percentile}: expected (0, 100]")
        if not 0.0 < self.gamma <= 1.0:
            raise EngineInputError(f"rendering gamma {self.gamma}: expected in (0, 1]")
        if not 0.0 <= self.max_alpha <= 1.0:
            raise EngineInputError(f"max_alpha must be in [0, 1], got {self.max_alpha}")
        if not 0.0 <= self.floor < 1.0:
            raise EngineInputError(f"rendering floor {self.floor}: expected in [0, 1)")
        if self.colormap not in matplotlib.colormaps:
            raise EngineInputError(f"rendering colormap {self.colormap!r}: unknown")

    def to_dict(self) -> dict:
        """Name and parameters as a JSON-serialisable dict (for manifests)."""
        return asdict(self)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """``values`` (H, W) float64, negatives set to 0, divided by the scale, clipped to
        [0, 1]; an all-zero or all-negative map stays all zero."""
        positive = np.clip(values, 0.0, None)
        above = positive[positive > 0]
        if above.size == 0:
            return positive
        peak = above.max() if self.scale == "max" else np.percentile(above, self.percentile)
        return np.clip(positive / peak, 0.0, 1.0)

    def opacity(self, normalised: np.ndarray) -> np.ndarray:
        """Opacity (H, W) in [0, max_alpha] of normalised values: 0 below the floor and at 0."""
        ramp = self.max_alpha * normalised**self.gamma
        return np.where((normalised >= self.floor) & (normalised > 0), ramp, 0.0)


MAX_LINEAR = Rendering("max-linear", scale="max", percentile=100.0, gamma=1.0, floor=0.0)
"""The rendering before issue 16: divide by the maximum, opacity 0.65 · v."""

PERCENTILE_SQRT = Rendering("percentile-sqrt")
"""Robust maximum (99th percentile of positive values), square-root opacity, floor 0.05."""

RENDERING = PERCENTILE_SQRT
"""The rendering every stimulus and figure uses unless told otherwise."""

RENDERINGS = {r.name: r for r in (PERCENTILE_SQRT, MAX_LINEAR)}
"""Renderings by name."""

PANEL_INCHES = 2.2
"""Side of one image panel in a summary figure."""

CAPTION_INCHES = 0.45
"""Height reserved above each panel for a two-line caption (longer ones shrink the panels)."""

TITLE_INCHES = 0.4
"""Height reserved for a summary figure's title."""

GROUP_GAP = 0.12
"""Width of the gap between groups of panels in a one-stage figure, in panel widths."""

DPI = 100
CAPTION_FONTSIZE = 9
CAPTION_WIDTH = 26
"""Characters per caption line before it wraps."""

ClassNames = Mapping[int, str] | Sequence[str]


def image_to_pil(image: torch.Tensor) -> Image.Image:
    """The RGB image ``image`` (float tensor (3, H, W), values in [0, 1]) as an 8-bit PIL image.

    Values are rounded to the nearest of 256 levels (values outside [0, 1] are clipped). This is
    exactly what :func:`overlay` shows wherever a map is zero.
    """
    return Image.fromarray(_to_uint8(_image_array(image)))


def overlay(
    image: torch.Tensor, heatmap: torch.Tensor, rendering: Rendering = RENDERING
) -> Image.Image:
    """Draw ``heatmap`` over ``image`` with ``rendering``; return the RGB picture, image-sized.

    Args:
        image: float tensor (3, H, W) of RGB values in [0, 1] (any device and float dtype).
        heatmap: finite tensor (H, W). Values <= 0 (including the negative part of a signed
            map) stay transparent.
        rendering: scale, opacity ramp and floor (module docstring); keep one rendering for
            every method of a study so that methods are comparable.

    Returns:
        A ``"RGB"`` PIL image of W × H pixels: ``(1 − a)·image + a·colormap(v)`` per pixel, with
        v the normalised value and a its opacity. Wherever the opacity is 0 (map <= 0, or below
        the floor) its pixels equal :func:`image_to_pil` of the image; an all-zero map gives
        exactly that image.

    Raises:
        EngineInputError: wrong shapes, mismatched sizes or non-finite map values.
    """
    rgb = _image_array(image)
    values = rendering.normalise(_map_array(heatmap, expected_shape=rgb.shape[:2]))
    colours = matplotlib.colormaps[rendering.colormap](values)[..., :3]
    opacity = rendering.opacity(values)[..., np.newaxis]
    blended = (1.0 - opacity) * rgb + opacity * colours
    return Image.fromarray(_to_uint8(blended))


def save_overlay(
    image: torch.Tensor,
    heatmap: torch.Tensor,
    path: str | os.PathLike,
    rendering: Rendering = RENDERING,
) -> Path:
    """Write :func:`overlay` of ``image`` and ``heatmap`` as a PNG at ``path``; return the path.

    The file appears atomically: a reader sees either the old file or the complete new one.
    """
    return save_png(overlay(image, heatmap, rendering), path)


def summary_figure(
    explanation: ImageExplanation, method: str, class_names: ClassNames
) -> Image.Image:
    """One method's explanation of one image laid out like the paper's Fig. 3, as an RGB image.

    CWOX-2s (a method with cluster maps): the top row shows the input image, then one cluster map
    per confusion cluster, captioned with its class names and summed probability
    (``"cello + violin (0.71)"``); below each cluster map, that cluster's class maps are stacked
    in a column, captioned ``"cello 0.52"``.

    One-stage methods (SWOX, CWOX-1sA, CWOX-1sB; no cluster maps): one row with the input image,
    then one class map per top class, grouped by confusion cluster with a gap between groups.

    Args:
        explanation: the explanation; its maps must match the size of ``input_image``.
        method: key into ``explanation.methods``, e.g. ``"cwox-2s"``.
        class_names: class index → display name (a mapping, or a sequence indexed by class).

    Returns:
        A ``"RGB"`` PIL image, about :data:`PANEL_INCHES` × :data:`DPI` pixels per panel.

    Raises:
        EngineInputError: unknown method or a class index without a name.
    """
    wox = _method_explanation(explanation, method)
    if wox.cluster_maps():
        figure = _two_stage_figure(explanation, wox, class_names)
    else:
        figure = _one_stage_figure(explanation, wox, class_names)
    figure.suptitle(f"{wox.method} ({wox.explainer})", fontsize=CAPTION_FONTSIZE + 2)
    return _figure_to_pil(figure)


def save_summary_figure(
    explanation: ImageExplanation,
    method: str,
    class_names: ClassNames,
    path: str | os.PathLike,
) -> Path:
    """Write :func:`summary_figure` as a PNG at ``path`` atomically; return the path."""
    return save_png(summary_figure(explanation, method, class_names), path)


def _image_array(image: torch.Tensor) -> np.ndarray:
    """``image`` (3, H, W) as a float64 numpy array (H, W, 3)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise EngineInputError(f"image must have shape (3, H, W), got {tuple(image.shape)}")
    return image.detach().to("cpu", torch.float64).permute(1, 2, 0).numpy()


def _map_array(heatmap: torch.Tensor, expected_shape: tuple[int, ...]) -> np.ndarray:
    """``heatmap`` as a finite float64 numpy array (H, W) of the image's shape."""
    if tuple(heatmap.shape) != tuple(expected_shape):
        raise EngineInputError(
            f"heatmap must have the image's shape {tuple(expected_shape)}, "
            f"got {tuple(heatmap.shape)}"
        )
    values = heatmap.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(values).all():
        raise EngineInputError("heatmap has NaN or infinite values; expected finite values")
    return values


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB values in [0, 1] rounded to 8-bit levels (clipped)."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def save_png(picture: Image.Image, path: str | os.PathLike) -> Path:
    """Write ``picture`` as PNG atomically (a reader never sees half a file)."""
    return write_atomically(path, lambda stream: picture.save(stream, format="PNG"))


def _method_explanation(explanation: ImageExplanation, method: str) -> WoxExplanation:
    """The explanation of ``method``, or a one-line error naming the methods there are."""
    if method not in explanation.methods:
        available = ", ".join(sorted(explanation.methods)) or "none"
        raise EngineInputError(f"no explanation for method {method!r}; available: {available}")
    return explanation.methods[method]


def _class_name(class_names: ClassNames, index: int) -> str:
    """The display name of class ``index``."""
    try:
        return class_names[index]
    except (KeyError, IndexError):
        raise EngineInputError(f"class_names has no name for class index {index}") from None


def _caption(explanation: ImageExplanation, heatmap: Heatmap, class_names: ClassNames) -> str:
    """``"cello 0.52"`` for a class map, ``"cello + violin (0.71)"`` for a cluster map, wrapped.

    A cluster's probability is the sum of its classes' probabilities, P(C|x) = Σ P(c|x).
    """
    probability = sum(explanation.top_class(index).probability for index in heatmap.target)
    names = " + ".join(_class_name(class_names, index) for index in heatmap.target)
    text = (
        f"{names} ({probability:.2f})"
        if heatmap.kind == "cluster"
        else f"{names} {probability:.2f}"
    )
    return textwrap.fill(text, CAPTION_WIDTH)


def _class_maps_of_cluster(wox: WoxExplanation, cluster: int) -> list[Heatmap]:
    """The class maps of cluster ``cluster``, in the order the method produced them."""
    return [h for h in wox.maps if h.kind == "class" and h.cluster == cluster]


def _new_figure(width_panels: float, rows: int) -> Figure:
    """An empty Agg-backed figure sized for ``rows`` rows of ``width_panels`` panel widths."""
    row_inches = PANEL_INCHES + CAPTION_INCHES
    figure = Figure(
        figsize=(width_panels * PANEL_INCHES, rows * row_inches + TITLE_INCHES),
        dpi=DPI,
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    return figure


def _show(axes: Axes, picture: Image.Image, caption: str) -> None:
    """Draw ``picture`` in ``axes`` without ticks or frame, with ``caption`` above it."""
    axes.imshow(np.asarray(picture))
    axes.set_title(caption, fontsize=CAPTION_FONTSIZE)
    axes.set_axis_off()


def _two_stage_figure(
    explanation: ImageExplanation, wox: WoxExplanation, class_names: ClassNames
) -> Figure:
    """Input and cluster maps in the top row; each cluster's class maps in a column below it."""
    image = explanation.input_image
    columns = [(h, *_class_maps_of_cluster(wox, h.cluster)) for h in wox.cluster_maps()]
    rows = max(len(column) for column in columns)
    figure = _new_figure(1 + len(columns), rows)
    grid = figure.add_gridspec(rows, 1 + len(columns))
    _show(figure.add_subplot(grid[0, 0]), image_to_pil(image), "input")
    for column, heatmaps in enumerate(columns, start=1):
        for row, heatmap in enumerate(heatmaps):
            caption = _caption(explanation, heatmap, class_names)
            _show(figure.add_subplot(grid[row, column]), overlay(image, heatmap.values), caption)
    return figure


def _one_stage_figure(
    explanation: ImageExplanation, wox: WoxExplanation, class_names: ClassNames
) -> Figure:
    """One row: the input image, then the class maps grouped by cluster, groups set apart."""
    image = explanation.input_image
    groups = [_class_maps_of_cluster(wox, c) for c in range(len(wox.clusters))]
    groups = [group for group in groups if group]
    widths = [1.0]
    for group in groups:
        widths += [GROUP_GAP] + [1.0] * len(group)
    figure = _new_figure(sum(widths), 1)
    grid = figure.add_gridspec(1, len(widths), width_ratios=widths)
    _show(figure.add_subplot(grid[0, 0]), image_to_pil(image), "input")
    column = 1
    for group in groups:
        column += 1
        for heatmap in group:
            caption = _caption(explanation, heatmap, class_names)
            _show(figure.add_subplot(grid[0, column]), overlay(image, heatmap.values), caption)
            column += 1
    return figure


def _figure_to_pil(figure: Figure) -> Image.Image:
    """Render ``figure`` with its Agg canvas and return the pixels as an RGB PIL image."""
    canvas = figure.canvas
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
