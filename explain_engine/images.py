"""Reading images from disk into RGB, with a clear error for anything that is not a usable image.

Every decoding problem (missing file, not an image, truncated data, unsupported mode, an image
too small to classify) becomes one :class:`EngineInputError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from explain_engine.errors import EngineInputError

#: Smallest side (pixels) accepted; smaller images carry too little to explain.
MIN_SIDE = 16

# Fail on truncated files instead of silently padding them with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def load_image(path: str | Path) -> Image.Image:
    """Decode ``path`` into an 8-bit RGB :class:`PIL.Image.Image`.

    Grayscale, palette, CMYK and 16-bit/float images are converted to RGB (16-bit and float
    images are scaled by their own range); transparent images are composited on white.

    Raises:
        EngineInputError: the file is missing, unreadable, not an image, truncated, or smaller
            than :data:`MIN_SIDE` pixels on a side.
    """
    path = Path(path)
    if not path.is_file():
        raise EngineInputError(f"{path}: no such file (expected an image file)")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = _to_rgb(opened)
    except UnidentifiedImageError:
        raise EngineInputError(
            f"{path}: not a recognised image (expected JPEG, PNG, BMP, TIFF, WebP, ...)"
        ) from None
    except Image.DecompressionBombError as error:
        raise EngineInputError(f"{path}: image too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise EngineInputError(f"{path}: truncated or corrupt image ({error})") from None
    if min(image.size) < MIN_SIDE:
        width, height = image.size
        raise EngineInputError(
            f"{path}: image is {width}x{height} px (expected at least {MIN_SIDE} px per side)"
        )
    return image


def check_input_size(image: Image.Image, crop_size: int, name: str) -> None:
    """Warn when ``image`` is smaller than the classifier input and will be upscaled."""
    if min(image.size) < crop_size:
        width, height = image.size
        warnings.warn(
            f"{name}: image is {width}x{height} px, smaller than the model input "
            f"{crop_size}x{crop_size}; it is upscaled, explanations will be blurry",
            stacklevel=2,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (see :func:`load_image`)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        return Image.fromarray((scaled * 255).round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
