"""Tests of explain_engine.explainers.mwp: exact winning probabilities, batching and hygiene.

Excitation backprop (Zhang et al., 2018): P(a_i) = Σ_j P(a_i|a_j) P(a_j) with
P(a_i|a_j) = a_i w⁺_ij / Σ_i' a_i' w⁺_i'j. A tiny non-negative ReLU network gives values
computable by hand; a slightly larger one (hidden conv, residual sum) is compared with a slow
reference that applies the formula unit by unit.
"""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn

from explain_engine.demo_photos import bundled_photo
from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.gradcam import capture_activations
from explain_engine.explainers.mwp import MWP, ExcitationRules, MwpSettings
from explain_engine.models import EMBEDDED_MODEL, load_classifier
from explain_engine.registry import method_names
from tests.engine.test_gradcam import (
    HAND_INPUT,
    Exploding,
    assert_no_hooks,
    hand_model,
    make_classifier,
)


def assert_no_function_mode() -> None:
    assert torch._C._len_torch_function_stack() == 0, "a torch function mode was left active"


# -- a hand-computed network ----------------------------------------------------------------
#
# test_gradcam's hand model with a ReLU after its 1×1 conv: input (3, 2, 2) → conv → ReLU
# ("1", the pivot, 2×2) → global average pool → linear (3 classes).
#   A_0 = ReLU(x_0 − x_1) = [[1, 1], [3, 5]]     (sum 10, mean 2.5)
#   A_1 = ReLU(x_2 − 1)   = [[1, 0], [0, 0]]     (sum 1,  mean 0.25)
#   W = [[2, 0], [−1, 4], [1, −2]], bias [0, 0, 1.5] → z = [5, −1.5, 3.5]
# Linear rule, prior 1 on class c: P(m_k) = m_k W⁺_ck / Σ_k' m_k' W⁺_ck' (bias ignored):
#   class 0: W⁺ = [2, 0] → P(m) = [1, 0];  class 1: [0, 4] → [0, 1];  class 2: [1, 0] → [1, 0].
# Average pool rule: P(A_k[u]) = A_k[u] / Σ_u A_k[u] · P(m_k). Summed over channels:
HAND_MWP = {
    0: torch.tensor([[0.1, 0.1], [0.3, 0.5]]),
    1: torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
    2: torch.tensor([[0.1, 0.1], [0.3, 0.5]]),
}
HAND_LOGITS = torch.tensor([5.0, -1.5, 3.5])


@pytest.fixture
def hand_classifier():
    model = hand_model()
    model.insert(1, nn.ReLU())
    return make_classifier(model, 3, stage1="1", stage2="1")


def test_hand_network_logits_are_as_computed_by_hand(hand_classifier):
    torch.testing.assert_close(hand_classifier.model(HAND_INPUT[None])[0], HAND_LOGITS)


def test_single_class_maps_equal_hand_computed_winning_probabilities(hand_classifier):
    requests = [[(1, (0,)), (1, (1,)), (1, (2,))]]
    maps = MWP().saliency(hand_classifier, HAND_INPUT[None], requests)[0]
    for c, expected in HAND_MWP.items():
        torch.testing.assert_close(maps[(1, (c,))], expected, rtol=0, atol=1e-6)


def test_compound_prior_is_each_class_probability_over_the_compound_probability(
    hand_classifier,
):
    # The reference starts from P(c)/P(C) on c ∈ C (the gradient of z_C = logsumexp): for
    # C = {1, 2}, P(1)/P(C) = e^−1.5 / (e^−1.5 + e^3.5) = 1 / (1 + e^5).
    maps = MWP().saliency(hand_classifier, HAND_INPUT[None], [[(1, (1, 2))]])[0]
    share_1 = 1 / (1 + torch.exp(torch.tensor(5.0)))
    expected = share_1 * HAND_MWP[1] + (1 - share_1) * HAND_MWP[2]
    torch.testing.assert_close(maps[(1, (1, 2))], expected, rtol=0, atol=1e-6)


def test_maps_are_probabilities_that_sum_to_one_at_the_pivot(hand_classifier):
    maps = MWP().saliency(hand_classifier, HAND_INPUT[None], [[(1, (0,)), (1, (0, 1, 2))]])[0]
    for heatmap in maps.values():
        assert float(heatmap.sum()) == pytest.approx(1.0, abs=1e-6)
        assert float(heatmap.min()) >= 0.0


# -- hidden conv and residual sum against the formula, unit by unit -------------------------


