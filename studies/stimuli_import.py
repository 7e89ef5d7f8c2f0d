"""Importing a stimulus manifest written by the engine (``docs/stimulus-manifest.md``).

Everything is checked before anything is written. Two kinds of problems:

- The manifest cannot be trusted: a malformed manifest or item, an unknown method, a path
  outside the manifest's folder, a missing file, a SHA-256 mismatch, an item id used twice or
  already in the study. The whole manifest is refused (:class:`ManifestError`, nothing imported)
  with a message naming the item and field: the folder is not what the engine wrote.
- One item's pictures cannot be shown (:func:`measure_pictures`): a file that does not decode as
  an image, a heatmap of another size than the item's image, a blank heatmap (its overlay shows
  nothing: visible area 0, :func:`explain_engine.quality.visible_area`), or a map whose quality
  record in the manifest reports a hard failure (NaN/inf, constant, blank;
  :func:`explain_engine.quality.grade`). The item is rejected — in every condition, since an
  item is one unit of a study — and listed with the reason in :attr:`ImportResult.rejected`; the
  other items are imported. If every item is rejected, nothing is imported.

A failure while copying files removes what was copied.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from explain_engine.quality import MapQuality, grade, visible_area
from studies.condition_kinds import shows_cluster_map
from studies.models import HeatmapSet, StimulusItem, StimulusManifest, Study
from studies.models.study import method_name_validator

FORMAT = "cwox-stimuli"
VERSION = 1
MAX_ZIP_BYTES = 2 * 1024**3


class ManifestError(ValueError):
    """The manifest (or a file it names) is not what the format promises."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class PlannedItem:
    """One manifest item, checked: what will be stored for it (``role`` None: not given)."""

    key: str
    role: str | None
    classes: list[dict[str, Any]]
    image: str
    heatmaps: dict[str, dict[str, str]]
    details: dict[str, Any]
    quality: dict[str, Any]
    pair_quality: dict[str, Any] = field(default_factory=dict)
    #: method → slot → visible area of the overlay file, measured here (accepted items only).
    visible: dict[str, dict[str, float]] = field(default_factory=dict)

    def stored_quality(self, method: str) -> dict[str, Any]:
        """What :attr:`HeatmapSet.quality` keeps of ``method``'s maps: each slot's record of
        the manifest (when it has one) with the visible area measured on the file, and the
        pair's record under ``"pair"``."""
        stored: dict[str, Any] = {
            slot: {**self.quality.get(method, {}).get(slot, {}), "visible_area": area}
            for slot, area in self.visible.get(method, {}).items()
        }
        if pair := self.pair_quality.get(method):
            stored["pair"] = pair
        return stored


@dataclass(frozen=True)
class RejectedItem:
    """A manifest item that was not imported, and why (names the file and the problem)."""

    key: str
    reason: str


@dataclass(frozen=True)
class ItemPlan:
    """The checked items of a manifest: those to import, in manifest order, and the rejected."""

    items: tuple[PlannedItem, ...]
    rejected: tuple[RejectedItem, ...]


@dataclass(frozen=True)
class ImportResult(Sequence[StimulusItem]):
    """The created items (the result is a sequence of them) and the rejected manifest items."""

    items: tuple[StimulusItem, ...]
    rejected: tuple[RejectedItem, ...]

    def __getitem__(self, index: int | slice) -> StimulusItem | tuple[StimulusItem, ...]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


