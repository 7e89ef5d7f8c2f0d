"""Grad-CAM (Selvaraju et al., 2017) for compound targets, batched.

For a target with logit z_C (logsumexp of its classes' logits) and pivot activations
A ∈ R^{K×h×w}: α_k = mean_{u,v} ∂z_C/∂A_k[u,v], map = ReLU(Σ_k α_k A_k), upsampled bilinearly
to the input size. With ``relu=False`` the map stays signed (the reference code's base maps,
:meth:`GradCAM.reference_settings`).

Cost: ONE forward pass of the batch (hooks capture the pivot activations) and ONE batched
backward pass to the pivot activations only — never to the parameters. The backward has one
slot per distinct *class* of an image's targets (at most K), not per compound target: since
∂z_C/∂A = Σ_{c∈C} softmax(z_C)_c ∂z_c/∂A, every compound's channel weights are a convex
combination of its classes' (exact, not an approximation). Slot j of every image is summed
across the batch before differentiating; images are independent in an eval-mode network, so
∂(Σ_b z_{b,j})/∂A_b = ∂z_{b,j}/∂A_b and a batch equals per-image runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import (
    BaseExplainer,
    Plan,
    SaliencyMaps,
    validate_requests,
)
from explain_engine.models import Classifier
from explain_engine.registry import register_explainer


@contextmanager
def capture_activations(model: nn.Module, layers: dict[str, nn.Module]) -> Iterator[dict]:
    """Record the output of each named layer during forward passes; hooks always removed.

    The first captured output that does not already require grad is turned into a leaf that
    does, so the autograd graph starts at the earliest pivot (nothing is recorded before it,
    and parameters are never part of the graph). Yields the name → activation dict.
    """
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            if not output.requires_grad:
                output = output.detach().requires_grad_(True)
            captured[name] = output
            return output

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in layers.items()]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class GradCAMSettings:
    """Grad-CAM settings.

    Attributes:
        relu: apply ReLU to each base map (paper, default); False keeps signed maps (reference).
        stage1_layer / stage2_layer: override the classifier's pivot layers (None: its own).
    """

    relu: bool = True
    stage1_layer: str | None = None
    stage2_layer: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.relu, bool):
            raise EngineInputError(f"Grad-CAM relu {self.relu!r}: expected true or false")
        for name in ("stage1_layer", "stage2_layer"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise EngineInputError(f"Grad-CAM {name} {value!r}: expected a layer name")


@register_explainer("gradcam", order=0)
class GradCAM(BaseExplainer):
    """Grad-CAM at the classifier's stage pivot layers (or the layers of its settings)."""

    settings_type = GradCAMSettings
    needs_gradients = True
    description = "Grad-CAM (fast; a CPU will do)"
    settings: GradCAMSettings

    @classmethod
    def reference_settings(cls) -> GradCAMSettings:
        """The reference code's signed base maps."""
        return GradCAMSettings(relu=False)

    def layers(self, classifier: Classifier) -> dict[int, str]:
        """Stage → pivot layer name."""
        return {
            1: self.settings.stage1_layer or classifier.stage1_layer,
            2: self.settings.stage2_layer or classifier.stage2_layer,
        }

    def parameters(self, classifier: Classifier) -> dict:
        layers = self.layers(classifier)
        return {"stage1_layer": layers[1], "stage2_layer": layers[2], "relu": self.settings.relu}

    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        if torch.is_inference_mode_enabled():  # inference tensors cannot join a graph
            with torch.inference_mode(False):
                return self.run(classifier, inputs.clone(), plan)
        stage_layers = self.layers(classifier)
        modules = {name: classifier.layer(name) for name in set(stage_layers.values())}
        with torch.enable_grad(), capture_activations(classifier.model, modules) as activations:
            logits = classifier.model(inputs)
        requests = plan(logits.detach())
        validate_requests(requests, len(inputs), logits.shape[-1])
        needed = sorted({stage_layers[stage] for image in requests for stage, _ in image})
        if not needed:
            return logits.detach(), [{} for _ in requests]
        classes = [sorted({c for _, compound in image for c in compound}) for image in requests]
        with torch.enable_grad():  # the target scores must join the graph under a no_grad caller
            gradients = class_gradients(logits, classes, [activations[name] for name in needed])
        channel_weights = {
            name: grads.mean(dim=(-2, -1)) for name, grads in zip(needed, gradients, strict=True)
        }
        logits = logits.detach()
        maps: SaliencyMaps = [{} for _ in requests]
        for name in needed:
            keys = [
                (b, request)
                for b, image in enumerate(requests)
                for request in image
                if stage_layers[request[0]] == name
            ]
            weights = torch.stack(
                [
                    compound_weights(logits[b], classes[b], request[1], channel_weights[name][:, b])
                    for b, request in keys
                ]
            )
            images = torch.tensor([b for b, _ in keys], device=inputs.device)
            cams = self._cam(activations[name].detach()[images], weights, inputs.shape[-2:])
            for (b, request), cam in zip(keys, cams, strict=True):
                maps[b][request] = cam
        return logits, maps

    def _cam(
        self, activations: torch.Tensor, weights: torch.Tensor, size: Sequence[int]
    ) -> torch.Tensor:
        """(R,K,h,w) activations and (R,K) channel weights → (R,H,W) maps at input size."""
        cam = torch.einsum("rk,rkhw->rhw", weights, activations)
        if self.settings.relu:
            cam = cam.clamp_min(0)
        return F.interpolate(cam[:, None], size=tuple(size), mode="bilinear", align_corners=False)[
            :, 0
        ]


def class_gradients(
    logits: torch.Tensor, classes: list[list[int]], activations: list[torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """∂z_{b,c}/∂A_b for every image b and each of its classes c, in one batched backward pass.

    Slot j holds class ``classes[b][j]`` of every image b; the slot's score is summed over the
    batch (exact, as images are independent). Returns one tensor per activation, shaped
    (J, B, K, h, w) with J = max classes per image; slots an image does not use are zero.
    """
    num_slots = max(len(image_classes) for image_classes in classes)
    zero = logits.new_zeros(())
    scores = torch.stack(
        [
            sum(
                (logits[b, c[j]] if j < len(c) else zero for b, c in enumerate(classes)),
                zero,
            )
            for j in range(num_slots)
        ]
    )
    identity = torch.eye(num_slots, dtype=scores.dtype, device=scores.device)
    return torch.autograd.grad(
        scores, activations, grad_outputs=identity, is_grads_batched=True, allow_unused=True
    )


def compound_weights(
    logits: torch.Tensor, classes: list[int], target: tuple[int, ...], class_weights: torch.Tensor
) -> torch.Tensor:
    """Grad-CAM channel weights α_C of compound ``target`` from the per-class weights.

    z_C = logsumexp_{c∈C} z_c, so ∂z_C/∂A = Σ_{c∈C} softmax(z_C)_c ∂z_c/∂A, and the same
    convex combination holds for α = spatial mean of the gradient. ``class_weights`` is
    (J, K): α_c for ``classes[j]``; ``logits`` is this image's (num_classes,) vector.
    """
    mixture = torch.softmax(logits[list(target)], dim=0)
    rows = torch.tensor([classes.index(c) for c in target], device=class_weights.device)
    return mixture.to(class_weights.dtype) @ class_weights[rows]
