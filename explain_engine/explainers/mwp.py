"""MWP: marginal winning probability by excitation backprop (Zhang et al., 2018), batched.

Excitation backprop propagates a probability distribution top-down through the network. A
neuron a_i of one layer wins its parent a_j of the layer above with probability
P(a_i|a_j) = a_i w⁺_ij / Σ_i' a_i' w⁺_i'j (w⁺ = max(w, 0): only excitatory connections), and
its marginal winning probability is P(a_i) = Σ_j P(a_i|a_j) P(a_j). Starting from a prior
over the output units, the MWP of a layer is again a distribution (it sums to 1). For a
linear layer (Linear, Conv, average pooling) this is a modified backward pass:
MWP_in = a ⊙ W⁺ᵀ (MWP_out / (W⁺ a + ε)), without the bias.

What the public reference code does (vaynexie/CWOX, ``CWOX/excitationbackprop_cwox.py`` and
``CWOX/base_explainer/attribution/excitation_backprop.py``, a copy of TorchRay's), and so here:

- Compound target C: the prior at the logits is P(c)/P(C) on each c ∈ C, 0 elsewhere — the
  gradient of z_C = logsumexp_{c∈C} z_c with respect to the logits (the README's "generalized
  logit"). Plain MWP, not the contrastive variant (c-MWP) of the paper.
- Rules: Conv/Linear as above (ε = 1e-20, bias dropped); average and adaptive average pooling
  by the same rule with their uniform weights (here also ``mean``, the same operation);
  BatchNorm passes the signal unchanged; ReLU and max pooling use their ordinary gradient
  (the winner of a max pool takes all); a residual sum s = a + b splits it in proportion,
  MWP_a = (a / s) ⊙ MWP_s (``update_resnet``).
- The map is the MWP at the output of the pivot layer, summed over channels (no ReLU), and
  upsampled bilinearly to the input size. Reference layers (ResNet50): ``layer4`` for the
  clusters and ``layer4.0`` (its ReLU's last call: the block output) for the classes; pass
  ``stage2_layer="layer4.0"`` for that. By default this module reads the classifier's pivots.

Where this module differs, on inputs the reference code never saw: a conv, pooling or residual
input is clamped to a⁺ = max(a, 0) before the rule divides (TorchRay assumes non-negative
inputs; in ResNet50 every such input above the stem is a ReLU output, so nothing changes
there, but MobileNet-style linear bottlenecks such as EfficientNet-Lite0's block outputs are
signed), and ReLU6/hardtanh pass the signal unchanged (their gradient would drop the MWP of
saturated units, which a ReLU never has). Squeeze-excitation gates and other operations use
their ordinary gradient. Probability is lost where a winning unit has no excitatory input
(W⁺a = 0): on EfficientNet-Lite0 its depthwise kernels without a positive weight (277 of 1152
in block 15) leave about a fifth of the probability for ``_blocks.10``, all of it for
``_conv_head``. Maps of one stage share their scale; maps of two stages need not.

How: a :class:`torch.overrides.TorchFunctionMode` (thread-local; nothing global is patched)
is active during the one forward pass of the batch and wraps each rule-bearing operation
whose input is part of the graph — everything above the earliest pivot, which is cut from its
past as in Grad-CAM — in an autograd function whose forward is the layer's own output and
whose backward is the excitation rule. Every rule is linear in the signal, so, as in
Grad-CAM, ONE batched backward pass gives the MWP of each distinct top class of every image,
and a compound's map is the convex combination Σ_{c∈C} P(c)/P(C) · MWP_c (exact).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import (
    BaseExplainer,
    Plan,
    SaliencyMaps,
    validate_requests,
)
from explain_engine.explainers.gradcam import (
    capture_activations,
    class_gradients,
    compound_weights,
)
from explain_engine.models import Classifier
from explain_engine.registry import register_explainer
from explain_engine.wox import WoxOptions

#: Added to W⁺a before dividing (the reference's value).
EPSILON = 1e-20

Rule = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class MwpSettings:
    """Where the maps are read: the classifier's stage pivots unless a layer is named here.

    Attributes:
        stage1_layer: dotted module name for cluster maps and one-stage methods, or None.
        stage2_layer: dotted module name for CWOX-2s class maps, or None.
    """

    stage1_layer: str | None = None
    stage2_layer: str | None = None

    def __post_init__(self) -> None:
        for name in ("stage1_layer", "stage2_layer"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise EngineInputError(
                    f"MWP: {name}={value!r} (expected a module name such as 'layer4', or None)"
                )


@register_explainer("mwp", order=20)
class MWP(BaseExplainer):
    """Marginal winning probability (excitation backprop) at the stage pivot layers."""

    settings_type = MwpSettings
    needs_gradients = True
    description = "MWP: excitation backprop, winning probabilities at the pivots"
    #: How the reference combines MWP maps: stage-2 support at the 60th percentile of the
    #: cluster map (README example, ``delta=60``), base maps not normalised.
    reference_wox_options = WoxOptions(
        contrast="pairwise", support="percentile", support_percentile=60.0
    )
    settings: MwpSettings

    @classmethod
    def reference_settings(cls) -> MwpSettings:
        """The reference's rules at the classifier's pivots (its ResNet50 stage-2 layer,
        ``layer4.0``, is specific to that model; see the module docstring)."""
        return MwpSettings()

    def layers(self, classifier: Classifier) -> dict[int, str]:
        """Stage → layer whose output MWP is read."""
        return {
            1: self.settings.stage1_layer or classifier.stage1_layer,
            2: self.settings.stage2_layer or classifier.stage2_layer,
        }

    def parameters(self, classifier: Classifier) -> dict:
        layers = self.layers(classifier)
        return {**asdict(self.settings), "stage1_layer": layers[1], "stage2_layer": layers[2]}

    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        if torch.is_inference_mode_enabled():  # inference tensors cannot join a graph
            with torch.inference_mode(False):
                return self.run(classifier, inputs.clone(), plan)
        stage_layers = self.layers(classifier)
        modules = {name: classifier.layer(name) for name in set(stage_layers.values())}
        with (
            torch.enable_grad(),
            capture_activations(classifier.model, modules) as activations,
            ExcitationRules(),
        ):
            logits = classifier.model(inputs)
        requests = plan(logits.detach())
        validate_requests(requests, len(inputs), logits.shape[-1])
        pivots = sorted({stage_layers[stage] for image in requests for stage, _ in image})
        classes = [sorted({c for _, compound in image for c in compound}) for image in requests]
        class_maps = {}
        if pivots:
            with torch.enable_grad():  # the logits must join the graph under a no_grad caller
                signals = class_gradients(logits, classes, [activations[p] for p in pivots])
            for pivot, signal in zip(pivots, signals, strict=True):
                # (J, B, K, h, w) → (J, B, H, W): each class's MWP summed over channels,
                # upsampled (linear, so mixing classes before or after is the same)
                summed = signal.sum(dim=2)
                class_maps[pivot] = F.interpolate(
                    summed, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False
                )
        logits = logits.detach()
        return logits, [
            {
                (stage, compound): _mix(
                    logits[b], classes[b], compound, class_maps[stage_layers[stage]][:, b]
                )
                for stage, compound in image
            }
            for b, image in enumerate(requests)
        ]


def _mix(
    logits: torch.Tensor, classes: list[int], compound: tuple[int, ...], maps: torch.Tensor
) -> torch.Tensor:
    """Σ_{c∈C} P(c)/P(C) · MWP_c from the (J, H, W) maps of ``classes`` of one image."""
    flat = compound_weights(logits, classes, compound, maps.flatten(1))
    return flat.reshape(maps.shape[1:])


class _ExcitationStep(torch.autograd.Function):
    """Forward: a layer's own output. Backward: ``rule(signal)``, one tensor per input."""

    generate_vmap_rule = True  # the rules are pure tensor functions: batched backward works

    @staticmethod
    def forward(output: torch.Tensor, rule: Rule, *inputs: torch.Tensor) -> torch.Tensor:
        return output.clone()

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.rule = inputs[1]

    @staticmethod
    def backward(ctx, signal: torch.Tensor) -> tuple:
        return (None, None, *ctx.rule(signal))


