"""Tests of explain_engine.metrics: hand-computed CAUC/CDROP for both definitions, batching.

The hand model sees a 4×4 image of ones and only the top-left row of 4 positions (flat
indices 0..3). With v_p = mean over channels of pixel p (1 if kept, 0 if deleted) and
D = number of deleted positions among 0..3, its logits are log u with
u = (1 + Σ_{p<4} v_p, 1 + (4 − Σ_{p<4} v_p), 2) = (5 − D, 1 + D, 2), so the softmax is u / 8.
Target c = 0, foil C′ = {1}: s = (5 − D)/8 · (1 − (1 + D)/8) = (5 − D)(7 − D)/64:
D = 0, 1, 2, 3, 4 → s = 35, 24, 15, 8, 3 (/64).

The heatmap H = [10, 9, 7, 6, 5.5, 2, 2, …, 2] deletes positions 0, 1, 2, … in that order, so
after d deletions D = min(d, 4). n = 16, τ = 0.05·16 = 0.8.
- paper: δ·max H = 5 → H ≥ 5 at positions 0..4 → n_δ = 5.
- reference: (H − 2)/8 ≥ 0.5 ⇔ H ≥ 6 → positions 0..3 → n_δ = 4.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.metrics import (
    CAUC,
    CDROP,
    METRICS,
    ContrastiveEvaluation,
    Metric,
    MetricSettings,
    count_salient,
    deletion_order,
    evaluate,
    evaluate_many,
)
from explain_engine.models import Classifier, Preprocessing

HEATMAP = torch.tensor([10.0, 9.0, 7.0, 6.0, 5.5] + [2.0] * 11).view(4, 4)
IMAGE = torch.ones(3, 4, 4)


class HandModel(nn.Module):
    """logits = log(5 − D, 1 + D, 2) for D = deleted mass among positions 0..3 (module doc)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = x.mean(dim=1).flatten(1)[:, :4].sum(dim=1)
        u = torch.stack([1.0 + kept, 1.0 + (4.0 - kept), torch.full_like(kept, 2.0)], dim=1)
        return u.log()


def settings(definition: str, step: int, **kwargs) -> MetricSettings:
    return MetricSettings(definition=definition, step=step, **kwargs)


def s(*values: float) -> list[float]:
    return [v / 64 for v in values]


# -- hand-computed values -----------------------------------------------------------------------


def test_paper_step1_matches_equations_4_and_5():
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("paper", 1))
    assert result.n_delta == 5
    # curve: d = 0..4 (r = 1..5), then d = n_δ = 5 for s(n_δ+1); D = min(d, 4).
    assert result.deletions.tolist() == [0, 1, 2, 3, 4, 5]
    assert result.curve.tolist() == pytest.approx(s(35, 24, 15, 8, 3, 3), abs=1e-6)
    # CAUC = (1/16) Σ_{r=1}^{5} s(r) = (35+24+15+8+3)/64/16 = 85/1024
    assert result.cauc == pytest.approx(85 / 1024, abs=1e-7)
    # CDROP = (s(1) − s(6)) / log2(1 + 5/0.8) = (32/64) / log2(7.25)
    assert result.cdrop == pytest.approx(0.5 / math.log2(7.25), abs=1e-7)
    assert result.tau == pytest.approx(0.8)


def test_paper_step2_weights_each_point_by_its_pixels_and_evaluates_s_at_n_delta_exactly():
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("paper", 2))
    assert result.deletions.tolist() == [0, 2, 4, 5]
    assert result.curve.tolist() == pytest.approx(s(35, 15, 3, 3), abs=1e-6)
    # points d = 0, 2, 4 weigh min(2, 5 − d) = 2, 2, 1 pixels: (2·35 + 2·15 + 1·3)/64/16
    assert result.cauc == pytest.approx(103 / 1024, abs=1e-7)
    # s(6) is evaluated at exactly 5 deletions: same CDROP as with k = 1
    assert result.cdrop == pytest.approx(0.5 / math.log2(7.25), abs=1e-7)


