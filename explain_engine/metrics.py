"""Contrastive faithfulness of heatmaps: CAUC and CDROP (paper Section 5.1, eq. 3–5).

Deletion protocol (both definitions)
------------------------------------
The n = H·W pixel positions are enumerated in descending order of the heatmap H, ties broken by
the flat pixel index (row-major, a stable sort). Deleting a position sets all 3 channels of the
*normalised* input to 0, i.e. to the dataset mean. x_[r,n] is the image after deleting the first
r − 1 positions, and the contrastive score (eq. 3) is

    s(r) = P(c | x_[r,n]) · (1 − P(C′ | x_[r,n])),   P(C′) = Σ_{c′∈C′} P(c′ | ·) (softmax),

with c the target and C′ the (non-empty, disjoint) foil. With a step of k pixels the curve is
sampled at d = 0, k, 2k, … deleted pixels, i.e. at r = d + 1. ``curve[i]`` is s at
``deletions[i]`` deleted pixels. τ = ``tau_fraction``·n (0.05 n in the paper).

``definition="paper"`` (default; eq. 4 and 5 as printed)
--------------------------------------------------------
- n_δ = #{pixels : H ≥ δ·max H} (δ = 0.5).
- CAUC = (1/n) Σ_{r=1}^{n_δ} s(r). With step k the sum is a left Riemann sum over the sampled
  points d = 0, k, … < n_δ, the point at d weighing min(k, n_δ − d) pixels (it stands for
  s(d+1) … s(d+k), the last one cut at n_δ). Exact for k = 1. Lower is better.
- CDROP = (s(1) − s(n_δ+1)) / log2(1 + max(n_δ, τ)/τ). s(n_δ+1) (n_δ pixels deleted) is always
  evaluated exactly, whatever k. Higher is better.
- The curve holds the points the scores use: d = 0, k, … < n_δ^CAUC (below), then d = n_δ.

``definition="reference"`` (the public CWOX reference code's evaluation)
------------------------------------------------------------------------
- n_δ = #{pixels : (H − min H)/(max H − min H) ≥ δ} (δ of the min–max normalised map).
- m = n_δ // k sampled points are used, d = 0, k, …, (m−1)·k: one step short of deleting all
  n_δ pixels (for k = 1 these are s(1) … s(n_δ), the paper's points). m is at least 1.
- CAUC = trapezoid rule over those m points with unit spacing, divided by the length
  N = ⌈n/k⌉ of the full deletion curve (the number of steps that delete every pixel), so that
  the x axis is the fraction of pixels deleted: CAUC = Σ_{i<m−1} (s_i + s_{i+1})/2 / N
  (0 when m = 1).
- CDROP = (s_0 − mean(s_{m−L} … s_{m−1})) / log2(1 + max(n_δ, τ)/τ), L = ``smooth_len`` = 3
  (the mean of the last L used points, fewer when m < L) instead of s(n_δ+1).
- The curve holds the points the scores use: the first m^CAUC (below) and, for CDROP, the
  first and the last L of the heatmap's own m.

Comparing heatmaps, degenerate maps
-----------------------------------
CAUC values over different numbers of pixels are not comparable, so :func:`evaluate_many`
computes every heatmap's CAUC over the minimum n_δ of the (non-degenerate) heatmaps given
(``cauc_pixels``, n_δ^CAUC above); CDROP always uses the heatmap's own n_δ. Only the curve points
these scores use are evaluated: a heatmap whose n_δ is larger than the comparison's minimum
costs the CAUC points up to the minimum plus its CDROP end points, not its whole curve (with
CWOX-2s among the methods, whose contrastive maps are sparse, this is tens of times fewer
deleted images than every map's full curve to its own n_δ).

A heatmap with max H ≤ 0 (for ``"reference"`` also a constant map) has no δ-salient pixels:
n_δ = 0, ``degenerate`` is True and CAUC and CDROP are NaN, never 0 (a 0 CAUC would rank such a
map as the best one). Degenerate maps are left out of the minimum n_δ of a comparison.

Cost: all deletion steps of all heatmaps for one image are built on the device from one
ranking per heatmap (rank < d masks) and classified in batches of ``batch_size`` under
``torch.inference_mode``. Deletion metrics depend strongly on the replacement value (the
"baseline"); 0 in normalised space is the paper's choice, see Quantus' warnings on
perturbation baselines (Hedström et al., 2023).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import torch
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.models import Classifier
from explain_engine.results import Heatmap
from explain_engine.targets import Compound, compound

Definition = Literal["paper", "reference"]
Direction = Literal["lower", "higher"]
DEFINITIONS: Final[tuple[Definition, ...]] = ("paper", "reference")


@dataclass(frozen=True)
class Metric:
    """What a metric measures and which direction is better (declared, Quantus-style).

    Attributes:
        name: short name, as in result fields.
        direction: ``"lower"`` if smaller values are better, ``"higher"`` otherwise.
        category: the property evaluated.
        equation: where the definition comes from.
    """

    name: str
    direction: Direction
    category: str
    equation: str

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b`` (False when either is NaN)."""
        return a < b if self.direction == "lower" else a > b


