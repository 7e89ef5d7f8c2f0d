"""Tests of explain_engine.explainers.gradcam: exact values, batching, cost and hygiene.

Hand-weighted models give Grad-CAM values computable by hand: with a linear head after global
average pooling over an h×w pivot, ∂z_c/∂A_k[u,v] = W[c,k]/(h·w), so α_k = W[c,k]/(h·w). The
batched fast path is compared with a slow reference built from first principles (hooks, one
forward per image, one ``torch.autograd.grad`` per target).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explainers.gradcam import GradCAM, GradCAMSettings
from explain_engine.models import Classifier, Preprocessing

SIGNED = GradCAM(GradCAMSettings(relu=False))


def make_classifier(model: nn.Module, num_classes: int, stage1: str, stage2: str) -> Classifier:
    model.eval().requires_grad_(False)
    return Classifier(
        name="tiny",
        model=model,
        preprocessing=Preprocessing(resize=8, crop=8, mean=(0, 0, 0), std=(1, 1, 1)),
        class_names=tuple(f"c{i}" for i in range(num_classes)),
        stage1_layer=stage1,
        stage2_layer=stage2,
        device=torch.device("cpu"),
    )


# -- a hand-weighted model -------------------------------------------------------------------
#
# input (3, 2, 2) → 1×1 conv "pivot" (2 channels) → global average pool → linear to 3 classes.
#   A_0 = x_0 − x_1            = [[1, 1], [3, 5]]       (mean 2.5)
#   A_1 = x_2 − 1              = [[1, −1], [−1, −1]]    (mean −0.5)
#   z = W · mean(A) + bias, W = [[2, 0], [−1, 4], [1, −2]], bias = [0, 0, 1.5] → z = [5, −4.5, 5]
# α = W[c] / 4:
#   class 0: 0.5·A_0                 = [[0.5, 0.5], [1.5, 2.5]]
#   class 1: −0.25·A_0 + A_1         = [[0.75, −1.25], [−1.75, −2.25]]
#   class 2: 0.25·A_0 − 0.5·A_1      = [[−0.25, 0.75], [1.25, 1.75]]
HAND_INPUT = torch.tensor(
    [
        [[1.0, 2.0], [3.0, 4.0]],
        [[0.0, 1.0], [0.0, -1.0]],
        [[2.0, 0.0], [0.0, 0.0]],
    ]
)
HAND_SIGNED = {
    0: torch.tensor([[0.5, 0.5], [1.5, 2.5]]),
    1: torch.tensor([[0.75, -1.25], [-1.75, -2.25]]),
    2: torch.tensor([[-0.25, 0.75], [1.25, 1.75]]),
}
HAND_LOGITS = torch.tensor([5.0, -4.5, 5.0])


def hand_model(stride: int = 1) -> nn.Sequential:
    pivot = nn.Conv2d(3, 2, kernel_size=1, stride=stride)
    head = nn.Linear(2, 3)
    with torch.no_grad():
        pivot.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])[:, :, None, None])
        pivot.bias.copy_(torch.tensor([0.0, -1.0]))
        head.weight.copy_(torch.tensor([[2.0, 0.0], [-1.0, 4.0], [1.0, -2.0]]))
        head.bias.copy_(torch.tensor([0.0, 0.0, 1.5]))
    return nn.Sequential(pivot, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)


@pytest.fixture
def hand_classifier() -> Classifier:
    return make_classifier(hand_model(), 3, stage1="0", stage2="0")


def test_hand_model_logits_are_as_computed_by_hand(hand_classifier):
    logits = hand_classifier.model(HAND_INPUT[None])[0]
    torch.testing.assert_close(logits, HAND_LOGITS, rtol=0, atol=1e-6)


def test_single_class_maps_equal_hand_computed_relu_of_weighted_activations(hand_classifier):
    requests = [[(1, (0,)), (1, (1,)), (1, (2,))]]
    maps = GradCAM().saliency(hand_classifier, HAND_INPUT[None], requests)[0]
    assert set(maps) == set(requests[0])
    expected = {
        0: torch.tensor([[0.5, 0.5], [1.5, 2.5]]),
        1: torch.tensor([[0.75, 0.0], [0.0, 0.0]]),
        2: torch.tensor([[0.0, 0.75], [1.25, 1.75]]),
    }
    for c, values in expected.items():
        torch.testing.assert_close(maps[(1, (c,))], values, rtol=0, atol=1e-6)


def test_signed_maps_keep_negative_values_when_relu_is_off(hand_classifier):
    requests = [[(1, (0,)), (1, (1,)), (1, (2,))]]
    maps = SIGNED.saliency(hand_classifier, HAND_INPUT[None], requests)[0]
    for c, values in HAND_SIGNED.items():
        torch.testing.assert_close(maps[(1, (c,))], values, rtol=0, atol=1e-6)
    assert maps[(1, (1,))].min() < 0


def test_compound_target_weights_class_gradients_by_softmax_within_the_compound(
    hand_classifier,
):
    # z_{0,2} = logsumexp(z_0, z_2) with z_0 = z_2 = 5: softmax weights 1/2 each, so the map is
    # ReLU(0.5·(signed_0 + signed_2)) = 0.5·[[0.25, 1.25], [2.75, 4.25]].
    maps = GradCAM().saliency(hand_classifier, HAND_INPUT[None], [[(1, (0, 2))]])[0]
    expected = torch.tensor([[0.125, 0.625], [1.375, 2.125]])
    torch.testing.assert_close(maps[(1, (0, 2))], expected, rtol=0, atol=1e-6)


def test_compound_target_with_unequal_logits_uses_softmax_over_its_classes(hand_classifier):
    requests = [[(1, (1, 2)), (1, (0, 1, 2))]]
    signed = SIGNED.saliency(hand_classifier, HAND_INPUT[None], requests)[0]
    relu = GradCAM().saliency(hand_classifier, HAND_INPUT[None], requests)[0]
    for classes in ((1, 2), (0, 1, 2)):
        weights = torch.softmax(HAND_LOGITS[list(classes)], dim=0)
        expected = sum(w * HAND_SIGNED[c] for w, c in zip(weights, classes, strict=True))
        torch.testing.assert_close(signed[(1, classes)], expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(relu[(1, classes)], expected.clamp_min(0), rtol=0, atol=1e-6)


def test_maps_are_relu_then_bilinear_upsampled_to_the_input_size():
    # A stride-2 1×1 conv on a 4×4 input sees the pixels (0,0), (0,2), (2,0), (2,2): place the
    # hand input there, so the 2×2 activations are as above. Bilinear 2 → 4 with
    # align_corners=False samples source positions −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    classifier = make_classifier(hand_model(stride=2), 3, stage1="0", stage2="0")
    image = torch.full((3, 4, 4), 7.0)
    image[:, ::2, ::2] = HAND_INPUT
    maps = GradCAM().saliency(classifier, image[None], [[(1, (1,)), (2, (2,))]])[0]
    upsample = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    for stage, c in ((1, 1), (2, 2)):
        expected = upsample @ HAND_SIGNED[c].clamp_min(0) @ upsample.T
        torch.testing.assert_close(maps[(stage, (c,))], expected, rtol=0, atol=1e-6)
    # class 1: ReLU keeps only the top-left 0.75, which spreads over the top-left 2×2 block.
    torch.testing.assert_close(
        maps[(1, (1,))][:2, :2], torch.tensor([[0.75, 0.5625], [0.5625, 0.421875]])
    )


def test_layer_overrides_replace_the_classifier_pivots():
    classifier = make_classifier(hand_model(), 3, stage1="1", stage2="1")  # pooled: 1×1
    explainer = GradCAM(GradCAMSettings(stage1_layer="0", stage2_layer="0"))
    assert explainer.parameters(classifier) == {
        "stage1_layer": "0",
        "stage2_layer": "0",
        "relu": True,
    }
    maps = explainer.saliency(classifier, HAND_INPUT[None], [[(1, (0,))]])[0]
    torch.testing.assert_close(maps[(1, (0,))], HAND_SIGNED[0], rtol=0, atol=1e-6)


def test_gradcam_works_when_called_under_no_grad(hand_classifier):
    with torch.no_grad():
        maps = GradCAM().saliency(hand_classifier, HAND_INPUT[None], [[(1, (0,))]])[0]
    torch.testing.assert_close(maps[(1, (0,))], HAND_SIGNED[0], rtol=0, atol=1e-6)


def test_gradcam_works_on_inference_tensors_under_inference_mode(hand_classifier):
    with torch.inference_mode():
        inputs = HAND_INPUT[None].clone()
        maps = GradCAM().saliency(hand_classifier, inputs, [[(1, (0,))]])[0]
    torch.testing.assert_close(maps[(1, (0,))], HAND_SIGNED[0], rtol=0, atol=1e-6)


# -- a random two-stage CNN and a slow reference --------------------------------------------


def random_cnn(num_classes: int = 5) -> nn.Sequential:
    torch.manual_seed(1234)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # 0
        nn.BatchNorm2d(4),  # 1
        nn.ReLU(),  # 2: stage 2 pivot, 8×8
        nn.Conv2d(4, 6, 3, stride=2, padding=1),  # 3
        nn.Tanh(),  # 4: stage 1 pivot, 4×4
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, num_classes),
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture
def cnn_classifier() -> Classifier:
    return make_classifier(random_cnn(), 5, stage1="4", stage2="2")


def reference_gradcam(
    classifier: Classifier, image: torch.Tensor, stage: int, classes: tuple[int, ...], relu=True
) -> torch.Tensor:
    """Grad-CAM of one image and one target: its own forward pass and its own gradient."""
    layer = classifier.layer(classifier.stage1_layer if stage == 1 else classifier.stage2_layer)
    store = {}
    handle = layer.register_forward_hook(lambda _m, _i, output: store.update(a=output))
    try:
        with torch.enable_grad():
            logits = classifier.model(image[None].clone().requires_grad_(True))
            score = torch.logsumexp(logits[0, list(classes)], dim=0)
            (gradient,) = torch.autograd.grad(score, store["a"])
    finally:
        handle.remove()
    alpha = gradient[0].mean(dim=(1, 2))
    cam = (alpha[:, None, None] * store["a"][0].detach()).sum(dim=0)
    if relu:
        cam = cam.clamp_min(0)
    return F.interpolate(
        cam[None, None], size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False
    )[0, 0]


# Per image different targets and numbers of targets (incl. none): the padding path.
BATCH_REQUESTS = [
    [(1, (0,)), (1, (1, 2)), (2, (0,)), (2, (3,)), (1, (0, 1, 2, 3, 4)), (2, (1, 2))],
    [(2, (4,))],
    [(1, (2,)), (2, (1, 3)), (1, (1, 3))],
    [],
]


def batch_inputs() -> torch.Tensor:
    return torch.randn(len(BATCH_REQUESTS), 3, 8, 8, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("relu", [True, False])
def test_batched_multi_target_maps_equal_one_backward_per_target(cnn_classifier, relu):
    inputs = batch_inputs()
    maps = GradCAM(GradCAMSettings(relu=relu)).saliency(cnn_classifier, inputs, BATCH_REQUESTS)
    assert len(maps) == len(inputs)
    nonzero = 0
    for b, image_requests in enumerate(BATCH_REQUESTS):
        assert set(maps[b]) == set(image_requests)
        for stage, classes in image_requests:
            expected = reference_gradcam(cnn_classifier, inputs[b], stage, classes, relu)
            assert maps[b][(stage, classes)].shape == (8, 8)
            torch.testing.assert_close(maps[b][(stage, classes)], expected, rtol=0, atol=1e-5)
            nonzero += bool(expected.abs().max() > 1e-3)
    # the comparison is not vacuous: most maps are far from zero
    assert nonzero >= 7


def test_stage_one_and_stage_two_maps_come_from_different_pivots(cnn_classifier):
    inputs = batch_inputs()[:1]
    maps = GradCAM().saliency(cnn_classifier, inputs, [[(1, (0,)), (2, (0,))]])[0]
    assert not torch.allclose(maps[(1, (0,))], maps[(2, (0,))], atol=1e-4)


def test_batch_with_per_image_targets_equals_each_image_alone(cnn_classifier):
    inputs = batch_inputs()
    together = GradCAM().saliency(cnn_classifier, inputs, BATCH_REQUESTS)
    for b, image_requests in enumerate(BATCH_REQUESTS):
        alone = GradCAM().saliency(cnn_classifier, inputs[b : b + 1], [image_requests])[0]
        assert set(alone) == set(together[b])
        for key, values in alone.items():
            torch.testing.assert_close(together[b][key], values, rtol=0, atol=1e-5)


def test_run_returns_detached_logits_of_the_batch(cnn_classifier):
    inputs = batch_inputs()
    logits, _ = GradCAM().run(cnn_classifier, inputs, lambda _logits: BATCH_REQUESTS)
    assert not logits.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(logits, cnn_classifier.model(inputs))


def test_plan_sees_the_logits_of_the_forward_pass(cnn_classifier):
    inputs = batch_inputs()
    seen = []

    def plan(logits):
        seen.append(logits)
        return [[(1, (int(row.argmax()),))] for row in logits]

    logits, maps = GradCAM().run(cnn_classifier, inputs, plan)
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], logits)
    for b, row in enumerate(logits):
        assert list(maps[b]) == [(1, (int(row.argmax()),))]


def test_parameters_never_accumulate_gradients(cnn_classifier):
    GradCAM().saliency(cnn_classifier, batch_inputs(), BATCH_REQUESTS)
    for parameter in cnn_classifier.model.parameters():
        assert parameter.grad is None
        assert parameter.requires_grad is False


def test_parameters_that_require_grad_still_get_no_grad_accumulated():
    model = random_cnn()
    classifier = make_classifier(model, 5, stage1="4", stage2="2")
    model.requires_grad_(True)  # a carelessly built classifier
    maps = GradCAM().saliency(classifier, batch_inputs(), BATCH_REQUESTS)
    model.requires_grad_(False)
    frozen = GradCAM().saliency(classifier, batch_inputs(), BATCH_REQUESTS)
    for parameter in model.parameters():
        assert parameter.grad is None
    for b, image_maps in enumerate(maps):
        for key, values in image_maps.items():
            torch.testing.assert_close(values, frozen[b][key], rtol=0, atol=1e-6)


# -- hooks are always removed -----------------------------------------------------------------


def assert_no_hooks(model: nn.Module) -> None:
    for name, module in model.named_modules():
        assert not module._forward_hooks, f"forward hook left on {name!r}"
        assert not module._forward_pre_hooks, f"forward pre-hook left on {name!r}"


def test_hooks_are_removed_after_a_normal_run(cnn_classifier):
    GradCAM().saliency(cnn_classifier, batch_inputs(), BATCH_REQUESTS)
    assert_no_hooks(cnn_classifier.model)


def test_hooks_are_removed_when_the_plan_raises(cnn_classifier):
    def plan(_logits):
        raise RuntimeError("plan failed")

    with pytest.raises(RuntimeError, match="plan failed"):
        GradCAM().run(cnn_classifier, batch_inputs(), plan)
    assert_no_hooks(cnn_classifier.model)


@pytest.mark.parametrize(
    "bad_request",
    [(1, (5,)), (1, (-1,)), (2, (0, 9)), (3, (0,)), (1, ())],
    ids=["class-too-large", "negative-class", "compound-out-of-range", "stage-3", "empty"],
)
def test_invalid_request_raises_engine_input_error_and_removes_hooks(cnn_classifier, bad_request):
    requests = [[(1, (0,))], [bad_request], [], []]
    with pytest.raises(EngineInputError):
        GradCAM().saliency(cnn_classifier, batch_inputs(), requests)
    assert_no_hooks(cnn_classifier.model)


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("module failed")


def test_hooks_are_removed_when_a_module_forward_raises():
    model = random_cnn()
    model.insert(5, Exploding())  # after both pivots
    classifier = make_classifier(model, 5, stage1="4", stage2="2")
    with pytest.raises(RuntimeError, match="module failed"):
        GradCAM().saliency(classifier, batch_inputs(), BATCH_REQUESTS)
    assert_no_hooks(model)


def test_unknown_pivot_layer_raises_engine_input_error(cnn_classifier):
    with pytest.raises(EngineInputError, match="nope"):
        GradCAM(GradCAMSettings(stage1_layer="nope")).saliency(
            cnn_classifier, batch_inputs(), BATCH_REQUESTS
        )
    assert_no_hooks(cnn_classifier.model)


# -- cost ---------------------------------------------------------------------------------------


@pytest.fixture
def counters(monkeypatch, cnn_classifier):
    """Counts model forward calls and torch.autograd.grad calls."""
    counts = {"forward": 0, "grad": 0}
    original_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        counts["grad"] += 1
        return original_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)

    def count_forward(_module, _inputs):
        counts["forward"] += 1

    handle = cnn_classifier.model.register_forward_pre_hook(count_forward)
    yield counts
    handle.remove()


def test_one_forward_and_one_backward_per_batch(cnn_classifier, counters):
    GradCAM().saliency(cnn_classifier, batch_inputs(), BATCH_REQUESTS)
    assert counters["forward"] == 1
    assert counters["grad"] == 1


def test_batch_without_requests_needs_no_backward(cnn_classifier, counters):
    maps = GradCAM().saliency(cnn_classifier, batch_inputs(), [[], [], [], []])
    assert maps == [{}, {}, {}, {}]
    assert counters["forward"] == 1
    assert counters["grad"] == 0