def test_reference_step1_uses_minmax_threshold_trapezoid_and_smoothed_drop():
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("reference", 1))
    assert result.n_delta == 4
    # m = 4 points d = 0..3 (one step short of deleting the 4 salient pixels)
    assert result.deletions.tolist() == [0, 1, 2, 3]
    assert result.curve.tolist() == pytest.approx(s(35, 24, 15, 8), abs=1e-6)
    # trapezoid (35+24)/2 + (24+15)/2 + (15+8)/2 = 60.5 (/64), over N = ⌈16/1⌉ = 16 steps
    assert result.cauc == pytest.approx(60.5 / 64 / 16, abs=1e-7)
    # s_0 − mean(24, 15, 8)/64 = 35/64 − 47/192 = 58/192, over log2(1 + 4/0.8) = log2(6)
    assert result.cdrop == pytest.approx(58 / 192 / math.log2(6), abs=1e-7)


def test_reference_step2():
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("reference", 2))
    # m = 4 // 2 = 2 points: d = 0, 2
    assert result.deletions.tolist() == [0, 2]
    assert result.curve.tolist() == pytest.approx(s(35, 15), abs=1e-6)
    # trapezoid (35 + 15)/2 = 25 (/64), over N = ⌈16/2⌉ = 8 steps
    assert result.cauc == pytest.approx(25 / 64 / 8, abs=1e-7)
    # only 2 points to smooth: mean(35, 15) = 25 → drop (35 − 25)/64, over log2(6)
    assert result.cdrop == pytest.approx(10 / 64 / math.log2(6), abs=1e-7)


def test_cauc_uses_minimum_n_delta_of_compared_heatmaps_and_cdrop_its_own():
    # second map: only positions 0 and 1 are ≥ 0.5·max → n_δ = 2 (both definitions)
    narrow = torch.tensor([4.0, 3.0] + [0.0] * 14).view(4, 4)
    wide, small = evaluate_many(HandModel(), IMAGE, [HEATMAP, narrow], 0, [1], settings("paper", 1))
    assert (wide.n_delta, small.n_delta) == (5, 2)
    assert wide.cauc_pixels == small.cauc_pixels == 2
    # both delete positions 0, 1 first: (35 + 24)/64/16
    assert wide.cauc == pytest.approx(59 / 1024, abs=1e-7)
    assert small.cauc == pytest.approx(59 / 1024, abs=1e-7)
    assert wide.cdrop == pytest.approx(0.5 / math.log2(7.25), abs=1e-7)
    # (s(1) − s(3)) / log2(1 + 2/0.8) = (35 − 15)/64 / log2(3.5)
    assert small.cdrop == pytest.approx(20 / 64 / math.log2(3.5), abs=1e-7)
    alone = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("paper", 1))
    assert alone.cauc == pytest.approx(85 / 1024, abs=1e-7)


def test_minimum_n_delta_reference_definition():
    narrow = torch.tensor([4.0, 3.0] + [0.0] * 14).view(4, 4)
    wide, _ = evaluate_many(HandModel(), IMAGE, [HEATMAP, narrow], 0, [1], settings("reference", 1))
    # 2 points d = 0, 1: trapezoid (35 + 24)/2 over 16 steps; CDROP keeps n_δ = 4
    assert wide.cauc == pytest.approx(29.5 / 64 / 16, abs=1e-7)
    assert wide.cdrop == pytest.approx(58 / 192 / math.log2(6), abs=1e-7)


def test_tau_clamps_the_penalty_when_few_pixels_are_salient():
    # τ = 0.5·16 = 8 > n_δ = 5 → log2(1 + 8/8) = 1: CDROP is the plain drop 32/64
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("paper", 1, tau_fraction=0.5))
    assert result.tau == 8.0
    assert result.cdrop == pytest.approx(0.5, abs=1e-7)


