"""Tests of explain_engine.quality: every measure and grade on synthetic maps with known answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.quality import (
    MapQuality,
    PairQuality,
    QualityThresholds,
    border_peak,
    concentration,
    grade,
    map_quality,
    pair_quality,
    visible_area,
)

TOOL = Path(__file__).resolve().parents[3] / "shared" / "tools" / "heatmap_visibility.py"
SIZE = 40


def blob(row: int, column: int, side: int = 4, size: int = SIZE) -> np.ndarray:
    values = np.zeros((size, size))
    values[row : row + side, column : column + side] = 1.0
    return values


def photo(value: int = 100, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.uint8)


# -- visible area -------------------------------------------------------------------------------


def test_visible_area_counts_pixels_differing_by_more_than_30_in_some_channel():
    base = photo()
    picture = base.copy()
    picture[0, :10, 2] = 131  # 31 levels in the blue channel: visible
    picture[1, :10, 0] = 130  # exactly 30: not visible
    picture[2, :5] = 69  # 31 below in every channel: visible
    assert visible_area(picture, base) == pytest.approx(15 / SIZE**2)


def test_identical_overlay_has_no_visible_area():
    assert visible_area(photo(), photo()) == 0.0


def test_visible_area_rejects_pictures_of_other_sizes():
    with pytest.raises(EngineInputError, match="one shape"):
        visible_area(photo(size=SIZE), photo(size=SIZE + 1))


def test_visible_area_agrees_with_the_shared_tool_on_the_same_files(tmp_path):
    if not TOOL.is_file():
        pytest.skip(f"the shared visibility tool is not at {TOOL}")
    generator = np.random.default_rng(0)
    ours = []
    for number in range(3):
        item = tmp_path / f"item-{number}"
        item.mkdir()
        base = generator.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        change = generator.integers(-60, 61, (SIZE, SIZE, 3))
        change[: 10 * number] = 0
        picture = np.clip(base.astype(int) + change, 0, 255).astype(np.uint8)
        Image.fromarray(base).save(item / "image.png")
        Image.fromarray(picture).save(item / "swox-a.png")
        ours.append(visible_area(picture, base))
    result = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path)], capture_output=True, text=True, check=True
    )
    last = dict(part.split("=") for part in result.stdout.split("\n")[-2].split())
    assert float(last["min_visible"]) == pytest.approx(min(ours), abs=1e-4)
    assert int(last["maps"]) == 3


# -- measures of one map ------------------------------------------------------------------------


def test_concentration_of_a_flat_map_is_the_top_share_and_of_a_small_spot_is_one():
    assert concentration(np.ones((SIZE, SIZE))) == pytest.approx(0.05)
    assert concentration(blob(10, 10, side=8)) == pytest.approx(1.0)  # 64 px < 5 % of 1600


def test_concentration_counts_only_positive_mass():
    values = -np.ones((SIZE, SIZE))
    values[:2, :] = 1.0  # 80 positive pixels = the top 5 %
    assert concentration(values) == pytest.approx(1.0)
    values[:4, :] = 1.0  # 160 positive pixels, the top 80 of them hold half the mass
    assert concentration(values) == pytest.approx(0.5)


def test_concentration_is_none_without_positive_mass_or_with_nan():
    assert concentration(np.zeros((SIZE, SIZE))) is None
    broken = blob(3, 3)
    broken[0, 0] = np.nan
    assert concentration(broken) is None


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [(0, 20, True), (20, 39, True), (38, 20, True), (2, 20, False), (20, 20, False)],
)
def test_border_peak_is_true_only_for_a_maximum_in_the_border_band(row, column, expected):
    values = np.zeros((SIZE, SIZE))
    values[row, column] = 1.0  # band: round(0.05 * 40) = 2 pixels
    assert border_peak(values) is expected


def test_border_peak_is_false_for_a_map_without_positive_value():
    assert border_peak(-np.ones((SIZE, SIZE))) is False


def test_map_quality_of_a_blob_with_its_overlay():
    values = blob(10, 12, side=5) * 3.0
    base = photo()
    picture = base.copy()
    picture[10:15, 12:17] = 200
    quality = map_quality(torch.from_numpy(values).float(), picture, base)
    assert quality == MapQuality(
        finite=True,
        constant=False,
        positive=True,
        visible_area=pytest.approx(25 / SIZE**2),
        concentration=pytest.approx(1.0),
        n_delta=25,
        border_peak=False,
    )
    assert json.loads(json.dumps(quality.to_dict()))["n_delta"] == 25


def test_n_delta_counts_pixels_at_least_half_the_maximum():
    values = np.zeros((SIZE, SIZE))
    values[0, :10] = np.linspace(0.1, 1.0, 10)  # 0.5 .. 1.0: six values
    assert map_quality(values).n_delta == 6


def test_map_quality_flags_nan_inf_and_constant_maps():
    with_nan = blob(5, 5)
    with_nan[1, 1] = np.nan
    with_inf = blob(5, 5)
    with_inf[1, 1] = np.inf
    for values in (with_nan, with_inf):
        quality = map_quality(values)
        assert not quality.finite
        assert quality.n_delta == 0
        assert quality.concentration is None
    assert map_quality(np.full((SIZE, SIZE), 0.3)).constant
    assert map_quality(np.zeros((SIZE, SIZE))).constant
    assert not map_quality(np.zeros((SIZE, SIZE))).positive


def test_map_quality_needs_both_overlay_and_photo_or_neither():
    with pytest.raises(EngineInputError, match="both"):
        map_quality(blob(1, 1), photo())


def test_map_quality_rejects_a_map_that_is_not_two_dimensional():
    with pytest.raises(EngineInputError, match=r"\(H, W\)"):
        map_quality(np.zeros((3, SIZE, SIZE)))


# -- pair measures ------------------------------------------------------------------------------


def test_identical_maps_are_perfectly_alike_and_scale_does_not_matter():
    a = np.add.outer(np.arange(SIZE), np.arange(SIZE)).astype(float)
    quality = pair_quality(a, 7.0 * a)
    assert quality.spearman == pytest.approx(1.0)
    assert quality.ssim == pytest.approx(1.0)


def test_reversed_ramp_has_rank_correlation_minus_one():
    a = np.tile(np.arange(1, SIZE + 1, dtype=float), (SIZE, 1))
    assert pair_quality(a, a[:, ::-1]).spearman == pytest.approx(-1.0)


def test_blobs_in_different_places_are_told_apart():
    quality = pair_quality(blob(2, 2, side=10), blob(25, 25, side=10))
    assert quality.spearman < 0.0
    # SSIM also rewards the zero background the two maps share, so it stays well above 0.
    assert quality.ssim < QualityThresholds().max_ssim
    assert not grade([map_quality(blob(2, 2, side=10))], quality).soft


def test_pair_measures_compare_positive_parts_only():
    a = blob(2, 2, side=10)
    signed = a - blob(25, 25, side=10)  # the negative blob is not drawn
    assert pair_quality(a, signed) == pair_quality(a, a)


def test_pair_measures_are_undefined_for_a_constant_or_nan_map():
    assert pair_quality(blob(2, 2), np.zeros((SIZE, SIZE))) == PairQuality(None, None)
    broken = blob(2, 2)
    broken[0, 0] = np.nan
    assert pair_quality(broken, blob(2, 2)) == PairQuality(None, None)


def test_pair_measures_reject_maps_of_two_shapes():
    with pytest.raises(EngineInputError, match="shapes"):
        pair_quality(np.ones((4, 4)), np.ones((4, 5)))


# -- grades -------------------------------------------------------------------------------------


def quality(**changes) -> MapQuality:
    fields = dict(
        finite=True,
        constant=False,
        positive=True,
        visible_area=0.3,
        concentration=0.4,
        n_delta=100,
        border_peak=False,
    )
    return MapQuality(**(fields | changes))


@pytest.mark.parametrize(
    ("maps", "hard", "soft"),
    [
        ([quality(), quality()], (), ()),
        ([quality(), quality(positive=False, constant=True)], ("blank:1",), ()),
        ([quality(visible_area=0.0)], ("blank:0",), ()),
        ([quality(finite=False)], ("not-finite:0",), ()),
        ([quality(constant=True)], ("constant:0",), ()),
        ([quality(visible_area=0.019), quality(visible_area=0.02)], (), ("low-visibility:0",)),
        ([quality(visible_area=None)], (), ()),
    ],
)
def test_grade_separates_hard_failures_from_soft_flags(maps, hard, soft):
    result = grade(maps)
    assert result.hard == hard
    assert result.soft == soft
    assert result.passed is (not hard)


@pytest.mark.parametrize(
    ("pair", "flagged"),
    [
        (PairQuality(0.99, 0.2), True),
        (PairQuality(0.2, 0.99), True),
        (PairQuality(0.98, 0.98), False),
        (PairQuality(None, None), False),
    ],
)
def test_grade_flags_pairs_at_or_above_the_similarity_thresholds(pair, flagged):
    assert ("indistinguishable" in grade([quality()], pair).soft) is flagged


def test_grade_uses_the_thresholds_it_is_given():
    strict = QualityThresholds(min_visible_area=0.5, max_spearman=0.1, max_ssim=1.0)
    result = grade([quality(visible_area=0.3)], PairQuality(0.2, 0.0), strict)
    assert result.soft == ("low-visibility:0", "indistinguishable")
    assert result.to_dict() == {"hard": [], "soft": ["low-visibility:0", "indistinguishable"]}
    assert json.loads(json.dumps(strict.to_dict()))["max_spearman"] == 0.1


def test_measures_of_a_real_blank_overlay_grade_it_blank():
    base = photo()
    result = grade([map_quality(np.zeros((SIZE, SIZE)), base.copy(), base)])
    assert result.hard == ("blank:0",)