CAUC: Final = Metric("cauc", "lower", "contrastive faithfulness", "CWOX paper eq. 4")
CDROP: Final = Metric("cdrop", "higher", "contrastive faithfulness", "CWOX paper eq. 5")
METRICS: Final[tuple[Metric, ...]] = (CAUC, CDROP)


@dataclass(frozen=True)
class MetricSettings:
    """Parameters of the deletion evaluation (paper: δ = 0.5, τ = 0.05 n; reference: step 16).

    Attributes:
        definition: ``"paper"`` or ``"reference"`` (see the module docstring).
        delta: δ of the δ-salient pixels, in (0, 1].
        tau_fraction: τ as a fraction of the number of pixels n, in (0, 1].
        step: pixels deleted per curve point (k ≥ 1).
        batch_size: deleted images per forward pass.
        smooth_len: points averaged at the end of the curve by the reference CDROP.
    """

    definition: Definition = "paper"
    delta: float = 0.5
    tau_fraction: float = 0.05
    step: int = 16
    batch_size: int = 64
    smooth_len: int = 3

    def __post_init__(self) -> None:
        if self.definition not in DEFINITIONS:
            raise EngineInputError(
                f"metric definition {self.definition!r}: unknown (expected one of: paper, "
                "reference)"
            )
        if not 0.0 < self.delta <= 1.0:
            raise EngineInputError(f"metric delta={self.delta} (expected in (0, 1])")
        if not 0.0 < self.tau_fraction <= 1.0:
            raise EngineInputError(f"metric tau_fraction={self.tau_fraction} (expected (0, 1])")
        for name in ("step", "batch_size", "smooth_len"):
            if int(getattr(self, name)) < 1:
                raise EngineInputError(f"metric {name}={getattr(self, name)} (expected >= 1)")


@dataclass(frozen=True)
class ContrastiveEvaluation:
    """CAUC and CDROP of one heatmap for one (image, target, foil).

    Attributes:
        definition, step: how the numbers were computed (module docstring).
        target, foil: c (one class, or a compound class) and C′, as sorted tuples.
        deletions: int64 tensor (L,), pixels deleted at each curve point the scores use
            (:func:`curve_deletions`), increasing.
        curve: float tensor (L,), s at those points, in [0, 1] (eq. 3), on the CPU.
        n_pixels: n = H·W.
        n_delta: the heatmap's number of δ-salient pixels (0 if degenerate).
        cauc_pixels: n_δ used for CAUC (the minimum over compared heatmaps, else n_delta).
        tau: τ in pixels.
        cauc: eq. 4 (lower is better, :data:`CAUC`); NaN if degenerate.
        cdrop: eq. 5 (higher is better, :data:`CDROP`); NaN if degenerate.
    """

    definition: Definition
    step: int
    target: Compound
    foil: Compound
    deletions: torch.Tensor
    curve: torch.Tensor
    n_pixels: int
    n_delta: int
    cauc_pixels: int
    tau: float
    cauc: float
    cdrop: float

    @property
    def degenerate(self) -> bool:
        """True when the heatmap has no δ-salient pixels (scores are NaN)."""
        return self.n_delta == 0

    def scores(self) -> dict[Metric, float]:
        """{metric descriptor: value}, to rank heatmaps with :meth:`Metric.better`."""
        return {CAUC: self.cauc, CDROP: self.cdrop}


