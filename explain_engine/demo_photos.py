"""Photographs available on every fresh install, cut into the demo study's images.

The bundled photographs of scikit-image and matplotlib give real confusing pairs with the
embedded EfficientNet-Lite0 and its latent tree (tiger cat / tabby, missile / projectile,
academic gown / mortarboard, suit / Windsor tie); different crops of one photograph give
different top-K outputs, which multiplies the usable items. The attention-check images put two
unrelated photographs side by side (a cat and a camera on a tripod), so that the two heatmaps
of the pair (Egyptian cat / tripod) fall on different halves: an obvious answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps

from explain_engine.files import write_atomically
from explain_engine.tree import LatentTree, TreeNode

PHOTOS = {
    "chelsea": ("skimage", "chelsea.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "motorcycle-left": ("skimage", "motorcycle_left.png"),
    "motorcycle-right": ("skimage", "motorcycle_right.png"),
    "grace-hopper": ("matplotlib", "grace_hopper.jpg"),
}
"""Demo photographs: name → (package, file in the package's sample-data folder)."""

CROP_FRACTIONS = (0.8, 0.6)
CROP_CORNERS = ("c", "tl", "tr", "bl", "br")

ATTENTION_PAIRS = (("chelsea", "camera"), ("camera", "chelsea"))
"""Attention-check composites: left photograph, right photograph."""
ATTENTION_CLASSES = (285, 872)
"""Egyptian cat and tripod: the composite's two classes, one per half."""
ATTENTION_PHOTOS = {"chelsea": ("skimage", "chelsea.png"), "camera": ("skimage", "camera.png")}


def bundled_photo(package: str, name: str) -> Path:
    """The path of a sample photograph shipped inside ``package`` (scikit-image, matplotlib)."""
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data" / name
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / name
    raise ValueError(f"unknown photo package {package!r}")


def _open(package: str, name: str) -> Image.Image:
    return Image.open(bundled_photo(package, name)).convert("RGB")


def crops(photo: Image.Image) -> Iterator[tuple[str, Image.Image]]:
    """The whole photograph, crops of 80% and 60% of each side at the centre and the four
    corners, and the mirrored photograph, named e.g. ``full``, ``c80``, ``tl60``, ``flip``."""
    width, height = photo.size
    yield "full", photo
    for fraction in CROP_FRACTIONS:
        w, h = int(width * fraction), int(height * fraction)
        origins = {
            "c": ((width - w) // 2, (height - h) // 2),
            "tl": (0, 0),
            "tr": (width - w, 0),
            "bl": (0, height - h),
            "br": (width - w, height - h),
        }
        for corner in CROP_CORNERS:
            x, y = origins[corner]
            yield f"{corner}{round(fraction * 100)}", photo.crop((x, y, x + w, y + h))
    yield "flip", ImageOps.mirror(photo)


def side_by_side(left: Image.Image, right: Image.Image, size: int = 448) -> Image.Image:
    """A ``size``×``size`` picture: each photograph cropped to a ``size/2``-wide half."""
    canvas = Image.new("RGB", (size, size))
    canvas.paste(ImageOps.fit(left, (size // 2, size)), (0, 0))
    canvas.paste(ImageOps.fit(right, (size // 2, size)), (size // 2, 0))
    return canvas


def _save(picture: Image.Image, path: Path) -> Path:
    return write_atomically(path, lambda stream: picture.save(stream, format="PNG"))


def write_demo_photos(folder: Path) -> list[Path]:
    """Write every crop of every demo photograph as ``folder/<photo>-<crop>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (package, file_name) in PHOTOS.items():
        for crop_name, picture in crops(_open(package, file_name)):
            written.append(_save(picture, folder / f"{name}-{crop_name}.png"))
    return written


def write_attention_photos(folder: Path) -> list[Path]:
    """Write the attention-check composites as ``folder/<left>-and-<right>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = {name: _open(*source) for name, source in ATTENTION_PHOTOS.items()}
    return [
        _save(side_by_side(photos[left], photos[right]), folder / f"{left}-and-{right}.png")
        for left, right in ATTENTION_PAIRS
    ]


def attention_tree() -> LatentTree:
    """A two-class latent tree that makes the attention pair one confusion cluster, so that the
    attention items are pregenerated like every other item (CWOX-2s included)."""
    cluster = TreeNode("attention", 1, name="attention check")
    classes = [TreeNode(f"c{index}", 0, "attention", index) for index in ATTENTION_CLASSES]
    metadata = {"purpose": "attention checks of the demo study", "partial": True}
    return LatentTree([cluster, *classes], metadata)
