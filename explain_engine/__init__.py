"""CWOX engine: contrastive whole-output explanations of image classifiers (no Django here).

The public API (:mod:`explain_engine.api`), exported here::

    from explain_engine import load_classifier, explain_images

    classifier = load_classifier()                      # the embedded EfficientNet-Lite0
    [explanation] = explain_images(classifier, ["chelsea.png"])
    explanation.methods["cwox-2s"].cluster_maps()

Names are resolved on first use (PEP 562), so that importing one engine module (the method
registry, the interval statistics) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Exported name → the module that defines it.
_EXPORTS = {
    "load_classifier": "explain_engine.api",
    "explain_images": "explain_engine.api",
    "choose_pairs": "explain_engine.api",
    "pregenerate_stimuli": "explain_engine.api",
    "finished_items": "explain_engine.api",
    "build_documents": "explain_engine.api",
    "learn_tree": "explain_engine.api",
    "evaluate_faithfulness": "explain_engine.api",
    "StimulusSettings": "explain_engine.stimulus_settings",
    "ExplainerSpec": "explain_engine.settings",
    "ExplanationSettings": "explain_engine.explain",
    "ImageExplanation": "explain_engine.results",
    "TopKRule": "explain_engine.targets",
    "WoxOptions": "explain_engine.wox",
    "EngineInputError": "explain_engine.errors",
    "explainer_names": "explain_engine.registry",
    "method_names": "explain_engine.registry",
}

__all__ = [
    "EngineInputError",
    "ExplainerSpec",
    "ExplanationSettings",
    "ImageExplanation",
    "StimulusSettings",
    "TopKRule",
    "WoxOptions",
    "build_documents",
    "choose_pairs",
    "evaluate_faithfulness",
    "explain_images",
    "explainer_names",
    "finished_items",
    "learn_tree",
    "load_classifier",
    "method_names",
    "pregenerate_stimuli",
]

if TYPE_CHECKING:
    from explain_engine.api import (
        build_documents,
        choose_pairs,
        evaluate_faithfulness,
        explain_images,
        finished_items,
        learn_tree,
        load_classifier,
        pregenerate_stimuli,
    )
    from explain_engine.errors import EngineInputError
    from explain_engine.explain import ExplanationSettings
    from explain_engine.registry import explainer_names, method_names
    from explain_engine.results import ImageExplanation
    from explain_engine.settings import ExplainerSpec
    from explain_engine.stimulus_settings import StimulusSettings
    from explain_engine.targets import TopKRule
    from explain_engine.wox import WoxOptions


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'explain_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
