"""Tests of explain_engine.explainers.rise: masks, exact maps, shared passes, batching.

The fast path is compared with a brute-force reference built from first principles: the same
masks (``generate_masks``), each masked image classified on its own, and the RISE sum
Σ_i P[i, c]·M_i / (N·p) written out.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explainers.rise import RISE, RiseSettings, RiseStages, generate_masks
from explain_engine.models import Classifier, Preprocessing

CPU = torch.device("cpu")
SIZE = (8, 8)
NUM_CLASSES = 4


def all_masks(settings: RiseSettings, size=SIZE, chunk_size: int = 16) -> torch.Tensor:
    return torch.cat(list(generate_masks(settings, size, CPU, chunk_size)))


# -- masks --------------------------------------------------------------------------------------


def test_masks_come_in_chunks_of_the_requested_size_with_values_in_unit_interval():
    settings = RiseSettings(num_masks=70, grid=3, keep_probability=0.4, seed=3)
    chunks = list(generate_masks(settings, (8, 10), CPU, chunk_size=16))
    assert [len(chunk) for chunk in chunks] == [16, 16, 16, 16, 6]
    for chunk in chunks:
        assert chunk.shape[1:] == (8, 10)
        assert chunk.dtype == torch.float32
        assert chunk.min() >= 0.0
        assert chunk.max() <= 1.0


def test_same_seed_gives_the_same_masks_and_another_seed_different_masks():
    settings = RiseSettings(num_masks=40, grid=4, keep_probability=0.5, seed=11)
    first = all_masks(settings)
    again = all_masks(settings)
    other = all_masks(RiseSettings(num_masks=40, grid=4, keep_probability=0.5, seed=12))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # blocks are seeded per index: no two blocks repeat each other
    assert not torch.equal(first[:16], first[16:32])


def test_masks_do_not_depend_on_the_chunk_size():
    settings = RiseSettings(num_masks=53, grid=4, keep_probability=0.5, seed=2)
    reference = all_masks(settings, chunk_size=16)
    for chunk_size in (1, 7, 16, 40, 100):
        assert torch.equal(all_masks(settings, chunk_size=chunk_size), reference)


def test_mean_of_many_masks_is_the_keep_probability():
    # Every mask pixel is a convex combination of Bernoulli(p) cells, so E[M] = p everywhere.
    settings = RiseSettings(num_masks=2000, grid=4, keep_probability=0.3, seed=0)
    masks = all_masks(settings, size=(16, 16), chunk_size=500)
    assert masks.shape == (2000, 16, 16)
    assert abs(float(masks.mean()) - 0.3) < 0.02
    per_pixel = masks.mean(dim=0)
    assert float((per_pixel - 0.3).abs().max()) < 0.06


def test_masks_are_smooth_upsampled_grids_not_pixel_noise():
    # A 2×2 grid on 8×8 pixels: cells 4 px wide, so neighbouring pixels differ by at most the
    # bilinear step between two cells (1/4 of a cell's 0/1 jump).
    masks = all_masks(RiseSettings(num_masks=50, grid=2, keep_probability=0.5, seed=1))
    assert float((masks[:, :, 1:] - masks[:, :, :-1]).abs().max()) <= 0.25 + 1e-6
    assert float((masks[:, 1:, :] - masks[:, :-1, :]).abs().max()) <= 0.25 + 1e-6


def test_keep_probability_one_keeps_every_pixel():
    masks = all_masks(RiseSettings(num_masks=10, grid=3, keep_probability=1.0))
    assert torch.equal(masks, torch.ones_like(masks))


@pytest.mark.parametrize(
    "kwargs",
    [{"num_masks": 0}, {"grid": 0}, {"keep_probability": 0.0}, {"keep_probability": 1.5}],
)
def test_invalid_mask_settings_raise_engine_input_error(kwargs):
    with pytest.raises(EngineInputError):
        RiseSettings(**kwargs)


# -- tiny classifiers ----------------------------------------------------------------------------


class Recorder(nn.Module):
    """Identity that remembers every batch it sees (the model's inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return x


def tiny_model() -> nn.Sequential:
    torch.manual_seed(99)
    return nn.Sequential(
        Recorder(),
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, NUM_CLASSES),
    )