def import_manifest(
    study: Study, folder: str | Path, *, training: int = 0, source: str | None = None
) -> ImportResult:
    """Import the items of ``folder/manifest.json`` into ``study`` (a draft).

    Items whose pictures cannot be shown are rejected (module docstring). Accepted items
    without a ``role`` become training items (the first ``training`` of them, in manifest
    order) or test items. Returns the created items and the rejected ones.
    """
    study.require_draft("stimulus items")
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    document = _load(manifest_path)
    plan = plan_items(document, folder, training)
    planned = plan.items
    taken = set(study.items.filter(key__in=[p.key for p in planned]).values_list("key", flat=True))
    if taken:
        raise ManifestError(f"the study already has items {', '.join(sorted(taken))}")
    saved: list[str] = []
    try:
        with transaction.atomic():
            record = StimulusManifest.objects.create(
                study=study,
                source=source or str(manifest_path),
                sha256=sha256_of(manifest_path),
                model=document["model"],
                explainer=document["explainer"],
                methods=document["methods"],
                seed=document.get("seed"),
                software=document.get("software", {}),
                document=document,
                rejected=_left_out(document, plan.rejected),
            )
            files = document["files"]
            items = tuple(_store(study, record, item, folder, files, saved) for item in planned)
            return ImportResult(items, plan.rejected)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _left_out(document: dict[str, Any], rejected: Sequence[RejectedItem]) -> list[dict]:
    """Every image of the manifest's run that did not become an item, with the step that left
    it out: no pair (``unpaired``), failed pregeneration (``failed``), rejected here."""
    left = [
        {"id": str(entry.get("image", "?")), "stage": stage, "reason": str(entry.get("reason", ""))}
        for stage, key in (("pairs", "unpaired"), ("pregenerate", "failed"))
        for entry in document.get(key, [])
        if isinstance(entry, dict)
    ]
    return left + [{"id": r.key, "stage": "import", "reason": r.reason} for r in rejected]


def import_manifest_zip(
    study: Study, upload: IO[bytes], *, training: int = 0, source: str = "upload"
) -> ImportResult:
    """Import a ZIP of a manifest folder (``manifest.json`` at its top or in one folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        try:
            archive = zipfile.ZipFile(upload)
        except zipfile.BadZipFile as error:
            raise ManifestError("the upload is not a ZIP file") from error
        with archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
                raise ManifestError("the ZIP file unpacks to more than 2 GiB")
            for info in archive.infolist():
                if not _inside(info.filename):
                    raise ManifestError(f"the ZIP file holds an unsafe path: {info.filename}")
            archive.extractall(root)
        manifests = sorted(root.glob("manifest.json")) or sorted(root.glob("*/manifest.json"))
        if len(manifests) != 1:
            raise ManifestError("the ZIP file must hold exactly one manifest.json")
        return import_manifest(study, manifests[0].parent, training=training, source=source)


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ManifestError(f"no manifest.json in {path.parent}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ManifestError(f"{path} is not a {FORMAT} manifest (format field)")
    if document.get("version") != VERSION:
        raise ManifestError(f"{path}: version {document.get('version')!r}; expected {VERSION}")
    for name, kind in (("model", dict), ("explainer", dict), ("methods", list)):
        if not isinstance(document.get(name), kind):
            raise ManifestError(f"{path}: field {name!r} must be a {kind.__name__}")
    if not isinstance(document.get("items"), list):
        raise ManifestError(f"{path}: field 'items' must be a non-empty list")
    if not document["items"]:
        left_out = "; ".join(
            f"{entry['id']} ({entry['stage']}: {entry['reason']})"
            for entry in _left_out(document, [])
        )
        raise ManifestError(f"{path}: no items to import" + (f"; {left_out}" if left_out else ""))
    if not isinstance(document.get("files"), dict):
        raise ManifestError(f"{path}: field 'files' must map file paths to SHA-256")
    return document


def plan_items(document: dict[str, Any], folder: Path, training: int) -> ItemPlan:
    """Check every item and file of ``document``: ManifestError on the first problem of the
    manifest; items whose pictures cannot be shown are rejected (module docstring). Accepted
    items without a role get one here, counted among the accepted items."""
    methods = document["methods"]
    for method in methods:
        _check_method(method)
    hashes: dict[str, str] = document["files"]
    planned, keys = [], set()
    for number, raw in enumerate(document["items"]):
        item = _plan_item(raw, number, methods)
        if item.key in keys:
            raise ManifestError(f"item {item.key}: the id is used twice")
        keys.add(item.key)
        for path in _files_of(item):
            _check_file(folder, path, hashes, item.key)
        planned.append(item)
    accepted, rejected = [], []
    for item in planned:
        measured = measure_pictures(folder, item)
        if isinstance(measured, dict):
            role = item.role or ("training" if len(accepted) < training else "test")
            accepted.append(replace(item, role=role, visible=measured))
        else:
            rejected.append(RejectedItem(item.key, measured))
    if not accepted:
        reasons = "; ".join(f"{r.key}: {r.reason}" for r in rejected)
        raise ManifestError(f"every item was rejected ({reasons})")
    return ItemPlan(tuple(accepted), tuple(rejected))


def measure_pictures(folder: Path, item: PlannedItem) -> dict[str, dict[str, float]] | str:
    """The visible area of every heatmap overlay of the item (method → slot → share in
    (0, 1]), or why its pictures cannot be shown: the image and every heatmap file must decode
    as images, heatmaps of the image's size, none blank, and no map's quality record
    (``quality`` of the item, optional) may report a hard failure."""
    photo = _decoded(folder, item.image)
    if isinstance(photo, str):
        return photo
    visible: dict[str, dict[str, float]] = {}
    for method, files in item.heatmaps.items():
        visible[method] = {}
        for slot in ("a", "b", "cluster"):
            if slot not in files:
                continue
            path = files[slot]
            picture = _decoded(folder, path)
            if isinstance(picture, str):
                return picture
            if picture.shape != photo.shape:
                height, width = picture.shape[:2]
                return (
                    f"{path} is {width}×{height} pixels; the item's image "
                    f"{item.image} is {photo.shape[1]}×{photo.shape[0]}"
                )
            area = visible_area(picture, photo)
            if area == 0:
                return f"{path} is blank: the {method} overlay shows nothing over the image"
            if failures := _recorded_failures(item, method, slot):
                return f"{method} map {slot}: the manifest's quality record reports {failures}"
            visible[method][slot] = area
    return visible


def _decoded(folder: Path, path: str) -> np.ndarray | str:
    """The picture at ``path`` as an RGB array (H, W, 3), or why it does not decode."""
    try:
        with Image.open(folder / path) as picture:
            picture.verify()
        with Image.open(folder / path) as picture:
            picture.load()
            return np.asarray(picture.convert("RGB"))
    except Exception as error:  # Pillow raises many kinds for a broken file; all mean "broken"
        return f"{path} does not decode as an image ({type(error).__name__}: {error})"


def _recorded_failures(item: PlannedItem, method: str, slot: str) -> str | None:
    """The hard failures of the map's quality record (``quality[method][slot]``), if any."""
    record = item.quality.get(method, {}).get(slot)
    if record is None:
        return None
    optional = {"visible_area": None, "concentration": None, "n_delta": 0, "border_peak": False}
    quality = MapQuality(**{name: record.get(name, optional.get(name)) for name in _QUALITY_FIELDS})
    hard = grade([quality]).hard
    return ", ".join(problem.split(":")[0] for problem in hard) or None


