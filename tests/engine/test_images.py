"""Tests of explain_engine.images: usable images become 8-bit RGB, others a clear error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.images import MIN_SIDE, check_input_size, load_image

WIDTH, HEIGHT = 40, 30


def _gradient(dtype: type = np.uint8, scale: float = 1.0) -> np.ndarray:
    """A (HEIGHT, WIDTH) ramp with distinct values, so scaling errors show."""
    return (np.arange(HEIGHT * WIDTH).reshape(HEIGHT, WIDTH) * scale).astype(dtype)


def _assert_rgb8(image: Image.Image, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    assert isinstance(image, Image.Image)
    assert image.mode == "RGB"
    assert image.size == size
    pixels = np.asarray(image)
    assert pixels.dtype == np.uint8 and pixels.shape == (size[1], size[0], 3)
    return pixels


def _assert_error_names(error: pytest.ExceptionInfo[EngineInputError], path: Path) -> str:
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message and "\r" not in message
    return message


# ------------------------------------------------------------------ conversions


def test_rgb_image_is_returned_unchanged(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(pixels).save(path)
    assert np.array_equal(_assert_rgb8(load_image(path)), pixels)
    assert np.array_equal(_assert_rgb8(load_image(str(path))), pixels)  # str paths too


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    gray = _gradient(scale=0.2)
    path = tmp_path / "gray.png"
    Image.fromarray(gray, mode="L").save(path)
    pixels = _assert_rgb8(load_image(path))
    for channel in range(3):
        assert np.array_equal(pixels[..., channel], gray)


def test_bilevel_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "bilevel.png"
    Image.fromarray(_gradient(scale=0.2) > 100).convert("1").save(path)
    pixels = _assert_rgb8(load_image(path))
    assert set(np.unique(pixels)) <= {0, 255}


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:, : WIDTH // 2, 3] = 255  # left half opaque, right half fully transparent
    rgba[0, -1] = (200, 100, 0, 128)  # one half-transparent pixel
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    pixels = _assert_rgb8(load_image(path))
    assert (pixels[:, : WIDTH // 2] == (10, 20, 30)).all()
    assert (pixels[1:, WIDTH // 2 :] == 255).all()
    blended = pixels[0, -1].astype(int)
    assert np.abs(blended - (228, 178, 127)).max() <= 2


def test_gray_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((HEIGHT, WIDTH, 2), dtype=np.uint8)
    la[..., 0] = 50
    la[: HEIGHT // 2, :, 1] = 255
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    pixels = _assert_rgb8(load_image(path))
    assert (pixels[: HEIGHT // 2] == 50).all()
    assert (pixels[HEIGHT // 2 :] == 255).all()


def test_palette_becomes_rgb(tmp_path: Path) -> None:
    palette_image = Image.new("P", (WIDTH, HEIGHT))
    palette_image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0, 0, 0] * 253)
    indices = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    indices[:, 10:20] = 1
    indices[:, 20:] = 2
    palette_image.putdata(indices.ravel().tolist())
    path = tmp_path / "palette.png"
    palette_image.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == "P"
    pixels = _assert_rgb8(load_image(path))
    assert (pixels[:, :10] == (255, 0, 0)).all()
    assert (pixels[:, 10:20] == (0, 255, 0)).all()
    assert (pixels[:, 20:] == (0, 0, 255)).all()


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette_image = Image.new("P", (WIDTH, HEIGHT))
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    indices = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    indices[:, WIDTH // 2 :] = 1
    palette_image.putdata(indices.ravel().tolist())
    path = tmp_path / "palette-transparent.png"
    palette_image.save(path, transparency=1)  # index 1 (blue) is transparent
    pixels = _assert_rgb8(load_image(path))
    assert (pixels[:, : WIDTH // 2] == (255, 0, 0)).all()
    assert (pixels[:, WIDTH // 2 :] == 255).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)  # no ink: white
    cmyk[:, WIDTH // 2 :, 3] = 255  # full black ink on the right half
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(path, quality=95)
    with Image.open(path) as reopened:
        assert reopened.mode == "CMYK"
    pixels = _assert_rgb8(load_image(path)).astype(int)
    assert pixels[:, :10].min() >= 240  # white stays white
    assert pixels[:, -10:].max() <= 15  # black stays black


def test_16_bit_png_is_scaled_to_8_bits(tmp_path: Path) -> None:
    values = _gradient(np.uint16, scale=50)  # 0 .. 59950
    path = tmp_path / "depth16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as reopened:
        assert reopened.mode.startswith("I")
    pixels = _assert_rgb8(load_image(path))
    assert pixels.min() == 0 and pixels.max() == 255
    expected = np.round(values / values.max() * 255).astype(np.uint8)
    assert np.abs(pixels[..., 0].astype(int) - expected).max() <= 1
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_16_bit_png_with_small_values_is_not_black(tmp_path: Path) -> None:
    values = (_gradient(np.uint16) % 300).astype(np.uint16)  # all < 256 but 16-bit
    path = tmp_path / "dim16.png"
    Image.fromarray(values).save(path)
    pixels = _assert_rgb8(load_image(path))
    assert pixels.max() == 255


def test_float_tiff_is_scaled_to_8_bits(tmp_path: Path) -> None:
    values = np.linspace(-1.0, 3.0, HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH)
    path = tmp_path / "float.tif"
    Image.fromarray(values, mode="F").save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == "F"
    pixels = _assert_rgb8(load_image(path))
    assert pixels[0, 0, 0] == 0 and pixels[-1, -1, 0] == 255
    assert np.all(np.diff(pixels[..., 0].ravel().astype(int)) >= 0)  # monotone ramp stays


def test_constant_16_bit_image_does_not_divide_by_zero(tmp_path: Path) -> None:
    path = tmp_path / "flat16.png"
    Image.fromarray(np.full((HEIGHT, WIDTH), 1234, dtype=np.uint16)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = _assert_rgb8(load_image(path))
    assert len(np.unique(pixels)) == 1


def test_loaded_image_is_independent_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(_gradient(scale=0.2), mode="L").convert("RGB").save(path)
    image = load_image(path)
    path.unlink()  # the file is closed and fully decoded
    assert image.convert("L").getpixel((0, 0)) is not None


# ------------------------------------------------------------------ errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "cat.jpg"
    with pytest.raises(EngineInputError) as error:
        load_image(path)
    assert "no such file" in _assert_error_names(error, path)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(EngineInputError) as error:
        load_image(tmp_path)
    _assert_error_names(error, tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.jpg", b"this is a text file, not a JPEG\nsecond line\n"),
        ("empty.png", b""),
        ("random.png", bytes(range(256)) * 4),
    ],
)
def test_file_that_is_not_an_image(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EngineInputError) as error:
        load_image(path)
    assert "expected" in _assert_error_names(error, path)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(whole)
    data = whole.read_bytes()
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(data[: len(data) // 2])
    assert load_image(whole).size == (200, 200)
    with pytest.raises(EngineInputError) as error:
        load_image(path)
    assert "truncated" in _assert_error_names(error, path)


@pytest.mark.parametrize("size", [(4, 4), (MIN_SIDE - 1, 300), (300, 2)])
def test_image_too_small(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size, (0, 128, 255)).save(path)
    with pytest.raises(EngineInputError) as error:
        load_image(path)
    message = _assert_error_names(error, path)
    assert f"{size[0]}x{size[1]}" in message and str(MIN_SIDE) in message


def test_smallest_accepted_image(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (MIN_SIDE, MIN_SIDE), (1, 2, 3)).save(path)
    assert load_image(path).size == (MIN_SIDE, MIN_SIDE)


# ------------------------------------------------------------------ input size


def test_small_image_loads_and_warns_about_upscaling(tmp_path: Path) -> None:
    path = tmp_path / "small.jpg"
    Image.new("RGB", (100, 60), (90, 120, 30)).save(path)
    image = load_image(path)
    assert image.size == (100, 60)
    with pytest.warns(UserWarning, match="upscaled") as record:
        check_input_size(image, 224, str(path))
    message = str(record[0].message)
    assert str(path) in message and "100x60" in message and "224" in message


def test_large_enough_image_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_input_size(Image.new("RGB", (300, 224)), 224, "big.png")
