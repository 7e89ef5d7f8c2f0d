"""Documents for the offline phase: each image view's top-K class labels (paper Section 3).

``build_documents`` runs a classifier over an image folder and appends one JSON line per view to
a ``.jsonl`` file::

    {"image": "n01440764/tench.JPEG", "view": 0, "classes": [0, 391], "probabilities": [...],
     "single_label": false}

View 0 is the image as the classifier sees it at explanation time (resize + centre crop);
views 1..N are seeded random resized crops with random horizontal flips, so the same image,
view index and seed always give the same document. An unreadable image gets one line
``{"image": ..., "error": "..."}`` so that a rerun does not retry it. Rerunning appends only
the views that are missing, so an interrupted run resumes where it stopped (a partly written
last line is discarded).

``read_documents`` reads that format or the reference format (one JSON object mapping image
path → list of class indices) into label lists for the tree learner.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from explain_engine.errors import EngineInputError
from explain_engine.images import load_image
from explain_engine.models import Classifier
from explain_engine.targets import TopKRule

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: Random resized crops keep 25–100 % of the image area (torchvision's ratio range).
VIEW_SCALE = (0.25, 1.0)
VIEW_RATIO = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class Document:
    """One document: the top-K labels of one view of one image, most probable first."""

    image: str
    view: int
    classes: tuple[int, ...]

    @property
    def single_label(self) -> bool:
        return len(self.classes) == 1


def find_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, by suffix), sorted for a stable order."""
    if not folder.is_dir():
        raise EngineInputError(f"{folder}: not a folder (expected a folder of images)")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def view_of(
    image: Image.Image, classifier: Classifier, view: int, seed: int, key: str
) -> Image.Image:
    """View ``view`` of ``image``: itself for 0, else a seeded random resized crop + flip.

    The randomness depends only on (``seed``, ``key``, ``view``), never on the order of calls.
    """
    if view == 0:
        return image
    digest = hashlib.sha256(f"{seed}:{key}:{view}".encode()).digest()
    generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
    top, left, height, width = _random_crop_box(image.size, generator)
    crop = image.crop((left, top, left + width, top + height))
    size = classifier.preprocessing.resize
    crop = crop.resize((size, size), Image.Resampling.BILINEAR)
    if torch.rand(1, generator=generator).item() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return crop


def _random_crop_box(
    size: tuple[int, int], generator: torch.Generator
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a crop covering VIEW_SCALE of the area at VIEW_RATIO."""
    width, height = size
    area = width * height
    log_ratio = torch.log(torch.tensor(VIEW_RATIO))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(*VIEW_SCALE, generator=generator).item()
        ratio = torch.exp(torch.empty(1).uniform_(*log_ratio.tolist(), generator=generator))
        crop_w = round((target_area * ratio.item()) ** 0.5)
        crop_h = round((target_area / ratio.item()) ** 0.5)
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
            return top, left, crop_h, crop_w
    side = min(width, height)
    return (height - side) // 2, (width - side) // 2, side, side


def _done_keys(out: Path) -> set[tuple[str, int | None]]:
    """(image, view) of every complete line of an earlier run; cuts a partly written last line."""
    if not out.exists():
        return set()
    raw = out.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1]
    if len(complete) != len(raw):
        with open(out, "r+b") as handle:
            handle.truncate(len(complete))
    done = set()
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            done.add((record["image"], record.get("view")))
    return done


def build_documents(
    classifier: Classifier,
    folder: Path,
    out: Path,
    *,
    views: int = 0,
    batch_size: int = 64,
    seed: int = 0,
    top_k: TopKRule | None = None,
    progress: bool = True,
) -> tuple[int, int]:
    """Append the documents of every image view under ``folder`` to ``out`` (see module doc).

    Returns (documents written in this run, images that could not be read in this run).
    """
    top_k = top_k or TopKRule()
    images = find_images(folder)
    done = _done_keys(out)
    pending = [
        (path, view)
        for path in images
        for view in range(views + 1)
        if (path.relative_to(folder).as_posix(), view) not in done
        and (path.relative_to(folder).as_posix(), None) not in done
    ]
    written = failed = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out, "a", encoding="utf-8") as sink,
        tqdm(total=len(pending), unit="view", disable=not progress, desc="documents") as bar,
    ):
        for batch in _batches(pending, batch_size):
            records, units, keys = [], [], []
            for path, view_list in _group_by_image(batch):
                key = path.relative_to(folder).as_posix()
                try:
                    image = load_image(path)
                except EngineInputError as error:
                    tqdm.write(f"skipped: {error}", file=sys.stderr)
                    records.append({"image": key, "error": str(error)})
                    failed += 1
                    bar.update(len(view_list))
                    continue
                for view in view_list:
                    units.append(
                        classifier.preprocessing.to_unit(
                            view_of(image, classifier, view, seed, key)
                        )
                    )
                    keys.append((key, view))
            if units:
                inputs = classifier.preprocessing.normalize(
                    torch.stack(units).to(classifier.device)
                )
                with torch.inference_mode():
                    probabilities = classifier.model(inputs).float().softmax(dim=-1).cpu()
                for (key, view), row in zip(keys, probabilities, strict=True):
                    classes, values = top_k.select(row)
                    records.append(
                        {
                            "image": key,
                            "view": view,
                            "classes": classes,
                            "probabilities": [round(v, 6) for v in values],
                            "single_label": len(classes) == 1,
                        }
                    )
            sink.write("".join(json.dumps(r) + "\n" for r in records))
            sink.flush()
            written += len(keys)
            bar.update(len(keys))
    return written, failed


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _group_by_image(batch: Sequence[tuple[Path, int]]) -> list[tuple[Path, list[int]]]:
    grouped: dict[Path, list[int]] = {}
    for path, view in batch:
        grouped.setdefault(path, []).append(view)
    return list(grouped.items())


def read_documents(path: Path, num_classes: int = 1000) -> list[Document]:
    """Documents from our JSONL format or the reference JSON object (path → class indices).

    Error records of the JSONL format are skipped. Raises EngineInputError naming the line for
    non-JSON lines, empty lines in the middle of the file, missing fields and class indices
    outside 0..num_classes−1.
    """
    if not path.is_file():
        raise EngineInputError(f"{path}: no such file (expected documents, .jsonl or .json)")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{") and path.suffix != ".jsonl":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError:
            mapping = None
        if isinstance(mapping, dict) and "classes" not in mapping:
            return [
                Document(str(image), 0, _checked(classes, num_classes, f"{path}: image {image}"))
                for image, classes in mapping.items()
            ]
    documents = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if not line.strip():
            raise EngineInputError(f"{where}: empty line (expected one JSON document per line)")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EngineInputError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(record, dict) or "image" not in record:
            raise EngineInputError(f"{where}: expected an object with image and classes")
        if "error" in record:
            continue
        if "classes" not in record:
            raise EngineInputError(f"{where}: no classes field")
        documents.append(
            Document(
                str(record["image"]),
                int(record.get("view", 0)),
                _checked(record["classes"], num_classes, where),
            )
        )
    return documents


def _checked(classes: object, num_classes: int, where: str) -> tuple[int, ...]:
    if not isinstance(classes, list) or not classes:
        raise EngineInputError(f"{where}: classes must be a non-empty list of class indices")
    for index in classes:
        if isinstance(index, bool) or not isinstance(index, int):
            raise EngineInputError(f"{where}: class {index!r} is not an integer index")
        if not 0 <= index < num_classes:
            raise EngineInputError(
                f"{where}: class index {index} unknown (expected 0..{num_classes - 1})"
            )
    return tuple(classes)
