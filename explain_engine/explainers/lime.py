"""LIME (Ribeiro et al., 2016) for compound targets: one set of perturbations per image.

The image is cut into F superpixels (scikit-image quickshift). N binary vectors z ∈ {0,1}^F
switch superpixels on or off (each on with probability 1/2; the first vector keeps all on); a
perturbed image keeps the pixels of the superpixels that are on and replaces the others by a
baseline. A weighted ridge regression of the classifier's probability on z,

    β = argmin_β Σ_i π_i (y_i − b − z_iᵀβ)² + α‖β‖²,   π_i = exp(−d_i² / (2σ²)),

with d_i the cosine distance between z_i and the all-ones vector (σ the kernel width),
gives one weight per superpixel; the map paints each superpixel's weight on its pixels.

What the public reference code does (vaynexie/CWOX, ``CWOX/lime_cwox.py`` for clusters and
``CWOX/base_explainer/attribution/lime.py`` for classes, both adapted from the ``lime``
package), and what is kept here:

- quickshift(kernel_size=4, max_dist=10, ratio=1) on the 224×224 RGB picture; N = 2000
  samples in its README example (3000 by default in its classes); kernel width 0.25 with
  the kernel sqrt(exp(−d²/σ²)) (the same as above); feature selection "auto" with 100,000
  features, which keeps every superpixel, then ``Ridge(alpha=1)`` with an intercept and the
  kernel weights as sample weights.
- Compound target C: the regression target is the mean of the classes' probabilities (the
  docstring says P(C) = Σ P(c)); here y = P(C) = Σ_{c∈C} P(c). Ridge is linear in y, so the
  two differ by the factor 1/|C| only, which the reference's max-normalisation removes.
- The map keeps positive weights only (``positive_only``) and is divided by its maximum; the
  division is left to the WOX options (min-max of base maps), as for RISE.

Differences: superpixels that are off take the dataset mean (0 in normalised space, as RISE
and the deletion metrics do) unless ``hide="black"`` (the reference's ``hide_color=0``:
black pixels); the reference seeds nothing, here the segmentation and the samples are
seeded; the reference's in-place averaging overwrites the first class's probability column
of a compound (a bug that changes later targets) and drops samples with probability 0 — not
reproduced. Its cluster and class explainers each draw their own samples; here one set of
samples per image serves every target of both stages, and every target's regression shares
one factorisation (one solve with a column per class; a compound's weights are the sum of its
classes' weights, exactly).

Cost per image: one segmentation, N forward passes in chunks of ``chunk_size`` (under
``torch.inference_mode``), one F×F solve. Samples depend only on the seed and F, so a batch
gives the same maps as each image alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from skimage.segmentation import quickshift

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import BaseExplainer, Plan, SaliencyMaps, validate_requests
from explain_engine.models import Classifier
from explain_engine.registry import register_explainer
from explain_engine.wox import WoxOptions

#: Perturbed images per forward pass when ``chunk_size`` is not given (as for RISE).
DEFAULT_CHUNK = {"cpu": 16, "cuda": 256}
HIDE_CHOICES = ("mean", "black")


@dataclass(frozen=True)
class LimeSettings:
    """Superpixels, samples, kernel and surrogate; the same for both stages.

    Attributes:
        num_samples: N perturbed images per image (the first one unperturbed).
        kernel_size / max_dist / ratio: quickshift's parameters (larger kernel, larger
            superpixels).
        kernel_width: σ of the exponential kernel on the cosine distance.
        ridge_alpha: α of the ridge penalty (0 gives weighted least squares).
        hide: what replaces a superpixel that is off: ``"mean"`` (dataset mean) or
            ``"black"`` (the reference).
        positive_only: paint only positive superpixel weights (reference); False keeps signs.
        seed: seeds the segmentation's tie-breaking noise and the samples.
    """

    num_samples: int = 2000
    kernel_size: float = 4.0
    max_dist: float = 10.0
    ratio: float = 1.0
    kernel_width: float = 0.25
    ridge_alpha: float = 1.0
    hide: str = "mean"
    positive_only: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.num_samples >= 2, "num_samples", self.num_samples, "an integer >= 2")
        for name in ("kernel_size", "max_dist", "kernel_width"):
            value = getattr(self, name)
            _check(value > 0 and math.isfinite(value), name, value, "a positive number")
        _check(0 <= self.ratio <= 1, "ratio", self.ratio, "a number in [0, 1]")
        _check(self.ridge_alpha >= 0, "ridge_alpha", self.ridge_alpha, "a number >= 0")
        _check(self.hide in HIDE_CHOICES, "hide", self.hide, f"one of {HIDE_CHOICES}")


def _check(condition: bool, name: str, value: object, expected: str) -> None:
    if not condition:
        raise EngineInputError(f"LIME: {name}={value!r} (expected {expected})")


@register_explainer("lime", order=30)
class LIME(BaseExplainer):
    """LIME with quickshift superpixels and a weighted ridge surrogate, all targets at once.

    ``chunk_size`` (keyword): perturbed images per forward pass (memory); None picks
    :data:`DEFAULT_CHUNK`. It does not change the maps.
    """

    settings_type = LimeSettings
    needs_gradients = False
    description = "LIME: superpixels and a weighted linear surrogate"
    #: How the reference combines LIME maps: stage-2 support at the 85th percentile of the
    #: cluster map (README example, ``delta=85``), each base map divided by its maximum.
    reference_wox_options = WoxOptions(
        contrast="pairwise",
        support="percentile",
        support_percentile=85.0,
        normalize_base_maps=True,
    )
    settings: LimeSettings

    @classmethod
    def reference_settings(cls) -> LimeSettings:
        """The reference's README example: 2000 samples, quickshift(4, 10, 1), black hiding."""
        return LimeSettings(hide="black")

    @torch.inference_mode()
    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        logits = classifier.model(inputs)
        requests = plan(logits)
        validate_requests(requests, len(inputs), logits.shape[-1])
        maps: SaliencyMaps = [{} for _ in requests]
        baseline = self._baseline(classifier, inputs)
        for b, image_requests in enumerate(requests):
            if not image_requests:
                continue
            classes = sorted({c for _, compound in image_requests for c in compound})
            picture = _unit_image(classifier, inputs[b])
            segments = superpixels(picture, self.settings).to(inputs.device)
            weights = self.superpixel_weights(classifier, inputs[b], baseline, segments, classes)
            column = {c: j for j, c in enumerate(classes)}
            for stage, compound in image_requests:
                compound_weights = weights[:, [column[c] for c in compound]].sum(dim=1)
                heatmap = compound_weights[segments].to(inputs.dtype)
                maps[b][(stage, compound)] = (
                    heatmap.clamp_min(0) if self.settings.positive_only else heatmap
                )
        return logits, maps

    def superpixel_weights(
        self,
        classifier: Classifier,
        image: torch.Tensor,
        baseline: torch.Tensor,
        segments: torch.Tensor,
        classes: list[int],
    ) -> torch.Tensor:
        """Ridge weights (F, len(classes)) of each class's probability on the F superpixels.

        ``image`` (3, H, W) normalised, ``baseline`` (3, 1, 1) the value of hidden pixels,
        ``segments`` (H, W) superpixel labels 0..F−1 on the image's device.
        """
        samples = draw_samples(self.settings, int(segments.max()) + 1)
        probabilities = []
        chunk_size = self.chunk_size or DEFAULT_CHUNK.get(image.device.type, 64)
        for chunk in samples.split(chunk_size):
            keep = chunk.to(image.device)[:, segments]  # (n, H, W): pixels kept
            perturbed = torch.where(keep[:, None], image, baseline)
            output = classifier.model(perturbed).float().softmax(dim=-1)
            probabilities.append(output[:, classes].double().cpu())
        return weighted_ridge(
            samples.double(),
            torch.cat(probabilities),
            kernel_weights(samples, self.settings.kernel_width),
            self.settings.ridge_alpha,
        ).to(image.device)

    def _baseline(self, classifier: Classifier, inputs: torch.Tensor) -> torch.Tensor:
        """(3, 1, 1) normalised value of a hidden pixel: 0 (the mean) or black's value."""
        zero = inputs.new_zeros(3, 1, 1)
        return zero if self.settings.hide == "mean" else classifier.preprocessing.normalize(zero)