class Residual(nn.Module):
    """x → a = ReLU(conv_a x) (pivot) → h = ReLU(conv_h a) → s = h + a → mean → linear."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.conv_a = nn.Conv2d(3, 3, 1)
        self.relu_a = nn.ReLU()
        self.conv_h = nn.Conv2d(3, 3, 1)
        self.head = nn.Linear(3, 4)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu_a(self.conv_a(x))
        s = torch.relu(self.conv_h(a)) + a
        return self.head(s.mean(dim=(2, 3)))


def formula_mwp(model: Residual, image: torch.Tensor, target: int) -> torch.Tensor:
    """MWP of ``target`` at ``a`` by the paper's formula, one unit at a time (no autograd)."""
    with torch.no_grad():
        a = model.relu_a(model.conv_a(image[None]))[0]
        h = torch.relu(model.conv_h(a[None]))[0]
    s = h + a
    channels, height, width = a.shape
    pixels = [(u, v) for u in range(height) for v in range(width)]
    m = s.mean(dim=(1, 2))
    w_head = model.head.weight.clamp_min(0)[target]
    p_m = [float(m[k] * w_head[k] / (m * w_head).sum()) for k in range(channels)]
    # average pool: every pixel of channel k is a child of m_k with weight 1/(h·w)
    p_s = {
        (k, u, v): float(s[k, u, v] / s[k].sum()) * p_m[k]
        for k in range(channels)
        for u, v in pixels
    }
    p_a = dict.fromkeys(p_s, 0.0)
    w_conv = model.conv_h.weight[:, :, 0, 0].clamp_min(0)  # (out j, in i)
    for k, u, v in p_s:
        if s[k, u, v] <= 0:  # a zero unit wins nothing and passes nothing on
            continue
        # residual sum s = h + a: the parent s_k[u,v] has two children h_k[u,v] and a_k[u,v]
        p_h = float(h[k, u, v] / s[k, u, v]) * p_s[(k, u, v)]
        p_a[(k, u, v)] += float(a[k, u, v] / s[k, u, v]) * p_s[(k, u, v)]
        # 1×1 conv: the parent h_k[u,v] has children a_i[u,v] with weights w⁺_ki
        normaliser = sum(float(a[i, u, v] * w_conv[k, i]) for i in range(channels))
        for i in range(channels):
            if normaliser > 0:
                p_a[(i, u, v)] += float(a[i, u, v] * w_conv[k, i]) / normaliser * p_h
    mwp = torch.zeros(height, width)
    for (_, u, v), probability in p_a.items():
        mwp[u, v] += probability
    return mwp


def test_hidden_conv_and_residual_sum_follow_the_formula_unit_by_unit():
    model = Residual()
    classifier = make_classifier(model, 4, stage1="relu_a", stage2="relu_a")
    image = torch.randn(3, 3, 3, generator=torch.Generator().manual_seed(5))
    maps = MWP().saliency(classifier, image[None], [[(1, (c,)) for c in range(4)]])[0]
    for c in range(4):
        expected = formula_mwp(model, image, c)
        torch.testing.assert_close(maps[(1, (c,))], expected, rtol=0, atol=1e-5)
        # probability is lost only where a winning unit has no excitatory input (normaliser 0)
        assert 0.5 < float(expected.sum()) <= 1.0 + 1e-5


# -- a ResNet50 (random weights): residual blocks, in-place sums, two pivots ----------------


@pytest.fixture(scope="module")
def resnet_classifier():
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    return make_classifier(model, 1000, stage1="layer4", stage2="layer3")


RESNET_REQUESTS = [
    [(1, (1,)), (2, (1,)), (1, (3, 5)), (2, (3, 5, 9))],
    [(2, (7,))],
    [],
]


def resnet_inputs() -> torch.Tensor:
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))


def test_resnet50_logits_are_unchanged_and_maps_conserve_probability(resnet_classifier):
    inputs = resnet_inputs()
    with torch.no_grad():
        expected_logits = resnet_classifier.model(inputs)
    logits, maps = MWP().run(resnet_classifier, inputs, lambda _logits: RESNET_REQUESTS)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=0)
    # layer4 is 2×2 and layer3 4×4 at 64×64: bilinear upsampling keeps the mean, so the map's
    # sum is (64·64)/(h·w) times the pivot's total probability, 1.
    scale = {1: 64 * 64 / 4, 2: 64 * 64 / 16}
    for b, image_requests in enumerate(RESNET_REQUESTS):
        for stage, classes in image_requests:
            heatmap = maps[b][(stage, classes)]
            assert heatmap.shape == (64, 64)
            assert float(heatmap.sum()) / scale[stage] == pytest.approx(1.0, abs=1e-3)


