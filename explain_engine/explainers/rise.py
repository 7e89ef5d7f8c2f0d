"""RISE (Petsiuk et al., 2018) for compound targets, one masked pass for every target.

N random masks: an s×s grid of cells kept with probability p, upsampled bilinearly to
((s+1)·⌈H/s⌉)² and cropped at a random shift. A masked image is ``inputs · mask``: in the
normalised space, a removed pixel takes the value 0, the dataset mean. With P ∈ R^{N×C} the
probabilities of the masked images, the map of class c is Σ_i P[i,c]·M_i / (N·p); the map of a
compound class C is the same with P(C) = Σ_{c∈C} P[i,c], i.e. the sum of its classes' maps.

Offset (:data:`OFFSETS`). The raw map (``"raw"``, the paper's) estimates E[P(c) | pixel kept],
which is about P(c) everywhere plus the pixel's effect: a map-wide offset that is larger for the
more probable class and empties the ReLU contrasts of CWOX. ``"centred"`` subtracts the mean
score over the masks, (1/N) Σ_i P[i,c] ≈ E[P(c)]: the map is then E[P(c) | pixel kept] − E[P(c)],
positive where keeping the pixel raises the score and negative where it lowers it. Centring is
linear, so a compound class's centred map is still the sum of its classes' centred maps.
(The reference code's min–max normalisation is a WOX option, ``WoxOptions.normalize_base_maps``.)

Masks are generated on the model's device in seeded blocks of :data:`MASK_BLOCK` and fed to
the model in chunks of ``chunk_size`` masked images, so memory is bounded by one chunk, and
the same seed gives the same masks for every image and every chunk size (on one device type:
CPU and CUDA generators draw different streams).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import torch
import torch.nn.functional as F

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import BaseExplainer, Plan, SaliencyMaps, validate_requests
from explain_engine.models import Classifier
from explain_engine.registry import register_explainer
from explain_engine.wox import WoxOptions


@dataclass(frozen=True)
class RiseSettings:
    """Mask settings: N masks, s×s grid, keep probability p, seed."""

    num_masks: int = 5000
    grid: int = 15
    keep_probability: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        counts = (self.num_masks, self.grid, self.seed)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
            raise EngineInputError(
                f"RISE: num_masks={self.num_masks!r}, grid={self.grid!r}, seed={self.seed!r} "
                "(expected integers)"
            )
        if self.num_masks < 1 or self.grid < 1:
            raise EngineInputError(
                f"RISE: num_masks={self.num_masks}, grid={self.grid} (expected positive integers)"
            )
        if not 0.0 < self.keep_probability <= 1.0:
            raise EngineInputError(
                f"RISE: keep_probability={self.keep_probability} (expected in (0, 1])"
            )


#: The reference code's settings: coarse masks for clusters, finer masks for classes.
REFERENCE_STAGE1 = RiseSettings(num_masks=5000, grid=15, keep_probability=0.3)
REFERENCE_STAGE2 = RiseSettings(num_masks=3000, grid=10, keep_probability=0.14)


Offset = Literal["raw", "centred"]
#: The RISE map offsets (module docstring).
OFFSETS: Final[tuple[Offset, ...]] = ("raw", "centred")

#: Masks drawn from one seed; chunks are cut from consecutive blocks.
MASK_BLOCK = 16
#: Masked images per forward pass when ``chunk_size`` is not given: small batches are faster
#: on a CPU (less allocator traffic), large ones keep a GPU busy.
DEFAULT_CHUNK = {"cpu": 16, "cuda": 256}


def generate_masks(
    settings: RiseSettings, size: tuple[int, int], device: torch.device, chunk_size: int
) -> Iterator[torch.Tensor]:
    """Yield the N masks in chunks of shape (n ≤ chunk_size, H, W), values in [0, 1].

    The concatenated masks do not depend on ``chunk_size``.
    """
    pending: list[torch.Tensor] = []
    buffered = 0
    for block in _mask_blocks(settings, size, device):
        pending.append(block)
        buffered += len(block)
        while buffered >= chunk_size:
            joined = torch.cat(pending)
            yield joined[:chunk_size]
            pending, buffered = [joined[chunk_size:]], buffered - chunk_size
    if buffered:
        yield torch.cat(pending)


def _mask_blocks(
    settings: RiseSettings, size: tuple[int, int], device: torch.device
) -> Iterator[torch.Tensor]:
    """Blocks of MASK_BLOCK masks, block k drawn from seed (settings.seed, k)."""
    height, width = size
    cell_h, cell_w = math.ceil(height / settings.grid), math.ceil(width / settings.grid)
    up_h, up_w = (settings.grid + 1) * cell_h, (settings.grid + 1) * cell_w
    generator = torch.Generator(device=device)
    for index, start in enumerate(range(0, settings.num_masks, MASK_BLOCK)):
        n = min(MASK_BLOCK, settings.num_masks - start)
        generator.manual_seed(settings.seed * 1_000_003 + index)
        cells = torch.rand(n, 1, settings.grid, settings.grid, device=device, generator=generator)
        grid = (cells < settings.keep_probability).float()
        upsampled = F.interpolate(grid, size=(up_h, up_w), mode="bilinear", align_corners=False)
        shift_y = torch.randint(0, cell_h, (n,), device=device, generator=generator)
        shift_x = torch.randint(0, cell_w, (n,), device=device, generator=generator)
        rows = shift_y[:, None] + torch.arange(height, device=device)
        cols = shift_x[:, None] + torch.arange(width, device=device)
        batch = torch.arange(n, device=device)[:, None, None]
        yield upsampled[:, 0][batch, rows[:, :, None], cols[:, None, :]]


@dataclass(frozen=True)
class RiseStages:
    """RISE's settings: one mask setting per stage (stage 1: cluster maps and one-stage
    methods; stage 2: CWOX-2s class maps) and the offset of the maps.

    Attributes:
        stage1 / stage2: defaults are the reference code's (5000, 15, 0.3) and (3000, 10, 0.14).
        offset: ``"centred"`` (default: minus the mean score over the masks) or ``"raw"`` (the
            paper's E[P | pixel kept]); see the module docstring. Centred is the default because
            raw maps leave most CWOX-2s maps blank (``docs/stimulus-quality.md``).
    """

    stage1: RiseSettings = field(default=REFERENCE_STAGE1)
    stage2: RiseSettings = field(default=REFERENCE_STAGE2)
    offset: Offset = "centred"

    def __post_init__(self) -> None:
        for name in ("stage1", "stage2"):
            if not isinstance(getattr(self, name), RiseSettings):
                raise EngineInputError(f"RISE {name}: expected mask settings")
        if self.offset not in OFFSETS:
            raise EngineInputError(
                f"RISE: offset {self.offset!r} (expected one of {', '.join(OFFSETS)})"
            )


@register_explainer("rise", order=30)
class RISE(BaseExplainer):
    """RISE with one mask setting per stage; stages with equal settings share one pass.

    ``chunk_size``: masked images per forward pass (bounds memory); None picks
    :data:`DEFAULT_CHUNK` for the model's device type. It does not change the maps.
    """

    settings_type = RiseStages
    needs_gradients = False
    description = "RISE (as in the paper's study; needs GPU workers)"
    #: The reference code min-max normalises RISE maps and keeps the 70th percentile.
    reference_wox_options = WoxOptions(
        contrast="pairwise",
        support="percentile",
        support_percentile=70.0,
        normalize_base_maps=True,
    )
    settings: RiseStages

    @classmethod
    def reference_settings(cls) -> RiseStages:
        """The reference code's masks and raw maps (which it min-max normalises)."""
        return RiseStages(offset="raw")

    def stage_settings(self, stage: int) -> RiseSettings:
        """The mask settings of ``stage`` (1 or 2)."""
        return self.settings.stage1 if stage == 1 else self.settings.stage2

    @torch.inference_mode()
    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        logits = classifier.model(inputs)
        requests = plan(logits)
        validate_requests(requests, len(inputs), logits.shape[-1])
        maps: SaliencyMaps = [{} for _ in requests]
        for settings in {self.stage_settings(stage) for image in requests for stage, _ in image}:
            stages = {stage for stage in (1, 2) if self.stage_settings(stage) == settings}
            classes = [
                sorted({c for stage, compound in image if stage in stages for c in compound})
                for image in requests
            ]
            class_maps = self.class_maps(classifier, inputs, classes, settings)
            for b, image_requests in enumerate(requests):
                column = {c: j for j, c in enumerate(classes[b])}
                for stage, compound in image_requests:
                    if stage in stages:
                        rows = [column[c] for c in compound]
                        maps[b][(stage, compound)] = class_maps[b][rows].sum(dim=0)
        return logits, maps

    def class_maps(
        self,
        classifier: Classifier,
        inputs: torch.Tensor,
        classes: list[list[int]],
        settings: RiseSettings,
    ) -> list[torch.Tensor]:
        """Per image b, the RISE maps (len(classes[b]), H, W) of its listed classes."""
        height, width = inputs.shape[-2:]
        sums = [inputs.new_zeros(len(image_classes), height * width) for image_classes in classes]
        scores = [inputs.new_zeros(len(image_classes), 1) for image_classes in classes]
        chunk_size = self.chunk_size or DEFAULT_CHUNK.get(inputs.device.type, 64)
        for masks in generate_masks(settings, (height, width), inputs.device, chunk_size):
            flat_masks = masks.reshape(len(masks), -1)
            for b, image_classes in enumerate(classes):
                if not image_classes:
                    continue
                masked = inputs[b : b + 1] * masks[:, None]
                probabilities = classifier.model(masked).softmax(dim=-1)[:, image_classes]
                sums[b] += probabilities.T @ flat_masks
                scores[b] += probabilities.sum(dim=0)[:, None]
        scale = settings.num_masks * settings.keep_probability
        maps = [s / scale for s in sums]
        if self.settings.offset == "centred":
            maps = [m - total / settings.num_masks for m, total in zip(maps, scores, strict=True)]
        return [m.reshape(-1, height, width) for m in maps]