@pytest.mark.parametrize("definition", ["paper", "reference"])
@pytest.mark.parametrize("values", [torch.zeros(4, 4), -torch.arange(16.0).view(4, 4)])
def test_map_without_positive_values_has_no_salient_pixels_and_nan_scores(definition, values):
    narrow = torch.tensor([4.0, 3.0] + [0.0] * 14).view(4, 4)
    empty, other = evaluate_many(
        HandModel(), IMAGE, [values, narrow], 0, [1], settings(definition, 1)
    )
    assert empty.n_delta == 0 and empty.degenerate
    assert math.isnan(empty.cauc) and math.isnan(empty.cdrop)
    assert empty.curve.tolist() == pytest.approx(s(35), abs=1e-6)
    # a degenerate map does not pull the comparison's n_δ down to 0
    assert other.cauc_pixels == 2 and not math.isnan(other.cauc)


def test_ties_are_deleted_in_pixel_index_order():
    values = torch.tensor([1.0, 3.0, 3.0, 0.0, 3.0, 1.0]).view(2, 3)
    assert deletion_order(values).tolist() == [1, 2, 4, 0, 5, 3]


def test_count_salient_definitions():
    assert count_salient(HEATMAP, 0.5, "paper") == 5
    assert count_salient(HEATMAP, 0.5, "reference") == 4
    assert count_salient(torch.full((2, 2), 3.0), 0.5, "paper") == 4
    assert count_salient(torch.full((2, 2), 3.0), 0.5, "reference") == 0


# -- directions ---------------------------------------------------------------------------------


def test_metrics_declare_their_direction():
    assert CAUC.direction == "lower" and CDROP.direction == "higher"
    assert CAUC.better(0.1, 0.2) and not CAUC.better(0.2, 0.1)
    assert CDROP.better(0.2, 0.1) and not CDROP.better(0.1, 0.2)
    assert {m.name for m in METRICS} == {"cauc", "cdrop"}
    result = evaluate(HandModel(), IMAGE, HEATMAP, 0, [1], settings("paper", 1))
    assert isinstance(result, ContrastiveEvaluation)
    assert all(isinstance(m, Metric) for m in result.scores())
    assert result.scores()[CAUC] == result.cauc


# -- batched vs a step-by-step loop -------------------------------------------------------------


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )
    return model.eval()