def test_batch_with_per_image_targets_equals_each_image_alone(resnet_classifier):
    inputs = resnet_inputs()
    together = MWP().saliency(resnet_classifier, inputs, RESNET_REQUESTS)
    for b, image_requests in enumerate(RESNET_REQUESTS):
        alone = MWP().saliency(resnet_classifier, inputs[b : b + 1], [image_requests])[0]
        assert set(alone) == set(together[b]) == set(image_requests)
        for key, values in alone.items():
            torch.testing.assert_close(together[b][key], values, rtol=1e-5, atol=1e-7)


def reference_style_mwp(classifier, image, layer: str, classes: tuple[int, ...]) -> torch.Tensor:
    """The reference's recipe for one image and one target: forward, then ONE backward of the
    top signal P(c)/P(C) on c ∈ C from the logits, read at ``layer``, summed, upsampled."""
    with (
        torch.enable_grad(),
        capture_activations(classifier.model, {layer: classifier.layer(layer)}) as captured,
        ExcitationRules(),
    ):
        logits = classifier.model(image[None])
    probabilities = logits.detach().softmax(dim=-1)[0]
    top = torch.zeros_like(logits)
    top[0, list(classes)] = probabilities[list(classes)] / probabilities[list(classes)].sum()
    (signal,) = torch.autograd.grad(logits, captured[layer], top)
    summed = signal.sum(dim=1, keepdim=True)
    return F.interpolate(summed, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]


def test_compound_maps_equal_one_backward_of_the_reference_top_signal(resnet_classifier):
    # Ours mixes per-class maps by P(c)/P(C); the reference backpropagates that mixture itself.
    # Every rule is linear in the signal, so the two agree.
    inputs = resnet_inputs()
    maps = MWP().saliency(resnet_classifier, inputs, RESNET_REQUESTS)
    layers = {1: "layer4", 2: "layer3"}
    for b, image_requests in enumerate(RESNET_REQUESTS):
        for stage, classes in image_requests:
            expected = reference_style_mwp(resnet_classifier, inputs[b], layers[stage], classes)
            torch.testing.assert_close(maps[b][(stage, classes)], expected, rtol=1e-4, atol=1e-7)


def test_stage_one_and_two_read_different_layers(resnet_classifier):
    maps = MWP().saliency(resnet_classifier, resnet_inputs()[:1], [[(1, (1,)), (2, (1,))]])[0]
    assert not torch.allclose(maps[(1, (1,))] / 4, maps[(2, (1,))], atol=1e-3)


def test_layer_settings_override_the_classifier_pivots(resnet_classifier):
    explainer = MWP(MwpSettings(stage2_layer="layer4.0"))
    assert explainer.parameters(resnet_classifier) == {
        "stage1_layer": "layer4",
        "stage2_layer": "layer4.0",
    }
    maps = explainer.saliency(resnet_classifier, resnet_inputs()[:1], [[(2, (1,))]])[0]
    assert float(maps[(2, (1,))].sum()) / (64 * 64 / 4) == pytest.approx(1.0, abs=1e-3)


# -- cost and hygiene ---------------------------------------------------------------------------


def test_one_forward_and_one_backward_per_batch(resnet_classifier, monkeypatch):
    # Backward passes started by the explainer; the rules' transposes (torch.func.vjp) run
    # nested inside that one pass and are not counted.
    counts = {"forward": 0, "grad": 0}
    depth = [0]
    original_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        counts["grad"] += depth[0] == 0
        depth[0] += 1
        try:
            return original_grad(*args, **kwargs)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    handle = resnet_classifier.model.register_forward_pre_hook(
        lambda _m, _i: counts.update(forward=counts["forward"] + 1)
    )
    try:
        MWP().saliency(resnet_classifier, resnet_inputs(), RESNET_REQUESTS)
    finally:
        handle.remove()
    assert counts == {"forward": 1, "grad": 1}


def test_parameters_never_accumulate_gradients(resnet_classifier):
    MWP().saliency(resnet_classifier, resnet_inputs(), RESNET_REQUESTS)
    for parameter in resnet_classifier.model.parameters():
        assert parameter.grad is None


def test_works_under_no_grad_and_inference_mode(hand_classifier):
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            inputs = HAND_INPUT[None].clone()
            maps = MWP().saliency(hand_classifier, inputs, [[(1, (0,))]])[0]
        torch.testing.assert_close(maps[(1, (0,))], HAND_MWP[0], rtol=0, atol=1e-6)


