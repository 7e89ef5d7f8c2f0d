"""Grad-CAM (Selvaraju et al., 2017) for compound targets, batched.

For a target with logit z_C (logsumexp of its classes' logits) and pivot activations
A ∈ R^{K×h×w}: α_k = mean_{u,v} ∂z_C/∂A_k[u,v], map = ReLU(Σ_k α_k A_k), upsampled bilinearly
to the input size. With ``relu=False`` the map stays signed (the reference code's base maps).

Cost: ONE forward pass of the batch (hooks capture the pivot activations) and ONE batched
backward pass to the pivot activations only — never to the parameters. Target slot j of every
image is summed across the batch before differentiating; because images are independent in an
eval-mode network, ∂(Σ_b z_{b,j})/∂A_b = ∂z_{b,j}/∂A_b, so the batch equals per-image runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explain_engine.explainers.base import (
    BaseExplainer,
    Plan,
    Request,
    SaliencyMaps,
    validate_requests,
)
from explain_engine.models import Classifier
from explain_engine.targets import compound_logits


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
class GradCAM(BaseExplainer):
    """Grad-CAM at the classifier's stage pivot layers (or the layers given here).

    Attributes:
        relu: apply ReLU to each base map (paper, default); False keeps signed maps (reference).
        stage1_layer / stage2_layer: override the classifier's pivot layers.
    """

    relu: bool = True
    stage1_layer: str | None = None
    stage2_layer: str | None = None
    name: str = "gradcam"

    def layers(self, classifier: Classifier) -> dict[int, str]:
        """Stage → pivot layer name."""
        return {
            1: self.stage1_layer or classifier.stage1_layer,
            2: self.stage2_layer or classifier.stage2_layer,
        }

    def parameters(self, classifier: Classifier) -> dict:
        layers = self.layers(classifier)
        return {"stage1_layer": layers[1], "stage2_layer": layers[2], "relu": self.relu}

    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        stage_layers = self.layers(classifier)
        modules = {name: classifier.layer(name) for name in set(stage_layers.values())}
        with torch.enable_grad(), capture_activations(classifier.model, modules) as activations:
            logits = classifier.model(inputs)
        requests = plan(logits.detach())
        validate_requests(requests, len(inputs), logits.shape[-1])
        needed = sorted({stage_layers[stage] for image in requests for stage, _ in image})
        if not needed:
            return logits.detach(), [{} for _ in requests]
        slots = [sorted({classes for _, classes in image}) for image in requests]
        gradients = _batched_gradients(logits, slots, [activations[name] for name in needed])
        cams = {
            name: self._cam(activations[name].detach(), grads, inputs.shape[-2:])
            for name, grads in zip(needed, gradients, strict=True)
        }
        maps: SaliencyMaps = []
        for b, image_requests in enumerate(requests):
            slot_of = {classes: j for j, classes in enumerate(slots[b])}
            maps.append(
                {
                    (stage, classes): cams[stage_layers[stage]][slot_of[classes], b]
                    for stage, classes in image_requests
                }
            )
        return logits.detach(), maps

    def _cam(
        self, activation: torch.Tensor, gradient: torch.Tensor, size: Sequence[int]
    ) -> torch.Tensor:
        """(B,K,h,w) activations, (T,B,K,h,w) gradients → (T,B,H,W) maps at input size."""
        weights = gradient.mean(dim=(-2, -1))
        cam = torch.einsum("tbk,bkhw->tbhw", weights, activation)
        if self.relu:
            cam = cam.clamp_min(0)
        slots, batch = cam.shape[:2]
        upsampled = F.interpolate(
            cam.reshape(slots * batch, 1, *cam.shape[-2:]),
            size=tuple(size),
            mode="bilinear",
            align_corners=False,
        )
        return upsampled.reshape(slots, batch, *size)


def _batched_gradients(
    logits: torch.Tensor,
    slots: list[list[tuple[int, ...]]],
    activations: list[torch.Tensor],
) -> tuple[torch.Tensor, ...]:
    """∂z_{b,j}/∂A_b for every image b and target slot j, in one batched backward pass.

    Returns one tensor per activation, shaped (T, B, K, h, w) with T = max slots per image;
    slots an image does not use are zero.
    """
    num_slots = max(len(image_slots) for image_slots in slots)
    zero = logits.new_zeros(())
    rows = [
        torch.stack(
            [
                compound_logits(logits[b], image_slots[j]) if j < len(image_slots) else zero
                for b, image_slots in enumerate(slots)
            ]
        ).sum()
        for j in range(num_slots)
    ]
    scores = torch.stack(rows)
    identity = torch.eye(num_slots, dtype=scores.dtype, device=scores.device)
    return torch.autograd.grad(
        scores, activations, grad_outputs=identity, is_grads_batched=True, allow_unused=True
    )


def request_key(stage: int, classes: tuple[int, ...]) -> Request:
    """Convenience constructor for a Grad-CAM request (stage, sorted classes)."""
    return stage, tuple(sorted(classes))