@pytest.fixture
def classifier() -> Classifier:
    model = tiny_model().eval().requires_grad_(False)
    return Classifier(
        name="tiny",
        model=model,
        preprocessing=Preprocessing(resize=8, crop=8, mean=(0, 0, 0), std=(1, 1, 1)),
        class_names=tuple(f"c{i}" for i in range(NUM_CLASSES)),
        stage1_layer="2",
        stage2_layer="4",
        device=CPU,
    )


def make_inputs(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, *SIZE, generator=torch.Generator().manual_seed(5))


STAGE1 = RiseSettings(num_masks=24, grid=3, keep_probability=0.4, seed=2)
STAGE2 = RiseSettings(num_masks=20, grid=4, keep_probability=0.2, seed=9)


def brute_force_probabilities(
    classifier: Classifier, image: torch.Tensor, settings: RiseSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks (N, H, W) and P(· | image·M_i) (N, num_classes), one masked image at a time."""
    masks = all_masks(settings, size=tuple(image.shape[-2:]), chunk_size=16)
    with torch.no_grad():
        probabilities = torch.stack(
            [classifier.model((image * mask)[None]).softmax(dim=-1)[0] for mask in masks]
        )
    return masks, probabilities


def brute_force_rise(
    masks: torch.Tensor, probabilities: torch.Tensor, settings: RiseSettings, classes: tuple
) -> torch.Tensor:
    """Σ_i P(C | image·M_i)·M_i / (N·p), written out as a loop over the masks."""
    total = torch.zeros(masks.shape[-2:], dtype=torch.float64)
    for mask, row in zip(masks, probabilities, strict=True):
        total += float(row[list(classes)].sum()) * mask.double()
    return (total / (settings.num_masks * settings.keep_probability)).float()


# -- maps ----------------------------------------------------------------------------------------


def test_maps_equal_a_brute_force_one_mask_at_a_time_reference(classifier):
    inputs = make_inputs(2)
    requests = [[(1, (0,)), (1, (1, 3)), (2, (2,))], [(2, (0, 1)), (1, (3,))]]
    explainer = RISE(RiseStages(STAGE1, STAGE2, offset="raw"), chunk_size=16)
    maps = explainer.saliency(classifier, inputs, requests)
    for b, image_requests in enumerate(requests):
        assert set(maps[b]) == set(image_requests)
        passes = {
            stage: brute_force_probabilities(classifier, inputs[b], settings)
            for stage, settings in ((1, STAGE1), (2, STAGE2))
        }
        for stage, classes in image_requests:
            settings = STAGE1 if stage == 1 else STAGE2
            expected = brute_force_rise(*passes[stage], settings, classes)
            assert maps[b][(stage, classes)].shape == SIZE
            torch.testing.assert_close(maps[b][(stage, classes)], expected, rtol=0, atol=1e-5)


def test_cluster_map_equals_the_sum_of_its_class_maps(classifier):
    requests = [[(1, (0,)), (1, (2,)), (1, (3,)), (1, (0, 2, 3))]]
    maps = RISE(RiseStages(STAGE1, STAGE2), chunk_size=32).saliency(
        classifier, make_inputs(1), requests
    )[0]
    total = maps[(1, (0,))] + maps[(1, (2,))] + maps[(1, (3,))]
    torch.testing.assert_close(maps[(1, (0, 2, 3))], total, rtol=0, atol=1e-5)


def test_all_class_maps_sum_to_the_mean_mask_over_p(classifier):
    # Σ_c P[i, c] = 1, so the compound of every class gives Σ_i M_i / (N·p).
    every = tuple(range(NUM_CLASSES))
    maps = RISE(RiseStages(STAGE1, STAGE2, offset="raw"), chunk_size=32).saliency(
        classifier, make_inputs(1), [[(1, every)]]
    )[0]
    masks = all_masks(STAGE1, chunk_size=32)  # the same chunking gives the same masks
    expected = masks.sum(dim=0) / (STAGE1.num_masks * STAGE1.keep_probability)
    torch.testing.assert_close(maps[(1, every)], expected, rtol=0, atol=1e-5)


def test_keeping_every_pixel_gives_the_class_probability_everywhere(classifier):
    settings = RiseSettings(num_masks=5, grid=2, keep_probability=1.0)
    inputs = make_inputs(1)
    maps = RISE(RiseStages(settings, settings, offset="raw"), chunk_size=2).saliency(
        classifier, inputs, [[(1, (1,)), (2, (0, 3))]]
    )[0]
    with torch.no_grad():
        probabilities = classifier.model(inputs).softmax(dim=-1)[0]
    torch.testing.assert_close(maps[(1, (1,))], probabilities[1].expand(SIZE))
    torch.testing.assert_close(
        maps[(2, (0, 3))], (probabilities[0] + probabilities[3]).expand(SIZE)
    )


def test_masked_pixels_take_the_normalised_value_zero(classifier):
    inputs = make_inputs(1) + 3.0  # no input pixel is 0 by chance
    recorder = classifier.model[0]
    settings = RiseSettings(num_masks=20, grid=2, keep_probability=0.3, seed=4)
    RISE(RiseStages(settings, settings), chunk_size=8).saliency(classifier, inputs, [[(1, (0,))]])
    unmasked, *masked = recorder.seen
    torch.testing.assert_close(unmasked, inputs)
    masks = list(generate_masks(settings, SIZE, CPU, chunk_size=8))
    assert len(masked) == len(masks) == 3
    for batch, chunk in zip(masked, masks, strict=True):
        torch.testing.assert_close(batch, inputs * chunk[:, None], rtol=0, atol=0)
        removed = (chunk == 0)[:, None].expand_as(batch)
        assert removed.any()
        assert torch.equal(batch[removed], torch.zeros(int(removed.sum())))


def test_same_settings_give_identical_maps_on_every_run(classifier):
    # Equal settings must give bit-identical maps (masks do not depend on the chunk size).
    inputs = make_inputs(1)
    requests = [[(1, (0,)), (2, (1, 2))]]
    explainer = RISE(RiseStages(STAGE1, STAGE2), chunk_size=16)
    first = explainer.saliency(classifier, inputs, requests)[0]
    second = explainer.saliency(classifier, inputs, requests)[0]
    for key in first:
        assert torch.equal(first[key], second[key])


# -- passes and batching -------------------------------------------------------------------------


@pytest.fixture
def forward_calls(classifier):
    calls = []
    handle = classifier.model.register_forward_pre_hook(
        lambda _module, args: calls.append(len(args[0]))
    )
    yield calls
    handle.remove()


def test_stages_with_identical_settings_share_one_masked_pass(classifier, forward_calls):
    settings = RiseSettings(num_masks=50, grid=3, keep_probability=0.3, seed=1)
    requests = [[(1, (0,)), (2, (0,)), (1, (1, 2)), (2, (3,))], [(2, (1,))], [(1, (2,))]]
    explainer = RISE(RiseStages(settings, settings), chunk_size=16)
    maps = explainer.saliency(classifier, make_inputs(3), requests)
    chunks = math.ceil(50 / 16)
    assert len(forward_calls) == 1 + 3 * chunks
    assert forward_calls[0] == 3  # the unmasked batch
    assert sorted(forward_calls[1:]) == sorted([16, 16, 16, 2] * 3)
    # same masks at both stages: the stage-1 and stage-2 maps of a class are the same
    torch.testing.assert_close(maps[0][(1, (0,))], maps[0][(2, (0,))], rtol=0, atol=0)


def test_stages_with_different_settings_make_one_pass_each(classifier, forward_calls):
    requests = [[(1, (0,)), (2, (0,))], [(2, (1,))]]
    RISE(RiseStages(STAGE1, STAGE2), chunk_size=16).saliency(classifier, make_inputs(2), requests)
    stage1_chunks, stage2_chunks = math.ceil(24 / 16), math.ceil(20 / 16)
    # image 0 needs both stages, image 1 only stage 2
    assert len(forward_calls) == 1 + (stage1_chunks + stage2_chunks) + stage2_chunks


def test_images_without_requests_get_no_masked_pass(classifier, forward_calls):
    maps = RISE(RiseStages(STAGE1, STAGE2), chunk_size=32).saliency(
        classifier, make_inputs(2), [[], []]
    )
    assert maps == [{}, {}]
    assert forward_calls == [2]


def test_a_batch_equals_each_image_alone(classifier):
    inputs = make_inputs(3)
    requests = [[(1, (0,)), (2, (1, 3))], [(2, (2,))], [(1, (0, 1)), (1, (3,)), (2, (0,))]]
    explainer = RISE(RiseStages(STAGE1, STAGE2), chunk_size=32)
    together = explainer.saliency(classifier, inputs, requests)
    for b, image_requests in enumerate(requests):
        alone = explainer.saliency(classifier, inputs[b : b + 1], [image_requests])[0]
        assert set(alone) == set(together[b])
        for key, values in alone.items():
            torch.testing.assert_close(together[b][key], values, rtol=0, atol=1e-6)


def test_run_returns_the_unmasked_logits(classifier):
    inputs = make_inputs(2)
    logits, _ = RISE(RiseStages(STAGE1, STAGE2), chunk_size=32).run(
        classifier, inputs, lambda _logits: [[(1, (0,))], []]
    )
    with torch.no_grad():
        torch.testing.assert_close(logits, classifier.model(inputs))


def test_out_of_range_class_raises_engine_input_error(classifier):
    with pytest.raises(EngineInputError):
        RISE(RiseStages(STAGE1, STAGE2)).saliency(
            classifier, make_inputs(1), [[(1, (NUM_CLASSES,))]]
        )


def test_parameters_report_both_stages_but_not_the_chunk_size(classifier):
    # The chunk size does not change the maps, so it is not a parameter of the result.
    parameters = RISE(RiseStages(STAGE1, STAGE2), chunk_size=16).parameters(classifier)
    assert parameters == {
        "stage1": {"num_masks": 24, "grid": 3, "keep_probability": 0.4, "seed": 2},
        "stage2": {"num_masks": 20, "grid": 4, "keep_probability": 0.2, "seed": 9},
        "offset": "centred",
    }


# -- offset: raw and centred maps ----------------------------------------------------------------


def test_centred_map_is_the_raw_map_minus_the_mean_score_over_the_masks(classifier):
    inputs = make_inputs(2)
    requests = [[(1, (0,)), (2, (1, 3))], [(1, (2,))]]
    centred = RISE(RiseStages(STAGE1, STAGE2, offset="centred"), chunk_size=16)
    maps = centred.saliency(classifier, inputs, requests)
    for b, image_requests in enumerate(requests):
        for stage, classes in image_requests:
            settings = STAGE1 if stage == 1 else STAGE2
            masks, probabilities = brute_force_probabilities(classifier, inputs[b], settings)
            raw = brute_force_rise(masks, probabilities, settings, classes)
            mean_score = float(probabilities[:, list(classes)].sum(dim=1).mean())
            torch.testing.assert_close(
                maps[b][(stage, classes)], raw - mean_score, rtol=0, atol=1e-5
            )


def test_centred_maps_are_zero_when_every_pixel_is_kept(classifier):
    # Keeping every pixel changes nothing: E[P | pixel kept] = E[P], no evidence anywhere,
    # where the raw map would be P(c) everywhere (the offset that empties ReLU contrasts).
    settings = RiseSettings(num_masks=5, grid=2, keep_probability=1.0)
    maps = RISE(RiseStages(settings, settings), chunk_size=2).saliency(
        classifier, make_inputs(1), [[(1, (1,)), (1, (0, 3))]]
    )[0]
    for values in maps.values():
        torch.testing.assert_close(values, torch.zeros(SIZE), rtol=0, atol=1e-6)


def test_centred_maps_stay_additive_over_compound_classes(classifier):
    every = tuple(range(NUM_CLASSES))
    requests = [[(1, (c,)) for c in every] + [(1, every)]]
    maps = RISE(RiseStages(STAGE1, STAGE2), chunk_size=32).saliency(
        classifier, make_inputs(1), requests
    )[0]
    total = sum(maps[(1, (c,))] for c in every)
    torch.testing.assert_close(maps[(1, every)], total, rtol=0, atol=1e-5)


def test_centred_is_the_default_and_is_reported_in_the_parameters(classifier):
    assert RISE().settings.offset == "centred"
    assert RISE(RiseStages(offset="raw")).parameters(classifier)["offset"] == "raw"
    assert RISE.reference_settings().offset == "raw"


def test_unknown_offset_is_refused():
    with pytest.raises(EngineInputError, match="offset 'min-max'"):
        RiseStages(offset="min-max")