def _plan_item(raw: Any, number: int, methods: list[str]) -> PlannedItem:
    where = f"item #{number + 1}"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} is not an object")
    key = raw.get("id")
    if not isinstance(key, str) or not key or not all(c.isalnum() or c in "-_" for c in key):
        raise ManifestError(f"{where}: 'id' must be letters, digits, '-' or '_'")
    where = f"item {key}"
    role = raw.get("role") or None
    if role is not None and role not in StimulusItem.Role.values:
        raise ManifestError(f"{where}: role {role!r}; expected one of {StimulusItem.Role.values}")
    classes = raw.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) != 2
        or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in classes)
    ):
        raise ManifestError(f"{where}: 'classes' must be the two classes of the pair, with names")
    if not isinstance(raw.get("image"), str):
        raise ManifestError(f"{where}: 'image' must be a file path")
    heatmaps = raw.get("heatmaps")
    if not isinstance(heatmaps, dict):
        raise ManifestError(f"{where}: 'heatmaps' must map methods to files")
    if unknown := sorted(set(heatmaps) - set(methods)):
        raise ManifestError(f"{where}: heatmaps of unknown method(s) {unknown}")
    for method in methods:
        files = heatmaps.get(method)
        if not isinstance(files, dict) or not all(isinstance(files.get(s), str) for s in "ab"):
            raise ManifestError(f"{where}: {method} needs heatmap files 'a' and 'b'")
        if shows_cluster_map(method) and not isinstance(files.get("cluster"), str):
            raise ManifestError(f"{where}: {method} needs the stage-1 'cluster' map")
    quality = _quality_records(raw.get("quality", {}), where)
    pair_quality = raw.get("pair_quality", {})
    if not isinstance(pair_quality, dict) or not all(
        isinstance(record, dict) for record in pair_quality.values()
    ):
        raise ManifestError(f"{where}: 'pair_quality' must map methods to records")
    details = {k: raw[k] for k in ("cluster", "source") if k in raw}
    return PlannedItem(key, role, classes, raw["image"], heatmaps, details, quality, pair_quality)


