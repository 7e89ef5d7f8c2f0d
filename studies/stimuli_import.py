"""Importing a stimulus manifest written by the engine (``docs/stimulus-manifest.md``).

Everything is checked before anything is written: the format, every item, every path (inside
the manifest's folder), every file's SHA-256. Any problem refuses the whole manifest with a
message naming the item and field; a failure while copying files removes what was copied.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

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
    """One manifest item, checked: what will be stored for it."""

    key: str
    role: str
    classes: list[dict[str, Any]]
    image: str
    heatmaps: dict[str, dict[str, str]]
    details: dict[str, Any]


def import_manifest(
    study: Study, folder: str | Path, *, training: int = 0, source: str | None = None
) -> list[StimulusItem]:
    """Import every item of ``folder/manifest.json`` into ``study`` (a draft).

    Items without a ``role`` become training items (the first ``training`` of them, in
    manifest order) or test items. Returns the created items.
    """
    study.require_draft("stimulus items")
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    document = _load(manifest_path)
    planned = plan_items(document, folder, training)
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
            )
            files = document["files"]
            return [_store(study, record, item, folder, files, saved) for item in planned]
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def import_manifest_zip(
    study: Study, upload: IO[bytes], *, training: int = 0, source: str = "upload"
) -> list[StimulusItem]:
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
    for field, kind in (("model", dict), ("explainer", dict), ("methods", list)):
        if not isinstance(document.get(field), kind):
            raise ManifestError(f"{path}: field {field!r} must be a {kind.__name__}")
    if not isinstance(document.get("items"), list) or not document["items"]:
        raise ManifestError(f"{path}: field 'items' must be a non-empty list")
    if not isinstance(document.get("files"), dict):
        raise ManifestError(f"{path}: field 'files' must map file paths to SHA-256")
    return document


def plan_items(document: dict[str, Any], folder: Path, training: int) -> list[PlannedItem]:
    """Check every item and file of ``document``; raises ManifestError on the first problem."""
    methods = document["methods"]
    for method in methods:
        _check_method(method)
    hashes: dict[str, str] = document["files"]
    planned, keys = [], set()
    for number, raw in enumerate(document["items"]):
        item = _plan_item(raw, number, methods, training)
        if item.key in keys:
            raise ManifestError(f"item {item.key}: the id is used twice")
        keys.add(item.key)
        for path in _files_of(item):
            _check_file(folder, path, hashes, item.key)
        planned.append(item)
    return planned


def _plan_item(raw: Any, number: int, methods: list[str], training: int) -> PlannedItem:
    where = f"item #{number + 1}"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} is not an object")
    key = raw.get("id")
    if not isinstance(key, str) or not key or not all(c.isalnum() or c in "-_" for c in key):
        raise ManifestError(f"{where}: 'id' must be letters, digits, '-' or '_'")
    where = f"item {key}"
    role = raw.get("role") or ("training" if number < training else "test")
    if role not in StimulusItem.Role.values:
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
    details = {k: raw[k] for k in ("cluster", "source") if k in raw}
    return PlannedItem(key, role, classes, raw["image"], heatmaps, details)


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
