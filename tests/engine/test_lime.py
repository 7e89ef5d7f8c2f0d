"""Tests of explain_engine.explainers.lime: planted superpixel weights, the surrogate, batching.

A synthetic classifier whose class probabilities are known linear functions of which of four
coloured blocks are visible: LIME's superpixels are the blocks, and its surrogate must give
back the planted weights (exactly with no ridge penalty, within the penalty's shrinkage with
the reference's α = 1).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explainers.lime import (
    LIME,
    LimeSettings,
    draw_samples,
    kernel_weights,
    superpixels,
    weighted_ridge,
)
from tests.engine.test_gradcam import make_classifier

SIZE = 16
COLOURS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
CORNERS = ((0, 0), (0, 8), (8, 0), (8, 8))
# P(class k) = INTERCEPTS[k] + Σ_j PLANTED[k, j] · u_j for k = 0, 1, P(class 2) = 1 − P(0) − P(1),
# with u_j = 1 for a visible block j and 0 (or −1, below) for a hidden one. Σ_j |PLANTED[k, j]|
# < INTERCEPTS[k] and Σ_j |PLANTED[0, j] + PLANTED[1, j]| < 1 − Σ_k INTERCEPTS[k]: all three
# probabilities stay in (0, 1) for every u ∈ {−1, 0, 1}⁴.
INTERCEPTS = torch.tensor([0.3, 0.25])
PLANTED = torch.tensor([[0.12, -0.04, 0.1, 0.0], [-0.03, 0.1, 0.0, 0.05]])


def block_regions() -> torch.Tensor:
    regions = torch.zeros(4, SIZE, SIZE)
    for j, (row, col) in enumerate(CORNERS):
        regions[j, row : row + 8, col : col + 8] = 1.0
    return regions


def block_image(colours: torch.Tensor = COLOURS) -> torch.Tensor:
    """(3, 16, 16): block j of colour ``colours[j]``; 0 elsewhere is the hidden value."""
    return torch.einsum("jhw,jc->chw", block_regions(), colours)


class PlantedProbabilities(nn.Module):
    """Logits whose softmax is the planted linear model of the blocks' visibility.

    Block j counts as visible to the degree its pixels carry its colour:
    u_j = mean over block j of ⟨x, colour_j⟩ / ‖colour_j‖² (1 visible, 0 hidden).
    """

    def __init__(self) -> None:
        super().__init__()
        regions = block_regions()
        self.register_buffer("regions", regions / regions.sum(dim=(1, 2), keepdim=True))
        self.register_buffer("colours", COLOURS / (COLOURS**2).sum(dim=1, keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        visible = torch.einsum("bchw,jhw,jc->bj", x, self.regions, self.colours)
        first_two = INTERCEPTS + visible @ PLANTED.T
        probabilities = torch.cat([first_two, 1 - first_two.sum(dim=1, keepdim=True)], dim=1)
        return probabilities.log()


@pytest.fixture
def planted_classifier():
    return make_classifier(PlantedProbabilities(), 3, stage1="regions", stage2="regions")


def painted(weights: torch.Tensor) -> torch.Tensor:
    """The map LIME should give: weight j on block j."""
    return torch.einsum("j,jhw->hw", weights, block_regions())


SIGNED_EXACT = LimeSettings(num_samples=200, ridge_alpha=0.0, positive_only=False)


def test_superpixels_of_the_block_image_are_the_four_blocks():
    picture = block_image().permute(1, 2, 0).double().numpy()
    segments = superpixels(picture, LimeSettings())
    assert segments.shape == (SIZE, SIZE)
    assert int(segments.max()) == 3
    for region in block_regions().bool():
        assert len(segments[region].unique()) == 1  # one label per block, four labels in all


def test_planted_weights_are_recovered_exactly_without_ridge_penalty(planted_classifier):
    requests = [[(1, (0,)), (1, (1,)), (2, (2,))]]
    maps = LIME(SIGNED_EXACT).saliency(planted_classifier, block_image()[None], requests)[0]
    torch.testing.assert_close(maps[(1, (0,))], painted(PLANTED[0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(maps[(1, (1,))], painted(PLANTED[1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(maps[(2, (2,))], painted(-PLANTED.sum(0)), rtol=0, atol=1e-6)


def test_reference_ridge_penalty_shrinks_the_planted_weights_only_slightly(planted_classifier):
    # α = 1 against Σ_i π_i (z_ij − z̄_j)² ≈ 1000 · 0.5 · 0.2 = 100: about 1 % shrinkage.
    settings = LimeSettings(num_samples=1000, positive_only=False)
    maps = LIME(settings).saliency(planted_classifier, block_image()[None], [[(1, (0,))]])[0]
    difference = (maps[(1, (0,))] - painted(PLANTED[0])).abs().max()
    assert 1e-5 < float(difference) < 0.003


def test_compound_target_regresses_the_summed_probability(planted_classifier):
    # P({0, 1}) = P(0) + P(1): weights add. P({0, 1, 2}) = 1 whatever is hidden: weights 0.
    requests = [[(1, (0, 1)), (1, (0, 1, 2))]]
    maps = LIME(SIGNED_EXACT).saliency(planted_classifier, block_image()[None], requests)[0]
    torch.testing.assert_close(maps[(1, (0, 1))], painted(PLANTED.sum(0)), rtol=0, atol=1e-6)
    torch.testing.assert_close(maps[(1, (0, 1, 2))], torch.zeros(SIZE, SIZE), rtol=0, atol=1e-6)


def test_positive_only_paints_only_superpixels_with_positive_weight(planted_classifier):
    settings = dataclasses.replace(SIGNED_EXACT, positive_only=True)
    maps = LIME(settings).saliency(planted_classifier, block_image()[None], [[(1, (0,))]])[0]
    torch.testing.assert_close(maps[(1, (0,))], painted(PLANTED[0].clamp_min(0)), rtol=0, atol=1e-6)


def test_hidden_superpixels_take_the_baseline_value(planted_classifier):
    # Black in unit space is the normalised value −mean/std; with mean 0.5, std 0.5 that is
    # −1: a hidden block reads u_j = −1 instead of 0, which doubles every weight.
    classifier = dataclasses.replace(
        planted_classifier,
        preprocessing=dataclasses.replace(
            planted_classifier.preprocessing, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
        ),
    )
    image = block_image()[None]
    for hide, factor in (("mean", 1.0), ("black", 2.0)):
        settings = dataclasses.replace(SIGNED_EXACT, hide=hide)
        maps = LIME(settings).saliency(classifier, image, [[(1, (0,))]])[0]
        torch.testing.assert_close(maps[(1, (0,))], factor * painted(PLANTED[0]), rtol=0, atol=1e-6)


def test_batch_equals_each_image_alone_and_chunking_changes_nothing(planted_classifier):
    # Two images with different superpixels (the second one has two blocks of one colour).
    images = torch.stack([block_image(), block_image(COLOURS[[0, 0, 2, 3]])])
    requests = [[(1, (0,)), (2, (1, 2))], [(1, (1,))]]
    settings = LimeSettings(num_samples=120)
    together = LIME(settings, chunk_size=7).saliency(planted_classifier, images, requests)
    for b, image_requests in enumerate(requests):
        for chunk_size in (7, 50):
            alone = LIME(settings, chunk_size=chunk_size).saliency(
                planted_classifier, images[b : b + 1], [image_requests]
            )[0]
            assert set(alone) == set(together[b])
            for key, values in alone.items():
                torch.testing.assert_close(together[b][key], values, rtol=0, atol=1e-9)


def test_same_seed_gives_the_same_samples_another_seed_others():
    first = draw_samples(LimeSettings(num_samples=50, seed=4), 30)
    assert first.shape == (50, 30)
    assert bool(first[0].all())  # the unperturbed image comes first
    assert torch.equal(first, draw_samples(LimeSettings(num_samples=50, seed=4), 30))
    assert not torch.equal(first, draw_samples(LimeSettings(num_samples=50, seed=5), 30))
    assert abs(float(first[1:].float().mean()) - 0.5) < 0.05


def test_kernel_is_exponential_in_the_cosine_distance_to_the_full_image():
    # Keeping k of 4 superpixels: cos = k / (√k · 2), d = 1 − √(k/4); σ = 0.25.
    samples = torch.tensor(
        [[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool
    )
    expected = [1.0, math.exp(-(0.5**2) / 0.125), math.exp(-((1 - 0.5**0.5) ** 2) / 0.125)]
    expected.append(math.exp(-1 / 0.125))  # nothing kept: distance 1 (as scikit-learn)
    torch.testing.assert_close(
        kernel_weights(samples, 0.25), torch.tensor(expected, dtype=torch.float64)
    )


def test_weighted_ridge_satisfies_the_normal_equations():
    generator = torch.Generator().manual_seed(0)
    features = (torch.rand(40, 5, generator=generator) < 0.5).double()
    targets = torch.rand(40, 2, generator=generator, dtype=torch.float64)
    weights = torch.rand(40, generator=generator, dtype=torch.float64)
    alpha = 0.7
    beta = weighted_ridge(features, targets, weights, alpha)
    intercept = (weights @ (targets - features @ beta)) / weights.sum()
    residual = targets - intercept - features @ beta
    # ∂/∂b = 0 and ∂/∂β = 0 of Σ_i w_i (y_i − b − x_iᵀβ)² + α‖β‖²
    torch.testing.assert_close(weights @ residual, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(
        features.T @ (weights[:, None] * residual) - alpha * beta,
        torch.zeros(5, 2, dtype=torch.float64),
    )


def test_forward_passes_run_in_chunks_under_inference_mode(planted_classifier):
    seen = []
    handle = planted_classifier.model.register_forward_pre_hook(
        lambda _m, inputs: seen.append((len(inputs[0]), torch.is_inference_mode_enabled()))
    )
    try:
        settings = LimeSettings(num_samples=40)
        LIME(settings, chunk_size=16).saliency(
            planted_classifier, block_image()[None], [[(1, (0,)), (2, (1,))]]
        )
    finally:
        handle.remove()
    assert seen == [(1, True), (16, True), (16, True), (8, True)]  # logits, then 40 samples


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_samples", 1),
        ("kernel_size", 0),
        ("max_dist", -1.0),
        ("kernel_width", float("inf")),
        ("ratio", 1.5),
        ("ridge_alpha", -0.1),
        ("hide", "grey"),
    ],
)
def test_bad_settings_raise_engine_input_error_naming_the_field(field, value):
    with pytest.raises(EngineInputError, match=field):
        LimeSettings(**{field: value})


def test_settings_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="LimeSettings"):
        LIME({"num_samples": 10})


def test_settings_round_trip_through_json_and_declare_the_contract(planted_classifier):
    settings = LimeSettings(num_samples=64, hide="black", seed=3)
    assert LimeSettings(**json.loads(json.dumps(dataclasses.asdict(settings)))) == settings
    assert LIME.settings_type is LimeSettings
    assert LIME.reference_settings() == LimeSettings(hide="black")
    assert LIME.needs_gradients is False
    reference = LIME.reference_wox_options
    assert (reference.support_percentile, reference.normalize_base_maps) == (85.0, True)
    assert LIME.name == "lime"
    assert LIME.description and "\n" not in LIME.description
    parameters = LIME(settings, chunk_size=5).parameters(planted_classifier)
    assert "chunk_size" not in parameters  # it does not change the maps
    assert parameters["num_samples"] == 64
    json.dumps(parameters)


def test_superpixels_are_numbered_without_gaps():
    picture = np.zeros((16, 16, 3))
    picture[:, 8:] = 1.0
    segments = superpixels(picture, LimeSettings())
    assert sorted(segments.unique().tolist()) == list(range(int(segments.max()) + 1))