def _split(args: tuple, kwargs: dict) -> tuple[torch.Tensor, tuple, dict]:
    """(input, other positional arguments, keyword arguments) of a functional call."""
    if args:
        return args[0], args[1:], kwargs
    rest = dict(kwargs)
    return rest.pop("input"), (), rest


def _excite(layer: Callable[[torch.Tensor], torch.Tensor], source: torch.Tensor) -> Rule:
    """The rule MWP_in = a⁺ ⊙ Lᵀ(MWP_out / (L a⁺ + ε)) of a linear map L with L ≥ 0."""
    positive_input = source.detach().clamp_min(0)
    response, transpose = torch.func.vjp(layer, positive_input)
    return lambda signal: (positive_input * transpose(signal / (response + EPSILON))[0],)


def _weighted_layer(func: Callable, args: tuple, kwargs: dict) -> tuple[torch.Tensor, Rule]:
    """Conv/Linear: the rule with W⁺ and no bias."""
    source, rest, kwargs = _split(args, kwargs)
    kwargs = dict(kwargs)
    weight = rest[0] if rest else kwargs.pop("weight")
    positive = weight.detach().clamp_min(0)
    options = rest[2:]  # after weight and bias: stride, padding, ... (conv)
    kwargs.pop("bias", None)
    return source, _excite(lambda x: func(x, positive, None, *options, **kwargs), source)


