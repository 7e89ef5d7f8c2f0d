"""What every base explainer does: (model, images, compound targets) → one saliency map each.

The contract (what :mod:`explain_engine.registry` registers). A base explainer is ONE module of
:mod:`explain_engine.explainers` holding a :class:`BaseExplainer` subclass decorated with
``@register_explainer("name")``; nothing else names it. The class declares, as class
attributes:

- ``settings_type``: a frozen dataclass of typed fields, every one with a default, checked in
  ``__post_init__`` (raising :class:`~explain_engine.errors.EngineInputError` naming the
  field), that survives ``settings_type(**dataclasses.asdict(settings))`` (nested dataclasses
  are rebuilt by :func:`explain_engine.settings.from_json`);
- ``needs_gradients``: whether it differentiates the model (Grad-CAM) or only runs it (RISE);
- ``description``: one line for command-line help and the admin's choices;
- ``reference_wox_options``: the :class:`~explain_engine.wox.WoxOptions` with which the public
  reference code combines this explainer's maps (used by ``--reference-options``);

and the classmethod :meth:`BaseExplainer.reference_settings` (the reference code's settings).
It is built as ``Cls(settings)``, or ``Cls()`` for the default settings; ``chunk_size``
(images per model call, a runtime knob that never changes a map) is an optional keyword.
It implements :meth:`BaseExplainer.run`, and may extend :meth:`BaseExplainer.parameters`.

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
from dataclasses import asdict, is_dataclass
from typing import Any, ClassVar

import torch

from explain_engine.errors import EngineInputError
from explain_engine.models import Classifier
from explain_engine.targets import Request
from explain_engine.wox import WoxOptions

#: logits (B, num_classes) → one sequence of requests per image.
Plan = Callable[[torch.Tensor], Sequence[Sequence[Request]]]
#: one dict per image: request → saliency map (H, W) on the classifier's device.
SaliencyMaps = list[dict[Request, torch.Tensor]]

STAGES = (1, 2)


class BaseExplainer(ABC):
    """Turns (classifier, normalised images, compound targets) into saliency maps.

    See the module docstring for what a subclass declares. ``settings`` holds an instance of
    ``settings_type``; ``name`` (results, file names) is set by ``@register_explainer``.
    """

    name: ClassVar[str]
    settings_type: ClassVar[type]
    needs_gradients: ClassVar[bool]
    description: ClassVar[str]
    #: The reference code's contrast (pairwise sum) and stage-2 support (50th percentile of
    #: the cluster map), which it uses for Grad-CAM; an explainer whose reference differs
    #: (RISE: 70th percentile, min-max normalised maps) overrides it.
    reference_wox_options: ClassVar[WoxOptions] = WoxOptions(
        contrast="pairwise", support="percentile", support_percentile=50.0
    )

    def __init__(self, settings: Any = None, *, chunk_size: int | None = None) -> None:
        settings = self.settings_type() if settings is None else settings
        if not isinstance(settings, self.settings_type):
            raise TypeError(
                f"{type(self).__name__} takes {self.settings_type.__name__}, "
                f"not {type(settings).__name__}"
            )
        if chunk_size is not None and chunk_size < 1:
            raise EngineInputError(f"chunk size {chunk_size}: expected at least 1")
        self.settings = settings
        self.chunk_size = chunk_size

    @classmethod
    def reference_settings(cls) -> Any:
        """The settings of the public reference code (default: the default settings)."""
        return cls.settings_type()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    @abstractmethod
    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        """Classify ``inputs`` (B, 3, H, W), ask ``plan`` what to explain, explain it.

        Returns the logits (B, num_classes), detached, and per image a map (H, W) for each of
        its requests. Images are independent: a batch gives the same maps as each image alone.
        """

    def parameters(self, classifier: Classifier) -> dict:
        """JSON-serialisable settings, for results and manifests (the settings' fields)."""
        return asdict(self.settings) if is_dataclass(self.settings) else {}

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
