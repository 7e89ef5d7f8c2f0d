"""What every base explainer does: (model, images, compound targets) → one saliency map each.

A base explainer (Grad-CAM, RISE, ...) knows nothing about WOX methods. It is given a batch of
normalised images and a *plan*: a function from the batch's logits to the saliency requests of
each image. Taking a plan rather than a fixed list lets Grad-CAM read the top classes off the
very forward pass it differentiates (one forward pass per batch in total).

A request is ``(stage, classes)``: ``stage`` 1 (coarse; clusters and one-stage methods) or 2
(fine; CWOX-2s class maps) selects the explainer's settings for that stage (Grad-CAM pivot
layer, RISE mask settings); ``classes`` is a compound class (sorted tuple of indices).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch

from explain_engine.errors import EngineInputError
from explain_engine.models import Classifier
from explain_engine.targets import Compound

Request = tuple[int, Compound]
#: logits (B, num_classes) → one sequence of requests per image.
Plan = Callable[[torch.Tensor], Sequence[Sequence[Request]]]
#: one dict per image: request → saliency map (H, W) on the classifier's device.
SaliencyMaps = list[dict[Request, torch.Tensor]]

STAGES = (1, 2)


class BaseExplainer(ABC):
    """Turns (classifier, normalised images, compound targets) into saliency maps."""

    #: short name used in results and file names.
    name: str

    @abstractmethod
    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        """Classify ``inputs`` (B, 3, H, W), ask ``plan`` what to explain, explain it.

        Returns the logits (B, num_classes), detached, and per image a map (H, W) for each of
        its requests. Images are independent: a batch gives the same maps as each image alone.
        """

    @abstractmethod
    def parameters(self, classifier: Classifier) -> dict:
        """JSON-serialisable settings, for results and manifests."""

    def saliency(
        self, classifier: Classifier, inputs: torch.Tensor, requests: Sequence[Sequence[Request]]
    ) -> SaliencyMaps:
        """Maps for requests known in advance (one sequence per image in ``inputs``)."""
        if len(requests) != len(inputs):
            raise ValueError(f"{len(requests)} request lists for a batch of {len(inputs)} images")
        return self.run(classifier, inputs, lambda _logits: requests)[1]


def validate_requests(
    requests: Sequence[Sequence[Request]], batch_size: int, num_classes: int
) -> None:
    """Check a plan's output: one list per image, known stages, class indices in range."""
    if len(requests) != batch_size:
        raise ValueError(f"plan gave {len(requests)} request lists for {batch_size} images")
    for image_requests in requests:
        for stage, classes in image_requests:
            if stage not in STAGES:
                raise EngineInputError(f"stage {stage}: unknown (expected one of {STAGES})")
            if not classes or min(classes) < 0 or max(classes) >= num_classes:
                raise EngineInputError(
                    f"target {list(classes)}: class indices must be in 0..{num_classes - 1}"
                )