def _pooling(func: Callable, args: tuple, kwargs: dict) -> tuple[torch.Tensor, Rule]:
    """Average pooling and means: the rule with their own (uniform, positive) weights."""
    source, rest, kwargs = _split(args, kwargs)
    return source, _excite(lambda x: func(x, *rest, **kwargs), source)


def _pass_through(func: Callable, args: tuple, kwargs: dict) -> tuple[torch.Tensor, Rule]:
    """BatchNorm, ReLU6/hardtanh: the signal reaches the input unchanged."""
    source, _, _ = _split(args, kwargs)
    return source, lambda signal: (signal,)


_WEIGHTED = (F.conv1d, F.conv2d, F.conv3d, F.linear)
_POOLING = (
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    torch.mean,
    torch.Tensor.mean,
)
_PASS_THROUGH = (F.batch_norm, F.hardtanh, F.relu6)
_SUMS = (torch.Tensor.add, torch.Tensor.add_, torch.add)
#: Position of the ``inplace`` argument of the pass-through activations.
_INPLACE_POSITION = {F.hardtanh: 3, F.relu6: 1}
_RULES: dict[Callable, Callable] = {
    **dict.fromkeys(_WEIGHTED, _weighted_layer),
    **dict.fromkeys(_POOLING, _pooling),
    **dict.fromkeys(_PASS_THROUGH, _pass_through),
}


class ExcitationRules(TorchFunctionMode):
    """While active (in this thread), operations on graph tensors backpropagate MWP.

    Operations whose input does not require grad (below the earliest pivot) run unchanged.
    Forward values are exactly the layers' own outputs.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SUMS:
            return _residual_sum(func, args, kwargs)
        make_rule = _RULES.get(func)
        if make_rule is None:
            return func(*args, **kwargs)
        source, _, _ = _split(args, kwargs)
        if not (isinstance(source, torch.Tensor) and source.requires_grad):
            return func(*args, **kwargs)
        if func in _INPLACE_POSITION:  # the rule needs the input as it was
            args, kwargs = args[: _INPLACE_POSITION[func]], {**kwargs, "inplace": False}
        with torch.no_grad():
            output = func(*args, **kwargs)
        source, rule = make_rule(func, args, kwargs)
        return _ExcitationStep.apply(output, rule, source)


def _residual_sum(func: Callable, args: tuple, kwargs: dict) -> torch.Tensor:
    """s = a + b of two same-shape graph tensors: MWP_a = a⁺/(a⁺ + b⁺) ⊙ MWP_s, same for b.

    Other additions (broadcast biases, scaled sums, constants) run unchanged. ``a += b``
    (``add_``) keeps its in-place meaning: the result is copied into ``a``.
    """
    if kwargs or len(args) != 2:
        return func(*args, **kwargs)
    first, second = args
    if not (
        isinstance(first, torch.Tensor)
        and isinstance(second, torch.Tensor)
        and first.shape == second.shape
        and (first.requires_grad or second.requires_grad)
    ):
        return func(*args, **kwargs)
    with torch.no_grad():
        output = first + second
        positive_first, positive_second = first.clamp_min(0), second.clamp_min(0)
        total = positive_first + positive_second
        share_first = torch.where(total > 0, positive_first / total, 0.0)
        share_second = torch.where(total > 0, positive_second / total, 0.0)
    summed = _ExcitationStep.apply(
        output,
        lambda signal: (signal * share_first, signal * share_second),
        first,
        second,
    )
    if func is torch.Tensor.add_:
        return first.copy_(summed)
    return summed
