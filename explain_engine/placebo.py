"""The placebo arm: a WOX method's maps computed on the classifier with randomised weights.

A study's placebo condition ``placebo-<method>`` (e.g. ``placebo-cwox-2s``) shows the pictures of
``<method>`` made exactly as the real ones — same images, same classes and clusters (those of
the trained model), same base explainer, same equations and rendering — but on a copy of the
classifier whose every layer group is re-initialised (:func:`explain_engine.sanity.
randomized_copy`, full cascade, seeded). The maps then carry no learned evidence, so the
accuracy of that arm is the chance floor of the study's pictures (what participants reach from
the photograph and the drawing alone), the study-level counterpart of the model-randomisation
sanity check (Adebayo et al., 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings
from explain_engine.explainers.base import BaseExplainer
from explain_engine.models import Classifier
from explain_engine.registry import METHODS, PLACEBO_PREFIX
from explain_engine.results import ImageExplanation
from explain_engine.sanity import explain_same_classes, randomized_copy

PREFIX = PLACEBO_PREFIX
#: Seed of the re-initialised weights (recorded in manifests).
SEED = 0


def placebo_name(method: str) -> str:
    """The placebo condition of a registered WOX method: ``placebo-<method>``."""
    METHODS.get(method)
    return f"{PREFIX}{method}"


def base_method(name: str) -> str | None:
    """The WOX method behind a placebo name (None for a name that is not one)."""
    return name.removeprefix(PREFIX) if name.startswith(PREFIX) else None


def split_methods(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(WOX methods, methods whose placebo is asked for) of ``names``, each checked against
    the method registry (EngineInputError naming an unknown one)."""
    methods, placebos = [], []
    for name in names:
        base = base_method(name)
        try:
            METHODS.get(base or name)
        except EngineInputError:
            raise EngineInputError(
                f"method {name!r}: unknown (expected a WOX method or placebo-<method>)"
            ) from None
        (placebos if base else methods).append(base or name)
    return tuple(methods), tuple(placebos)


def add_placebo_maps(
    placebo_model: Classifier,
    images: Sequence[Image.Image],
    explanations: Sequence[ImageExplanation],
    explainer: BaseExplainer,
    settings: ExplanationSettings,
    placebos: Sequence[str],
) -> None:
    """Add ``placebo-<method>`` to each explanation's methods for every method of ``placebos``:
    its maps on ``placebo_model`` (a :func:`randomized_model`) for the same classes."""
    if not placebos:
        return
    on_random = explain_same_classes(
        placebo_model, images, explanations, explainer, replace(settings, methods=placebos)
    )
    for explanation, placebo in zip(explanations, on_random, strict=True):
        for method in placebos:
            wox = placebo.methods[method]
            explanation.methods[placebo_name(method)] = replace(wox, method=placebo_name(method))


def randomized_model(classifier: Classifier, seed: int = SEED) -> Classifier:
    """The placebo arm's classifier: every layer group re-initialised, seeded."""
    return randomized_copy(classifier, depth=None, seed=seed)