# -- pure parts: ranking, n_δ, scores from a curve ----------------------------------------------


def deletion_order(heatmap: torch.Tensor) -> torch.Tensor:
    """Flat pixel indices (n,) in descending heatmap order, ties by ascending index."""
    return torch.sort(heatmap.reshape(-1), descending=True, stable=True).indices


def count_salient(heatmap: torch.Tensor, delta: float, definition: Definition = "paper") -> int:
    """n_δ of a (H, W) heatmap (module docstring); 0 when max H ≤ 0 or (reference) H constant."""
    values = heatmap.detach().double().reshape(-1)
    top, bottom = float(values.max()), float(values.min())
    if top <= 0.0:
        return 0
    if definition == "paper":
        return int((values >= delta * top).sum())
    if top == bottom:
        return 0
    return int(((values - bottom) / (top - bottom) >= delta).sum())


def curve_deletions(
    n_delta: int,
    settings: MetricSettings,
    cauc_pixels: int | None = None,
) -> list[int]:
    """Pixels deleted at the curve points the scores of one heatmap use, increasing.

    Args:
        n_delta: the heatmap's n_δ (0: degenerate, only the intact image is scored).
        settings: definition, step k and (reference) ``smooth_len``.
        cauc_pixels: n_δ over which CAUC is computed, 1 ≤ ``cauc_pixels`` ≤ ``n_delta``
            (default ``n_delta``: the heatmap on its own).
    """
    if n_delta == 0:
        return [0]
    cauc_pixels = n_delta if cauc_pixels is None else cauc_pixels
    if not 1 <= cauc_pixels <= n_delta:
        raise ValueError(f"cauc_pixels={cauc_pixels} (expected 1..{n_delta})")
    step = settings.step
    if settings.definition == "paper":
        return list(range(0, cauc_pixels, step)) + [n_delta]
    cauc_points = range(max(cauc_pixels // step, 1))
    used = max(n_delta // step, 1)
    cdrop_points = [0, *range(max(used - settings.smooth_len, 0), used)]
    return sorted({i * step for i in (*cauc_points, *cdrop_points)})


def cauc_from_curve(
    deletions: Sequence[int] | torch.Tensor,
    curve: Sequence[float] | torch.Tensor,
    cauc_pixels: int,
    n_pixels: int,
    step: int,
    definition: Definition,
) -> float:
    """CAUC (eq. 4) over the first ``cauc_pixels`` salient pixels of a sampled curve."""
    if cauc_pixels == 0:
        return math.nan
    points = dict(zip(_ints(deletions), _floats(curve), strict=True))
    if definition == "paper":
        total = sum(points[d] * min(step, cauc_pixels - d) for d in range(0, cauc_pixels, step))
        return total / n_pixels
    used = [points[i * step] for i in range(max(cauc_pixels // step, 1))]
    trapezoid = sum((a + b) / 2.0 for a, b in zip(used[:-1], used[1:], strict=True))
    return trapezoid / math.ceil(n_pixels / step)


def cdrop_from_curve(
    deletions: Sequence[int] | torch.Tensor,
    curve: Sequence[float] | torch.Tensor,
    n_delta: int,
    tau: float,
    step: int,
    definition: Definition,
    smooth_len: int = 3,
) -> float:
    """CDROP (eq. 5) of a sampled curve: drop in s over the salient pixels, log-penalised."""
    if n_delta == 0:
        return math.nan
    points = dict(zip(_ints(deletions), _floats(curve), strict=True))
    if definition == "paper":
        end = points[n_delta]
    else:
        used = max(n_delta // step, 1)
        tail = [points[i * step] for i in range(max(used - smooth_len, 0), used)]
        end = sum(tail) / len(tail)
    return (points[0] - end) / math.log2(1.0 + max(n_delta, tau) / tau)


# -- the batched evaluation ---------------------------------------------------------------------


def evaluate(
    model: Classifier | nn.Module,
    image: torch.Tensor,
    heatmap: torch.Tensor | Heatmap,
    target: int | Iterable[int],
    foil: Iterable[int],
    settings: MetricSettings | None = None,
) -> ContrastiveEvaluation:
    """CAUC and CDROP of one heatmap; see :func:`evaluate_many`."""
    return evaluate_many(model, image, [heatmap], target, foil, settings)[0]


def evaluate_many(
    model: Classifier | nn.Module,
    image: torch.Tensor,
    heatmaps: Sequence[torch.Tensor | Heatmap],
    target: int | Iterable[int],
    foil: Iterable[int],
    settings: MetricSettings | None = None,
) -> tuple[ContrastiveEvaluation, ...]:
    """Evaluate heatmaps compared on the same (image, target, foil), in batched passes.

    Args:
        model: a :class:`Classifier` or a module mapping normalised (B, 3, H, W) to logits.
        image: normalised model input (3, H, W) or (1, 3, H, W); 0 is the dataset mean.
        heatmaps: (H, W) tensors (or :class:`Heatmap`), the image's spatial shape, finite.
        target: class c, or a compound class (P(c) is then the sum over its classes, as for
            CWOX-2s cluster maps). foil: classes C′, non-empty and disjoint from the target.
        settings: definition, δ, τ, step, batch size (paper defaults).

    Returns:
        One :class:`ContrastiveEvaluation` per heatmap, in order; CAUC over the minimum n_δ of
        the non-degenerate heatmaps, CDROP over each heatmap's own n_δ.
    """
    settings = settings or MetricSettings()
    network, device = _network(model)
    image = _check_image(image)
    maps = _check_heatmaps(heatmaps, tuple(image.shape[-2:]))
    num_classes = model.num_classes if isinstance(model, Classifier) else None
    with torch.inference_mode():
        image = image.to(device)
        if num_classes is None:
            num_classes = int(network(image[None]).shape[-1])
        target_set, foil_set = _check_pair(target, foil, num_classes)
        n_pixels = image.shape[-1] * image.shape[-2]
        tau = settings.tau_fraction * n_pixels
        n_deltas = [count_salient(h, settings.delta, settings.definition) for h in maps]
        cauc_pixels = min((n for n in n_deltas if n > 0), default=0)
        plans = [curve_deletions(n, settings, cauc_pixels) for n in n_deltas]
        curves = _deletion_scores(network, image, maps, plans, target_set, foil_set, settings)

    results = []
    for n_delta, deletions, curve in zip(n_deltas, plans, curves, strict=True):
        own_cauc_pixels = cauc_pixels if n_delta > 0 else 0
        results.append(
            ContrastiveEvaluation(
                definition=settings.definition,
                step=settings.step,
                target=target_set,
                foil=foil_set,
                deletions=torch.tensor(deletions, dtype=torch.int64),
                curve=curve,
                n_pixels=n_pixels,
                n_delta=n_delta,
                cauc_pixels=own_cauc_pixels,
                tau=tau,
                cauc=cauc_from_curve(
                    deletions, curve, own_cauc_pixels, n_pixels, settings.step, settings.definition
                ),
                cdrop=cdrop_from_curve(
                    deletions,
                    curve,
                    n_delta,
                    tau,
                    settings.step,
                    settings.definition,
                    settings.smooth_len,
                ),
            )
        )
    return tuple(results)


def contrastive_score(logits: torch.Tensor, target: Compound, foil: Compound) -> torch.Tensor:
    """s = P(c)·(1 − Σ_{c′∈C′} P(c′)) from logits (B, C) → (B,), softmax in float32 (eq. 3).

    A compound target's probability is the sum over its classes.
    """
    probabilities = logits.float().softmax(dim=-1)
    p_target = probabilities[:, list(target)].sum(dim=-1)
    return p_target * (1.0 - probabilities[:, list(foil)].sum(dim=-1))


def _deletion_scores(
    network: nn.Module,
    image: torch.Tensor,
    maps: list[torch.Tensor],
    plans: list[list[int]],
    target: Compound,
    foil: Compound,
    settings: MetricSettings,
) -> list[torch.Tensor]:
    """s at every planned deletion count of every heatmap, all in batches of ``batch_size``."""
    device = image.device
    height, width = image.shape[-2:]
    flat = torch.stack([h.reshape(-1) for h in maps]).to(device)
    order = torch.sort(flat, dim=-1, descending=True, stable=True).indices
    positions = torch.arange(flat.shape[1], device=device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, positions)  # rank[m, p]: p's place in m
    which = torch.tensor([m for m, plan in enumerate(plans) for _ in plan], device=device)
    count = torch.tensor([d for plan in plans for d in plan], device=device)
    scores = []
    for start in range(0, len(count), settings.batch_size):
        part = slice(start, start + settings.batch_size)
        keep = rank[which[part]] >= count[part, None]  # (B, n): not among the first d pixels
        batch = image[None] * keep.view(-1, 1, height, width).to(image.dtype)
        scores.append(contrastive_score(network(batch), target, foil))
    flat_scores = torch.cat(scores).cpu()
    return list(flat_scores.split([len(plan) for plan in plans]))


# -- validation ---------------------------------------------------------------------------------


def _network(model: Classifier | nn.Module) -> tuple[nn.Module, torch.device]:
    if isinstance(model, Classifier):
        return model.model, model.device
    parameter = next(model.parameters(), None)
    return model, parameter.device if parameter is not None else torch.device("cpu")


def _check_image(image: torch.Tensor) -> torch.Tensor:
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise EngineInputError(
            f"metric image: shape {tuple(image.shape)} (expected a normalised (3, H, W) tensor)"
        )
    return image.detach().float()


def _check_heatmaps(
    heatmaps: Sequence[torch.Tensor | Heatmap], size: tuple[int, int]
) -> list[torch.Tensor]:
    if len(heatmaps) == 0:
        raise EngineInputError("metric heatmaps: none given (expected at least one)")
    maps = []
    for i, heatmap in enumerate(heatmaps):
        values = heatmap.values if isinstance(heatmap, Heatmap) else heatmap
        values = torch.as_tensor(values).detach()
        if tuple(values.shape) != size:
            raise EngineInputError(
                f"metric heatmap {i}: shape {tuple(values.shape)} (expected the image's "
                f"spatial shape {size})"
            )
        if not bool(torch.isfinite(values).all()):
            raise EngineInputError(f"metric heatmap {i}: NaN or infinite values (expected finite)")
        maps.append(values.float())
    return maps


def _check_pair(
    target: int | Iterable[int], foil: Iterable[int], num_classes: int
) -> tuple[Compound, Compound]:
    target_set = compound([target] if isinstance(target, int) else target)
    foil_set = compound(foil)
    for what, classes in (("target", target_set), ("foil", foil_set)):
        if not classes:
            raise EngineInputError(f"metric {what}: empty set of classes (expected at least one)")
        for index in classes:
            if not 0 <= index < num_classes:
                raise EngineInputError(
                    f"metric {what} class {index}: out of range (expected 0..{num_classes - 1})"
                )
    shared = sorted(set(target_set) & set(foil_set))
    if shared:
        raise EngineInputError(
            f"metric foil {list(foil_set)}: shares {shared} with the target {list(target_set)} "
            "(expected disjoint)"
        )
    return target_set, foil_set


def _ints(values: Sequence[int] | torch.Tensor) -> list[int]:
    return [int(v) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]


def _floats(values: Sequence[float] | torch.Tensor) -> list[float]:
    return [float(v) for v in (values.tolist() if isinstance(values, torch.Tensor) else values)]