def _unit_image(classifier: Classifier, image: torch.Tensor) -> np.ndarray:
    """A normalised (3, H, W) image as the (H, W, 3) float64 picture in [0, 1] it came from."""
    preprocessing = classifier.preprocessing
    mean = torch.tensor(preprocessing.mean, dtype=image.dtype, device=image.device)[:, None, None]
    std = torch.tensor(preprocessing.std, dtype=image.dtype, device=image.device)[:, None, None]
    unit = (image * std + mean).clamp(0, 1)
    return unit.permute(1, 2, 0).double().cpu().numpy()


def superpixels(picture: np.ndarray, settings: LimeSettings) -> torch.Tensor:
    """Quickshift labels of an (H, W, 3) picture in [0, 1], renumbered 0..F−1: (H, W) long."""
    labels = quickshift(
        picture,
        ratio=settings.ratio,
        kernel_size=settings.kernel_size,
        max_dist=settings.max_dist,
        rng=settings.seed,
    )
    _, contiguous = np.unique(labels, return_inverse=True)
    return torch.from_numpy(contiguous.reshape(labels.shape).astype(np.int64))


def draw_samples(settings: LimeSettings, num_features: int) -> torch.Tensor:
    """(N, F) bool: which superpixels each perturbed image keeps; row 0 keeps all.

    Drawn on the CPU from ``settings.seed``: the same for every image with F superpixels.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    samples = torch.rand(settings.num_samples, num_features, generator=generator) < 0.5
    samples[0] = True
    return samples


def kernel_weights(samples: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """π_i = exp(−d_i²/(2σ²)), d_i = cosine distance of z_i to all-ones (1 for z_i = 0)."""
    kept = samples.double().sum(dim=1)
    distance = 1.0 - torch.sqrt(kept / samples.shape[1])
    return torch.exp(-(distance**2) / (2 * kernel_width**2))


def weighted_ridge(
    features: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Coefficients (F, T) of the weighted ridge regression with an unpenalised intercept.

    ``features`` (N, F), ``targets`` (N, T), ``weights`` (N,): minimises
    Σ_i w_i ‖y_i − b − x_iᵀβ‖² + α‖β‖² (scikit-learn's ``Ridge`` with sample weights), by
    centring on the weighted means and solving (X_cᵀ W X_c + αI) β = X_cᵀ W Y_c.
    """
    total = weights.sum()
    centred_x = features - (weights @ features) / total
    centred_y = targets - (weights @ targets) / total
    weighted_x = centred_x * weights[:, None]
    gram = weighted_x.T @ centred_x + alpha * torch.eye(features.shape[1], dtype=features.dtype)
    return torch.linalg.lstsq(gram, weighted_x.T @ centred_y).solution