def loop_curve(model, image, heatmap, deletions, target, foil):
    """First principles: sort pixels one by one, delete, classify each image alone."""
    width = heatmap.shape[1]
    flat = heatmap.reshape(-1).tolist()
    order = sorted(range(len(flat)), key=lambda p: (-flat[p], p))
    scores = []
    with torch.no_grad():
        for d in deletions:
            x = image.clone()
            for p in order[:d]:
                x[:, p // width, p % width] = 0.0
            prob = model(x[None]).softmax(dim=-1)[0]
            scores.append(float(prob[target] * (1 - sum(prob[f] for f in foil))))
    return scores


def loop_metrics(curve, deletions, n_delta, cauc_pixels, n, step, definition, tau):
    """CAUC/CDROP written out from the module docstring's definitions."""
    at = dict(zip(deletions, curve, strict=True))
    penalty = math.log2(1 + max(n_delta, tau) / tau)
    if definition == "paper":
        cauc = sum(at[d] * min(step, cauc_pixels - d) for d in range(0, cauc_pixels, step)) / n
        return cauc, (at[0] - at[n_delta]) / penalty
    used = [at[i * step] for i in range(max(cauc_pixels // step, 1))]
    cauc = sum((used[i] + used[i + 1]) / 2 for i in range(len(used) - 1)) / math.ceil(n / step)
    own = [at[i * step] for i in range(max(n_delta // step, 1))][-3:]
    return cauc, (at[0] - sum(own) / len(own)) / penalty


@pytest.mark.parametrize("definition", ["paper", "reference"])
@pytest.mark.parametrize("step", [1, 3])
def test_batched_equals_step_by_step_loop_on_a_random_cnn(definition, step):
    model = small_cnn()
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(3, 10, 10, generator=generator)
    # quantised values → many ties; one map all-positive, one sparse
    maps = [
        (torch.rand(10, 10, generator=generator) * 6).round(),
        torch.relu(torch.randn(10, 10, generator=generator)).round(decimals=1),
    ]
    target, foil = 2, (0, 4)
    results = evaluate_many(
        model, image, maps, target, foil, settings(definition, step, batch_size=7)
    )
    cauc_pixels = min(r.n_delta for r in results)
    assert len({r.n_delta for r in results}) == 2  # one map's curve is cut at the other's n_δ
    for heatmap, result in zip(maps, results, strict=True):
        # the whole curve, one image at a time; the scores from it must equal the batched ones,
        # which evaluate only the points the scores use
        everything = list(range(result.n_delta + 1))
        full = loop_curve(model, image, heatmap, everything, target, foil)
        cauc, cdrop = loop_metrics(
            full, everything, result.n_delta, cauc_pixels, 100, step, definition, 5.0
        )
        assert result.cauc == pytest.approx(cauc, abs=1e-6)
        assert result.cdrop == pytest.approx(cdrop, abs=1e-6)
        deletions = result.deletions.tolist()
        expected = [full[d] for d in deletions]
        assert torch.allclose(result.curve.double(), torch.tensor(expected).double(), atol=1e-6)
        if definition == "paper":
            assert deletions == [*range(0, cauc_pixels, step), result.n_delta]
        else:
            own = max(result.n_delta // step, 1)
            needed = {*range(max(cauc_pixels // step, 1)), 0, *range(max(own - 3, 0), own)}
            assert deletions == sorted(i * step for i in needed)


def test_batch_size_does_not_change_results_and_classifier_is_accepted():
    model = small_cnn(3)
    classifier = Classifier(
        "tiny", model, Preprocessing(), tuple("abcde"), "0", "2", torch.device("cpu")
    )
    image = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    heatmap = torch.rand(8, 8, generator=torch.Generator().manual_seed(3))
    one = evaluate(classifier, image, heatmap, 1, [3], settings("paper", 2, batch_size=1))
    many = evaluate(classifier, image, heatmap, 1, [3], settings("paper", 2, batch_size=64))
    assert torch.allclose(one.curve, many.curve, atol=1e-6)
    assert one.cauc == pytest.approx(many.cauc, abs=1e-7)


# -- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heatmap", "target", "foil", "message"),
    [
        (torch.zeros(4, 5), 0, [1], "expected the image's spatial shape"),
        (torch.full((4, 4), math.nan), 0, [1], "NaN or infinite"),
        (HEATMAP, 3, [1], "target class 3: out of range"),
        (HEATMAP, -1, [1], "target class -1: out of range"),
        (HEATMAP, 0, [], "foil: empty"),
        (HEATMAP, 0, [1, 7], "foil class 7: out of range"),
        (HEATMAP, 0, [0, 1], "shares \\[0\\] with the target"),
    ],
)
def test_bad_inputs_raise_one_line_engine_errors(heatmap, target, foil, message):
    with pytest.raises(EngineInputError, match=message) as error:
        evaluate(HandModel(), IMAGE, heatmap, target, foil, settings("paper", 1))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"definition": "other"},
        {"delta": 0.0},
        {"tau_fraction": 2.0},
        {"step": 0},
        {"batch_size": 0},
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(EngineInputError, match="metric"):
        MetricSettings(**kwargs)


def test_bad_image_shape_raises():
    with pytest.raises(EngineInputError, match="expected a normalised"):
        evaluate(HandModel(), torch.ones(1, 4, 4), HEATMAP, 0, [1])
    with pytest.raises(EngineInputError, match="none given"):
        evaluate_many(HandModel(), IMAGE, [], 0, [1])


def test_compound_target_sums_its_class_probabilities():
    # target {0, 2}: P = (5 − D + 2)/8, foil {1}: s = (7 − D)/8 · (7 − D)/8 → 49, 36 (/64)
    result = evaluate(HandModel(), IMAGE, HEATMAP, [2, 0], [1], settings("paper", 1))
    assert result.target == (0, 2)
    assert result.curve.tolist()[:2] == pytest.approx(s(49, 36), abs=1e-6)
