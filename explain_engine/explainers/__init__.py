"""Base explainers over compound targets, one module each (Grad-CAM, RISE, ...).

Importing this package imports every module in it
(:func:`explain_engine.registry.import_submodules`), and each registers its explainer with
``@register_explainer("name")``: a new base explainer is one new module here that follows the
contract in :mod:`explain_engine.explainers.base`.
"""

from explain_engine.registry import explainer_names, import_submodules, register_explainer

import_submodules(__name__, __path__)

from explain_engine.explainers.base import BaseExplainer  # noqa: E402
from explain_engine.explainers.gradcam import GradCAM, GradCAMSettings  # noqa: E402
from explain_engine.explainers.rise import RISE, RiseSettings, RiseStages  # noqa: E402

__all__ = [
    "RISE",
    "BaseExplainer",
    "GradCAM",
    "GradCAMSettings",
    "RiseSettings",
    "RiseStages",
    "explainer_names",
    "register_explainer",
]