def test_hooks_and_rules_are_removed_after_a_normal_run(resnet_classifier):
    MWP().saliency(resnet_classifier, resnet_inputs(), RESNET_REQUESTS)
    assert_no_hooks(resnet_classifier.model)
    assert_no_function_mode()


def test_hooks_and_rules_are_removed_when_a_module_raises_mid_pass():
    model = hand_model()
    model.insert(1, nn.ReLU())
    model.insert(2, Exploding())  # right after the pivot, inside the excitation pass
    classifier = make_classifier(model, 3, stage1="1", stage2="1")
    with pytest.raises(RuntimeError, match="module failed"):
        MWP().saliency(classifier, HAND_INPUT[None], [[(1, (0,))]])
    assert_no_hooks(model)
    assert_no_function_mode()


def test_hooks_are_removed_when_the_plan_raises(hand_classifier):
    def plan(_logits):
        raise RuntimeError("plan failed")

    with pytest.raises(RuntimeError, match="plan failed"):
        MWP().run(hand_classifier, HAND_INPUT[None], plan)
    assert_no_hooks(hand_classifier.model)
    assert_no_function_mode()


def test_rules_apply_only_in_the_thread_that_runs_them(hand_classifier):
    # While one thread is inside the excitation rules, another computes ordinary gradients.
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, -3.0]]))
    seen = {}

    def other_thread():
        x = torch.tensor([[1.0, 1.0]], requires_grad=True)
        (seen["grad"],) = torch.autograd.grad(layer(x).sum(), x)

    with ExcitationRules():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    torch.testing.assert_close(seen["grad"], torch.tensor([[2.0, -3.0]]))


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("stage1_layer", ""), ("stage2_layer", "  "), ("stage1_layer", 4)],
)
def test_bad_settings_raise_engine_input_error_naming_the_field(field, value):
    with pytest.raises(EngineInputError, match=field):
        MwpSettings(**{field: value})


def test_settings_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="MwpSettings"):
        MWP({"stage1_layer": "layer4"})


def test_unknown_layer_raises_engine_input_error_and_leaves_no_hooks(hand_classifier):
    with pytest.raises(EngineInputError, match="nope"):
        MWP(MwpSettings(stage1_layer="nope")).saliency(
            hand_classifier, HAND_INPUT[None], [[(1, (0,))]]
        )
    assert_no_hooks(hand_classifier.model)


def test_settings_round_trip_through_json_and_declare_the_contract(hand_classifier):
    settings = MwpSettings(stage1_layer="layer4", stage2_layer="layer4.0")
    assert MwpSettings(**json.loads(json.dumps(dataclasses.asdict(settings)))) == settings
    assert MWP.settings_type is MwpSettings
    assert isinstance(MWP.reference_settings(), MwpSettings)
    assert MWP.needs_gradients is True
    reference = MWP.reference_wox_options
    assert (reference.support_percentile, reference.normalize_base_maps) == (60.0, False)
    assert MWP.name == "mwp"
    assert MWP.description and "\n" not in MWP.description
    json.dumps(MWP().parameters(hand_classifier))


# -- the embedded EfficientNet-Lite0 (depthwise convs, BatchNorm, ReLU6, residual sums) --------


@pytest.mark.slow
def test_embedded_classifier_explains_chelsea_through_the_wox_pipeline():
    classifier = load_classifier(EMBEDDED_MODEL, device="cpu")
    photo = Image.open(bundled_photo("skimage", "chelsea.png")).convert("RGB")
    _, inputs = classifier.prepare([photo])
    with torch.no_grad():
        expected_logits = classifier.model(inputs)
    cats = (281, 282, 285)  # tabby, tiger cat, Egyptian cat: the top three
    requests = [[(stage, (c,)) for stage in (1, 2) for c in cats]]
    logits, maps = MWP().run(classifier, inputs, lambda _logits: requests)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=0)
    for c in cats:
        # stage 1 (_conv_head, 7×7) keeps all the probability; stage 2 (_blocks.10, 14×14)
        # loses what reaches depthwise kernels without a positive weight (block 15: 277 of
        # 1152), which have no excitatory child.
        assert float(maps[0][(1, (c,))].mean()) * 49 == pytest.approx(1.0, abs=1e-3)
        assert 0.05 < float(maps[0][(2, (c,))].mean()) * 196 < 1.0
    explanation = explain_batch(classifier, [photo], MWP(), ExplanationSettings())[0]
    assert set(explanation.methods) == set(method_names())
    assert {top.index for top in explanation.top_classes[:3]} == set(cats)
