"""Tests of explain_engine.render: overlays and paper-style summary figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.render import (
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


def test_render_imports_neither_pyplot_nor_django():
    code = (
        "import sys, explain_engine.render; "
        "assert 'matplotlib.pyplot' not in sys.modules and 'django' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
