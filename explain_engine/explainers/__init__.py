"""Base explainers: Grad-CAM and RISE, both over compound targets."""

from explain_engine.explainers.base import BaseExplainer
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE, RiseSettings

__all__ = ["RISE", "BaseExplainer", "GradCAM", "RiseSettings"]
