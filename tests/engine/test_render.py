"""Tests of explain_engine.render: overlays and paper-style summary figures."""

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
from explain_engine.render import (
    MAX_LINEAR,
    PERCENTILE_SQRT,
    RENDERING,
    RENDERINGS,
    Rendering,
    image_to_pil,
    overlay,
    save_overlay,
    save_summary_figure,
    summary_figure,
)
from explain_engine.results import Heatmap, ImageExplanation, TopClass, WoxExplanation

HEIGHT, WIDTH = 48, 64
CLASS_NAMES = {
    486: "cello",
    889: "violin",
    402: "acoustic guitar",
    420: "banjo",
    546: "electric guitar",
}
TOP_CLASSES = (
    TopClass(486, "cello", 0.40),
    TopClass(889, "violin", 0.31),
    TopClass(402, "acoustic guitar", 0.12),
    TopClass(420, "banjo", 0.09),
    TopClass(546, "electric guitar", 0.05),
)
CLUSTERS = ((486, 889), (402, 420, 546))


def random_image(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(3, HEIGHT, WIDTH, generator=generator)


def random_map(seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(HEIGHT, WIDTH, generator=generator)


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture).astype(np.int16)


def class_maps(clusters: tuple[tuple[int, ...], ...]) -> list[Heatmap]:
    return [
        Heatmap("class", (index,), tuple(c for c in cluster if c != index), random_map(index), i)
        for i, cluster in enumerate(clusters)
        for index in cluster
    ]


def explanation(methods: dict[str, WoxExplanation], clusters=CLUSTERS) -> ImageExplanation:
    return ImageExplanation(TOP_CLASSES, clusters, methods, random_image())


def cwox_2s(clusters: tuple[tuple[int, ...], ...] = CLUSTERS) -> WoxExplanation:
    cluster_maps = [
        Heatmap("cluster", cluster, (), random_map(i), i) for i, cluster in enumerate(clusters)
    ]
    return WoxExplanation("cwox-2s", "gradcam", clusters, (*cluster_maps, *class_maps(clusters)))


def swox() -> WoxExplanation:
    return WoxExplanation("swox", "gradcam", CLUSTERS, tuple(class_maps(CLUSTERS)))


def test_overlay_has_image_size_and_rgb_mode():
    picture = overlay(random_image(), random_map())
    assert picture.size == (WIDTH, HEIGHT)
    assert picture.mode == "RGB"


def test_zero_map_leaves_image_pixels_unchanged():
    image = random_image()
    picture = overlay(image, torch.zeros(HEIGHT, WIDTH))
    assert np.array_equal(pixels(picture), pixels(image_to_pil(image)))


def test_all_zero_map_gives_no_nan_and_8_bit_pixels():
    picture = np.asarray(overlay(random_image(), torch.zeros(HEIGHT, WIDTH)))
    assert picture.dtype == np.uint8
    assert np.isfinite(picture.astype(float)).all()


def test_map_positive_in_one_region_changes_only_that_region():
    image = random_image()
    heatmap = torch.zeros(HEIGHT, WIDTH)
    heatmap[10:20, 30:50] = torch.linspace(0.5, 3.0, 20)
    changed = np.any(pixels(overlay(image, heatmap)) != pixels(image_to_pil(image)), axis=2)
    region = np.zeros((HEIGHT, WIDTH), dtype=bool)
    region[10:20, 30:50] = True
    assert not changed[~region].any()
    assert changed[region].mean() > 0.9


@pytest.mark.parametrize("factor", [0.25, 8.0, 1024.0])
def test_maps_differing_by_power_of_two_scale_give_identical_overlays(factor):
    image, heatmap = random_image(), random_map()
    assert np.array_equal(pixels(overlay(image, heatmap)), pixels(overlay(image, factor * heatmap)))


@pytest.mark.parametrize("factor", [0.003, 3.0, 1e5])
def test_maps_differing_by_any_positive_scale_agree_up_to_float_rounding(factor):
    image, heatmap = random_image(), random_map()
    difference = pixels(overlay(image, heatmap)) - pixels(overlay(image, factor * heatmap))
    assert np.abs(difference).max() <= 1


def test_negative_values_are_not_coloured():
    image = random_image()
    heatmap = -random_map()
    heatmap[:, : WIDTH // 2] *= -1  # left half positive, right half negative
    picture = pixels(overlay(image, heatmap))
    plain = pixels(image_to_pil(image))
    assert np.array_equal(picture[:, WIDTH // 2 :], plain[:, WIDTH // 2 :])
    positive_only = pixels(overlay(image, heatmap.clamp(min=0)))
    assert np.array_equal(picture, positive_only)


def test_all_negative_map_gives_image_unchanged():
    image = random_image()
    picture = overlay(image, -random_map() - 0.1)
    assert np.array_equal(pixels(picture), pixels(image_to_pil(image)))


def test_map_maximum_is_drawn_in_colour_over_the_image():
    image = torch.full((3, HEIGHT, WIDTH), 0.5)
    heatmap = torch.zeros(HEIGHT, WIDTH)
    heatmap[5, 7] = 2.0
    picture = pixels(overlay(image, heatmap))
    assert np.abs(picture[5, 7] - 128).max() > 40


def test_overlay_rejects_map_of_other_size():
    with pytest.raises(EngineInputError, match="shape"):
        overlay(random_image(), torch.zeros(HEIGHT + 1, WIDTH))


def test_overlay_rejects_nan_map():
    heatmap = random_map()
    heatmap[0, 0] = float("nan")
    with pytest.raises(EngineInputError, match="NaN"):
        overlay(random_image(), heatmap)


def test_save_overlay_writes_readable_png_and_leaves_no_temporary_file(tmp_path):
    image, heatmap = random_image(), random_map()
    path = save_overlay(image, heatmap, tmp_path / "map.png")
    assert path == tmp_path / "map.png"
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]
    with Image.open(path) as saved:
        assert saved.format == "PNG"
        assert np.array_equal(pixels(saved), pixels(overlay(image, heatmap)))


def test_save_overlay_replaces_an_existing_file(tmp_path):
    image = random_image()
    path = tmp_path / "map.png"
    save_overlay(image, torch.zeros(HEIGHT, WIDTH), path)
    save_overlay(image, random_map(), path)
    with Image.open(path) as saved:
        assert np.array_equal(pixels(saved), pixels(overlay(image, random_map())))
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]


def test_failed_write_leaves_no_temporary_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_overlay(random_image(), torch.zeros(HEIGHT, WIDTH), tmp_path / "map.png")
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_overlay(random_image(), random_map(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]
    assert path.read_bytes() == old


def test_two_stage_figure_has_input_plus_one_column_per_cluster_and_a_row_per_class(tmp_path):
    path = save_summary_figure(
        explanation({"cwox-2s": cwox_2s()}), "cwox-2s", CLASS_NAMES, tmp_path / "cwox-2s.png"
    )
    with Image.open(path) as saved:
        width, height = saved.size
        assert saved.format == "PNG"
    # 3 columns (input + 2 clusters) and 4 rows (cluster maps + up to 3 class maps): taller.
    assert 1.1 < height / width < 1.8


def test_two_stage_figure_grows_wider_with_more_clusters():
    one_cluster = ((486, 889, 402, 420, 546),)
    narrow = summary_figure(
        explanation({"cwox-2s": cwox_2s(one_cluster)}, one_cluster), "cwox-2s", CLASS_NAMES
    )
    wide = summary_figure(explanation({"cwox-2s": cwox_2s()}), "cwox-2s", CLASS_NAMES)
    assert wide.size[0] / narrow.size[0] == pytest.approx(3 / 2, rel=0.02)
    assert wide.size[1] < narrow.size[1]


def test_one_stage_figure_is_one_row_of_input_and_class_maps():
    picture = summary_figure(explanation({"swox": swox()}), "swox", CLASS_NAMES)
    assert picture.mode == "RGB"
    width, height = picture.size
    # 6 panels in one row (plus small gaps between clusters).
    assert 4.0 < width / height < 6.5


def test_summary_figure_accepts_class_names_as_a_sequence():
    names = [f"class {i}" for i in range(1000)]
    picture = summary_figure(explanation({"swox": swox()}), "swox", names)
    assert picture.size[0] > picture.size[1]


def test_summary_figure_names_missing_method():
    with pytest.raises(EngineInputError, match="cwox-2s.*swox"):
        summary_figure(explanation({"swox": swox()}), "cwox-2s", CLASS_NAMES)


def test_summary_figure_names_class_without_name():
    with pytest.raises(EngineInputError, match="class index 889"):
        summary_figure(explanation({"swox": swox()}), "swox", {486: "cello"})


# -- renderings ----------------------------------------------------------------------------------


def blend_by_hand(image: torch.Tensor, normalised: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """(1 − a)·image + a·inferno(v), rounded to 8 bits: the overlay written out."""
    import matplotlib

    rgb = image.double().permute(1, 2, 0).numpy()
    colours = matplotlib.colormaps["inferno"](normalised)[..., :3]
    blended = (1 - opacity[..., None]) * rgb + opacity[..., None] * colours
    return np.clip(np.rint(blended * 255), 0, 255).astype(np.int16)


def test_max_linear_is_the_old_rendering_max_scaling_and_opacity_0_65_v():
    image, heatmap = random_image(), random_map() - 0.2
    v = np.clip(heatmap.double().numpy(), 0, None)
    v = v / v.max()
    expected = blend_by_hand(image, v, 0.65 * v)
    assert np.abs(pixels(overlay(image, heatmap, MAX_LINEAR)) - expected).max() <= 1


def test_default_rendering_scales_by_the_99th_percentile_of_positive_values_with_sqrt_opacity():
    image, heatmap = random_image(), random_map() - 0.5  # about half the pixels positive
    values = heatmap.double().numpy()
    v = np.clip(values / np.percentile(values[values > 0], 99), 0, 1)
    opacity = np.where(v >= 0.05, 0.65 * np.sqrt(v), 0.0)
    expected = blend_by_hand(image, v, opacity)
    assert RENDERING is PERCENTILE_SQRT
    assert np.abs(pixels(overlay(image, heatmap)) - expected).max() <= 1


def test_one_hot_pixel_does_not_dim_the_rest_of_the_map():
    image = torch.full((3, HEIGHT, WIDTH), 0.5)
    heatmap = torch.zeros(HEIGHT, WIDTH)
    heatmap[10:30, 10:40] = 1.0
    heatmap[0, 0] = 100.0
    region = (slice(10, 30), slice(10, 40))
    plain = pixels(image_to_pil(image))[region]
    before = np.abs(pixels(overlay(image, heatmap, MAX_LINEAR))[region] - plain).max()
    after = np.abs(pixels(overlay(image, heatmap))[region] - plain).max(axis=-1).min()
    assert before < 5  # 1 % of the peak: invisible under max-linear
    assert after > 60  # the region is the map's evidence: drawn at full opacity


def test_values_below_the_floor_stay_transparent_and_small_values_above_it_show():
    image = torch.full((3, HEIGHT, WIDTH), 0.8)
    heatmap = torch.zeros(HEIGHT, WIDTH)
    heatmap[:, :20] = 1.0
    heatmap[:, 20:40] = 0.04  # below the 0.05 floor
    heatmap[:, 40:] = 0.1
    picture = pixels(overlay(image, heatmap))
    plain = pixels(image_to_pil(image))
    assert np.array_equal(picture[:, 20:40], plain[:, 20:40])
    # v = 0.1: opacity 0.65·√0.1 ≈ 0.21 of a near-black colour over a light grey
    assert np.abs(picture[:, 40:] - plain[:, 40:]).max() > 30
    old = pixels(overlay(image, heatmap, MAX_LINEAR))
    assert np.abs(old[:, 40:] - plain[:, 40:]).max() < 20


def test_pure_low_noise_is_drawn_like_noise_of_any_amplitude():
    # Per-map scaling: the rendering cannot know a map's units, so noise of amplitude 1e-6
    # looks like noise of amplitude 1 (a texture over the whole picture, no structure).
    image, noise = random_image(), random_map()
    tiny = pixels(overlay(image, 2.0**-20 * noise))
    assert np.array_equal(tiny, pixels(overlay(image, noise)))


def test_rendering_records_are_json_able_and_named():
    assert set(RENDERINGS) == {"percentile-sqrt", "max-linear"}
    record = json.loads(json.dumps(RENDERING.to_dict()))
    assert record == {
        "name": "percentile-sqrt",
        "scale": "percentile",
        "percentile": 99.0,
        "gamma": 0.5,
        "max_alpha": 0.65,
        "floor": 0.05,
        "colormap": "inferno",
    }
    assert Rendering(**record) == RENDERING


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scale": "median"}, "scale"),
        ({"percentile": 0.0}, "percentile"),
        ({"gamma": 1.5}, "gamma"),
        ({"max_alpha": 1.2}, "max_alpha"),
        ({"floor": 1.0}, "floor"),
        ({"colormap": "no-such-map"}, "colormap"),
    ],
)
def test_invalid_rendering_parameters_are_refused(changes, message):
    with pytest.raises(EngineInputError, match=message):
        Rendering("bad", **changes)


def test_save_overlay_uses_the_rendering_it_is_given(tmp_path):
    image, heatmap = random_image(), random_map()
    path = save_overlay(image, heatmap, tmp_path / "old.png", MAX_LINEAR)
    with Image.open(path) as saved:
        assert np.array_equal(pixels(saved), pixels(overlay(image, heatmap, MAX_LINEAR)))


def test_render_imports_neither_pyplot_nor_django():
    code = (
        "import sys, explain_engine.render; "
        "assert 'matplotlib.pyplot' not in sys.modules and 'django' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