_QUALITY_FIELDS = tuple(MapQuality.__dataclass_fields__)
_REQUIRED_QUALITY = ("finite", "constant", "positive")


def _quality_records(quality: Any, where: str) -> dict[str, Any]:
    """The optional ``quality`` of an item: method → slot → a ``MapQuality.to_dict()`` record
    (at least ``finite``, ``constant`` and ``positive``; other keys are kept, not read)."""
    if not isinstance(quality, dict) or not all(
        isinstance(slots, dict)
        and all(
            isinstance(r, dict) and all(isinstance(r.get(k), bool) for k in _REQUIRED_QUALITY)
            for r in slots.values()
        )
        for slots in quality.values()
    ):
        raise ManifestError(
            f"{where}: 'quality' must map methods to slots to records with "
            f"{', '.join(_REQUIRED_QUALITY)} (true/false)"
        )
    return quality


def _check_method(method: Any) -> None:
    try:
        method_name_validator(method)
    except (ValidationError, TypeError) as error:
        raise ManifestError(f"method {method!r} is not a valid method name") from error


def _files_of(item: PlannedItem) -> Iterable[str]:
    yield item.image
    for files in item.heatmaps.values():
        yield from (path for name, path in files.items() if name in ("a", "b", "cluster"))


def _inside(path: str) -> bool:
    pure = PurePosixPath(path.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts


def _check_file(folder: Path, path: str, hashes: dict[str, str], key: str) -> None:
    if not _inside(path):
        raise ManifestError(f"item {key}: path {path!r} leaves the manifest's folder")
    if path not in hashes:
        raise ManifestError(f"item {key}: {path} has no SHA-256 in 'files'")
    target = folder / path
    if not target.is_file():
        raise ManifestError(f"item {key}: file {path} is missing")
    if sha256_of(target) != hashes[path]:
        raise ManifestError(f"item {key}: {path} does not match its SHA-256 (changed or corrupt)")


def _store(
    study: Study,
    record: StimulusManifest,
    planned: PlannedItem,
    folder: Path,
    hashes: dict[str, str],
    saved: list[str],
) -> StimulusItem:
    a, b = planned.classes
    item = StimulusItem(
        study=study,
        manifest=record,
        key=planned.key,
        role=planned.role,
        image_sha256=hashes[planned.image],
        class_a_name=a["name"],
        class_a_index=a.get("index"),
        class_a_probability=a.get("probability"),
        class_b_name=b["name"],
        class_b_index=b.get("index"),
        class_b_probability=b.get("probability"),
        details=planned.details,
    )
    _attach(item.image, folder, planned.image, "image", saved)
    item.save()
    for method, files in planned.heatmaps.items():
        maps = HeatmapSet(
            item=item,
            method=method,
            hashes={name: hashes[path] for name, path in files.items() if path in hashes},
            quality=planned.stored_quality(method),
        )
        _attach(maps.map_a, folder, files["a"], f"{method}-a", saved)
        _attach(maps.map_b, folder, files["b"], f"{method}-b", saved)
        if files.get("cluster"):
            _attach(maps.cluster_map, folder, files["cluster"], f"{method}-cluster", saved)
        maps.save()
    return item


def _attach(field, folder: Path, path: str, stem: str, saved: list[str]) -> None:
    suffix = Path(path).suffix.lower() or ".png"
    with (folder / path).open("rb") as stream:
        field.save(f"{stem}{suffix}", File(stream), save=False)
    saved.append(field.name)
