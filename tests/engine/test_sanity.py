"""Tests of explain_engine.sanity: layer groups, cascading re-initialisation, rank correlation,
and the model-randomisation test telling a model-blind "explainer" from Grad-CAM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings
from explain_engine.explainers.base import BaseExplainer, Plan, SaliencyMaps, validate_requests
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.models import Classifier
from explain_engine.sanity import (
    cascade_layers,
    model_randomisation,
    randomized_copy,
    rank_correlation,
)
from explain_engine.targets import TopKRule
from tests.engine.test_gradcam import make_classifier


def tiny_cnn() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    )


@pytest.fixture
def classifier() -> Classifier:
    return make_classifier(tiny_cnn(), 4, stage1="2", stage2="0")


def photos(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(5)
    return [Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(n)]


@dataclass(frozen=True)
class NoSettings:
    pass


class BrightnessExplainer(BaseExplainer):
    """A model-blind 'explainer': every map is the image's brightness (like an edge detector,
    it shows the photograph, not the model). Not registered: a test double."""

    name = "brightness"
    settings_type = NoSettings
    needs_gradients = False
    description = "the image's brightness"

    def run(self, classifier: Classifier, inputs: torch.Tensor, plan: Plan):
        logits = classifier.model(inputs)
        requests = plan(logits)
        validate_requests(requests, len(inputs), logits.shape[-1])
        maps: SaliencyMaps = [
            {request: inputs[b].mean(dim=0) + 10.0 for request in image}
            for b, image in enumerate(requests)
        ]
        return logits.detach(), maps


def test_layer_groups_of_resnet_open_its_stages_and_skip_parameterless_children():
    groups = cascade_layers(torchvision.models.resnet18(weights=None))
    blocks = [f"layer{stage}.{block}" for stage in (1, 2, 3, 4) for block in (0, 1)]
    assert groups == ["conv1", "bn1", *blocks, "fc"]


def test_layer_groups_of_a_sequential_model(classifier):
    assert cascade_layers(classifier.model) == ["0", "2", "6"]


def test_randomized_copy_reinitialises_exactly_the_top_groups_and_leaves_the_original(classifier):
    before = {k: v.clone() for k, v in classifier.model.state_dict().items()}
    top = randomized_copy(classifier, depth=1, seed=1)
    after = top.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"6.weight", "6.bias"}
    assert all(torch.equal(v, classifier.model.state_dict()[k]) for k, v in before.items())
    full = randomized_copy(classifier, depth=None, seed=1).model.state_dict()
    assert all(not torch.equal(before[k], full[k]) for k in before)
    again = randomized_copy(classifier, depth=None, seed=1).model.state_dict()
    assert all(torch.equal(full[k], again[k]) for k in full)
    assert not any(p.requires_grad for p in top.model.parameters())


def test_randomized_copy_leaves_the_global_generator_alone(classifier):
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    randomized_copy(classifier, depth=2, seed=4)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("depth", [0, 4, -1])
def test_randomized_copy_refuses_depths_outside_the_groups(classifier, depth):
    with pytest.raises(EngineInputError, match="expected 1..3"):
        randomized_copy(classifier, depth=depth)


def test_rank_correlation_of_known_maps():
    ramp = torch.arange(16.0).reshape(4, 4)
    assert rank_correlation(ramp, ramp**3) == pytest.approx(1.0)
    assert rank_correlation(ramp, -ramp) == pytest.approx(-1.0)
    assert rank_correlation(ramp, torch.zeros(4, 4)) is None
    with pytest.raises(EngineInputError, match="shapes"):
        rank_correlation(ramp, torch.zeros(2, 8))


def test_a_model_blind_explainer_is_flagged_and_gradcam_is_not(classifier):
    settings = ExplanationSettings(methods=("swox", "cwox-1sb"), top_k=TopKRule(3, None))
    images = photos(3)
    blind = model_randomisation(classifier, images, BrightnessExplainer(), settings)
    full = [result for result in blind if result.depth == result.layers]
    assert {result.method for result in full} == {"swox", "cwox-1sb"}
    swox = next(result for result in full if result.method == "swox")
    assert len(swox.correlations) == 9  # 3 images × 3 classes
    assert swox.median == pytest.approx(1.0) and swox.flagged
    gradcam = model_randomisation(classifier, images, GradCAM(), settings, depths=(None,))
    for result in gradcam:
        assert result.median is None or result.median < 0.5
        assert not result.flagged
    assert [r.to_dict()["depth"] for r in blind] == [1, 1, 3, 3]


def test_the_check_needs_images(classifier):
    with pytest.raises(EngineInputError, match="at least one image"):
        model_randomisation(classifier, [], GradCAM(), ExplanationSettings())
