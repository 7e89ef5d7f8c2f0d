"""A small stimulus manifest that looks like the engine's output, for the README screenshots.

The photograph is scikit-image's ``chelsea`` (the paper's confusing pair: Egyptian cat / tiger
cat), centre-cropped and resized to 224×224 like the model's input. The heatmaps are synthetic:
Gaussian blobs coloured with matplotlib's ``inferno`` and blended over the photograph. SWOX's two
maps are nearly the same (both classes look at the face, which is why SWOX confuses people); the
contrastive methods separate the eyes and nose (Egyptian cat) from the striped fur (tiger cat);
CWOX-2s also shows the stage-1 cluster map over the whole face. The folder follows
``docs/stimulus-manifest.md`` and is imported with the real importer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 224
METHODS = ("swox", "cwox-1sb", "cwox-2s")
CLASSES = (
    {"index": 285, "name": "Egyptian cat", "probability": 0.38},
    {"index": 282, "name": "tiger cat", "probability": 0.38},
)

# Blobs as (centre x, centre y, sigma, weight), in fractions of the picture's side.
FACE = ((0.33, 0.40, 0.09, 1.0), (0.80, 0.45, 0.08, 0.9), (0.62, 0.80, 0.10, 0.8))
STRIPES = ((0.60, 0.12, 0.12, 1.0), (0.10, 0.55, 0.10, 0.8), (0.95, 0.90, 0.08, 0.5))
WHOLE_FACE = ((0.55, 0.50, 0.30, 1.0), (0.45, 0.20, 0.18, 0.5))
BLOBS = {
    "swox": {
        "a": FACE,
        "b": ((0.35, 0.42, 0.10, 1.0), (0.78, 0.46, 0.09, 0.9), (0.60, 0.15, 0.12, 0.35)),
    },
    "cwox-1sb": {"a": FACE, "b": STRIPES},
    "cwox-2s": {
        "a": FACE[:2] + ((0.62, 0.80, 0.07, 0.9),),
        "b": STRIPES,
        "cluster": WHOLE_FACE,
    },
}


def photograph() -> np.ndarray:
    """``chelsea`` centre-cropped to a square and resized to 224×224 (RGB floats in 0..1)."""
    from skimage import data

    photo = data.chelsea()
    height, width = photo.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(photo[top : top + side, left : left + side])
    resized = square.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float64) / 255.0


def heat(blobs: tuple[tuple[float, float, float, float], ...]) -> np.ndarray:
    """A heatmap in 0..1 from Gaussian blobs."""
    grid = (np.arange(SIZE) + 0.5) / SIZE
    x, y = np.meshgrid(grid, grid)
    total = np.zeros((SIZE, SIZE))
    for cx, cy, sigma, weight in blobs:
        total += weight * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return total / total.max()


def overlay(photo: np.ndarray, values: np.ndarray) -> Image.Image:
    """``values`` coloured with ``inferno`` and blended over ``photo``, stronger where hot."""
    from matplotlib import colormaps

    colours = colormaps["inferno"](values)[..., :3]
    alpha = (0.25 + 0.5 * values)[..., None]
    blended = photo * (1 - alpha) + colours * alpha
    return Image.fromarray(np.clip(blended * 255 + 0.5, 0, 255).astype(np.uint8))


def _save(image: Image.Image, folder: Path, path: str, files: dict[str, str]) -> str:
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    files[path] = hashlib.sha256(target.read_bytes()).hexdigest()
    return path


def write_chelsea_manifest(folder: Path, *, items: int = 1) -> Path:
    """A manifest folder with ``items`` test items, all of the ``chelsea`` photograph."""
    photo = photograph()
    files: dict[str, str] = {}
    image = _save(
        Image.fromarray((photo * 255 + 0.5).astype(np.uint8)), folder, "images/chelsea.png", files
    )
    heatmaps = {
        method: {
            side: _save(overlay(photo, heat(blobs)), folder, f"heatmaps/{method}-{side}.png", files)
            for side, blobs in sides.items()
        }
        for method, sides in BLOBS.items()
    }
    entries = [
        {
            "id": f"chelsea-{number}",
            "image": image,
            "source": "skimage:chelsea.png",
            "role": "test",
            "classes": list(CLASSES),
            "cluster": {"node": "Z1_12", "classes": [281, 282, 285]},
            "heatmaps": heatmaps,
        }
        for number in range(items)
    ]
    manifest = {
        "format": "cwox-stimuli",
        "version": 1,
        "model": {"name": "efficientnet-lite0", "weights_sha256": "0" * 64},
        "explainer": {"name": "gradcam", "parameters": {"synthetic": True}},
        "methods": list(METHODS),
        "seed": 0,
        "software": {"explain_engine": "synthetic screenshot stimuli"},
        "items": entries,
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def make_chelsea_study(folder: Path, *, slug: str = "cat-heatmaps"):
    """An open study with the paper's three conditions, one group and one test trial per
    participant, showing the ``chelsea`` stimuli."""
    from studies.lifecycle import open_study
    from studies.models import Condition, ParticipantGroup, Study
    from studies.models.study import DEFAULT_CONDITIONS
    from studies.stimuli_import import import_manifest

    study = Study.objects.create(
        title="Which part of the picture made the classifier think so?",
        slug=slug,
        consent_text="This study is about how people read explanations of image classifiers.",
        instructions="Each question shows a photograph and two heatmaps. Match each heatmap "
        "to the label it explains, then say how sure you are.",
        debrief_text="Thank you for taking part.",
        completion_code="CAT-2S",
        training_trials=0,
        test_trials=1,
        attention_check_positions=[],
        seed=3,
    )
    for position, (name, method) in enumerate(DEFAULT_CONDITIONS):
        Condition.objects.create(study=study, name=name, method=method, position=position)
    ParticipantGroup.objects.create(
        study=study, name="everyone", slug="everyone", question_label="Anyone", position=0
    )
    import_manifest(study, write_chelsea_manifest(folder / "chelsea-manifest"))
    open_study(study)
    study.refresh_from_db()
    return study
