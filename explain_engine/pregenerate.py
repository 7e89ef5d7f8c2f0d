"""Study stimuli from a pair manifest: crop images, heatmap overlays and the stimulus manifest.

:func:`pregenerate` reads a pair manifest (:mod:`explain_engine.pairs`) and writes, into one
folder, what ``docs/stimulus-manifest.md`` specifies::

    manifest.json                        format "cwox-stimuli", version 1 (+ "failed",
                                         "unpaired", "rendering", per item "quality")
    images/<id>.png                      the crop the classifier saw (resize + centre crop)
    heatmaps/<id>/<method>-a.png         heatmap of class a over the crop, per method
    heatmaps/<id>/<method>-b.png         ... of class b
    heatmaps/<id>/cwox-2s-cluster.png    CWOX-2s stage-1 map of the pair's cluster
    .done/<id>.json                      per-item done marker (resume bookkeeping)

Which classes are explained. Each image is explained exactly as CWOX explains it: over its top-K
classes (the rule recorded in the pair manifest), clustered by the same tree at the same level,
not over the pair or its cluster alone, because the maps must be those CWOX shows for that
image. CWOX-2s's stage-1 map of the pair's cluster contrasts it with the image's *other*
clusters (eq. 1), which exist only when the other top classes are explained; its class maps
contrast a class with every other top class of its cluster (eq. 2), which may hold a third class
besides the pair; CWOX-1sB contrasts a class with all other top classes. Explaining the cluster
alone would make the cluster map a plain map (I = 1) and the one-stage maps within-cluster
contrasts. Images are explained in batches with the top-K rule; an image whose recomputed top
classes differ from those recorded in the pair manifest (a probability within rounding of the
Cum(q) threshold, e.g. on another device) is explained again alone with
``ExplanationSettings(classes=recorded top classes)``, so the pair's cluster is always the one
the pair manifest records (checked: otherwise the item fails).

Quality. Every overlay is drawn with one rendering for all methods (:data:`RENDERING`, recorded
in the manifest), and each map's measures (:func:`explain_engine.quality.map_quality`: visible
area of the overlay as drawn, concentration, n_δ, border peak, finite/constant/positive) and
each pair's (:func:`explain_engine.quality.pair_quality`) are written with the item
(``quality[method][slot]``, ``pair_quality[method]``); the importer gates and flags on them.

Resuming. Each item's files are written atomically, then its done marker, which records the
SHA-256 of every file and a fingerprint of the settings (model, tree, explainer, methods,
options, precision, rendering, the item's pair). An item counts as finished only when its
marker matches the settings and every file still has the recorded hash, so an interrupted or
half-written item is computed again and finished items are skipped. ``manifest.json`` is
rewritten at the end from every finished item, in pair-manifest order; ``role``s are assigned
then.

Precision. ``"fp32"`` everywhere by default. ``"mixed"`` (CUDA only) runs the explanation under
``torch.autocast`` with float16, but only where the maps stay within :data:`MIXED_TOLERANCE` of
fp32: the first batch is computed both ways and, if any map deviates more
(:func:`map_deviation`), the run falls back to fp32 with a warning. The manifest records what
was used.

Failures. An unreadable image fails its item with the reason (reported to the ``progress``
callback, returned in the summary and listed in the manifest's ``"failed"``); the other items
go on. Nothing is printed: the command line prints what the callback reports.

Chunks. ``item_ids`` restricts a run to some items of the pair manifest (several workers share
one stimulus folder, each with its own items), and ``write_manifest=False`` leaves
``manifest.json`` to a final run over all items; :func:`finished_items` says which items are
finished without computing anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.files import write_json_atomically
from explain_engine.images import load_image
from explain_engine.models import Classifier
from explain_engine.pairs import ChosenPair, PairManifest
from explain_engine.placebo import SEED as PLACEBO_SEED
from explain_engine.placebo import add_placebo_maps, randomized_model, split_methods
from explain_engine.quality import map_quality, pair_quality
from explain_engine.render import RENDERING, image_to_pil, overlay, save_png
from explain_engine.results import Heatmap, ImageExplanation
from explain_engine.sanity import model_randomisation
from explain_engine.tree import LatentTree
from explain_engine.wox import WoxOptions

STIMULI_FORMAT = "cwox-stimuli"
STIMULI_VERSION = 1
MANIFEST_FILE = "manifest.json"
DONE_DIR = ".done"
#: The methods of the paper's user study (Section 5.2).
STUDY_METHODS = ("swox", "cwox-1sb", "cwox-2s")
ROLES = ("training", "test", "attention")
PRECISIONS = ("fp32", "mixed")
#: Largest accepted |mixed − fp32| of any map, relative to the peak |value| of the fp32 map.
MIXED_TOLERANCE = 0.05
#: The reduced dtype of ``"mixed"``: float16 keeps 3 more mantissa bits than bfloat16, which
#: contrastive maps (differences of similar maps) need; classifier activations fit its range.
MIXED_DTYPE = torch.float16
#: Threads writing PNG files (encoding one item's 8 PNGs costs ~3× its Grad-CAM maps on a CPU).
WRITERS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class ItemProgress:
    """One item handled by :func:`pregenerate`, reported to its ``progress`` callback.

    Attributes:
        item_id: the item.
        status: ``"computed"`` (files and done marker written) or ``"failed"``.
        reason: why it failed (None when computed).
        done / total: items handled so far / items to compute in this run.
    """

    item_id: str
    status: Literal["computed", "failed"]
    reason: str | None
    done: int
    total: int


#: Called once per item computed or failed, on the calling thread.
Progress = Callable[[ItemProgress], None]


@dataclass(frozen=True)
class PregenerationSummary:
    """What one :func:`pregenerate` run did.

    Attributes:
        manifest: path of the written ``manifest.json`` (None with ``write_manifest=False``).
        computed: ids of the items computed in this run.
        resumed: ids of the items found finished and skipped.
        failed: (id, reason) of the items that failed in this run.
        precision: the precision used in this run: ``"fp32"`` or ``"mixed-float16"``.
    """

    manifest: Path | None
    computed: tuple[str, ...]
    resumed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    precision: str


SANITY_ITEMS = 8
"""Items of the model-randomisation sanity check recorded in the manifest."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_roles(text: str) -> list[tuple[str, int]]:
    """``"training=3,attention=1"`` → [("training", 3), ("attention", 1)] (EngineInputError)."""
    roles = []
    for part in text.split(","):
        role, _, count = part.strip().partition("=")
        if role not in ROLES or not count.strip().isdigit():
            raise EngineInputError(
                f"--roles {text!r}: expected ROLE=N[,ROLE=N...] with ROLE one of {', '.join(ROLES)}"
            )
        roles.append((role, int(count)))
    return roles


def explain_pairs(
    classifier: Classifier,
    images: Sequence[Image.Image],
    pairs: Sequence[ChosenPair],
    explainer: BaseExplainer,
    settings: ExplanationSettings,
    precision: str = "fp32",
) -> list[ImageExplanation]:
    """Explain ``images`` (one batch) over the top classes recorded in their ``pairs``.

    ``settings`` gives the methods, tree, cluster level and top-K rule (``settings.classes``
    must be None). The batch is explained with the top-K rule; an image whose top classes come
    out different from ``pair.top.classes`` is explained again alone with those classes (see
    the module docstring). ``precision`` is ``"fp32"`` or ``"mixed"`` (torch.autocast with
    :data:`MIXED_DTYPE` on the classifier's device).
    """
    if settings.classes is not None:
        raise ValueError("explain_pairs takes each image's classes from its pair, not settings")
    with _precision(classifier.device, precision):
        results = explain_batch(classifier, images, explainer, settings)
        for n, (image, pair, result) in enumerate(zip(images, pairs, results, strict=True)):
            if {top.index for top in result.top_classes} != set(pair.top.classes):
                fixed = replace(settings, classes=pair.top.classes)
                results[n] = explain_batch(classifier, [image], explainer, fixed)[0]
    return results


def map_deviation(
    reference: Sequence[ImageExplanation], other: Sequence[ImageExplanation]
) -> float:
    """Largest |other − reference| over every map of every method and image, each divided by
    the peak |value| of its reference map (0 for two all-zero maps). Both must hold the same
    maps in the same order (ValueError otherwise)."""
    worst = 0.0
    for ours, theirs in zip(reference, other, strict=True):
        for method, wox in ours.methods.items():
            for a, b in zip(wox.maps, theirs.methods[method].maps, strict=True):
                if (a.kind, a.target) != (b.kind, b.target):
                    raise ValueError(f"{method}: maps differ ({a.target} vs {b.target})")
                reference_map = a.values.float()
                peak = float(reference_map.abs().max())
                difference = float((b.values.float() - reference_map).abs().max())
                worst = max(worst, difference / peak if peak > 0 else difference)
    return worst


def pregenerate(
    classifier: Classifier,
    pairs: PairManifest,
    out: Path,
    explainer: BaseExplainer,
    *,
    methods: Sequence[str] = STUDY_METHODS,
    options: WoxOptions | None = None,
    batch_size: int = 8,
    precision: str = "fp32",
    roles: Sequence[tuple[str, int]] = (),
    seed: int = 0,
    item_ids: Collection[str] | None = None,
    write_manifest: bool = True,
    progress: Progress | None = None,
) -> PregenerationSummary:
    """Write the stimuli of every item of ``pairs`` into ``out`` (see the module docstring).

    Args:
        classifier: must be the pair manifest's model (same name and weights SHA-256).
        pairs: the pair manifest, from :func:`explain_engine.pairs.read_pair_manifest`.
        out: the stimulus folder (created; finished items in it are kept and skipped).
        explainer: the base explainer (Grad-CAM or RISE with its settings and seeds).
        methods: WOX method names (any of :data:`explain_engine.wox.METHODS`).
        options: how base maps are combined (paper defaults when None).
        batch_size: images per explanation batch (>= 1).
        precision: ``"fp32"`` or ``"mixed"`` (CUDA only).
        roles: (role, count) pairs: the first items of the manifest get these roles in
            order, the others ``"test"``; empty: items carry no role (the importer assigns).
        seed: recorded as the manifest's ``seed`` (the explainer's own seeds are in its
            parameters).
        item_ids: compute only these items of ``pairs`` (None: all); unknown ids are refused.
        write_manifest: (re)write ``manifest.json`` from every finished item of ``pairs``.
        progress: called with an :class:`ItemProgress` after each item computed or failed.

    Raises:
        EngineInputError: a model or weights other than the pair manifest's, an unreadable
            tree file, an unknown method or precision, mixed precision without CUDA, a bad
            batch size, an item id not in the pair manifest.
    """
    _check_model(classifier, pairs)
    known = {item_id for item_id, _ in pairs.items}
    if item_ids is not None and (unknown := sorted(set(item_ids) - known)):
        raise EngineInputError(f"items {', '.join(unknown)}: not in the pair manifest")
    if precision not in PRECISIONS:
        raise EngineInputError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "mixed" and classifier.device.type != "cuda":
        raise EngineInputError(
            f"precision mixed: needs a CUDA device (the classifier is on {classifier.device}); "
            "use fp32"
        )
    if batch_size < 1:
        raise EngineInputError(f"batch size {batch_size}: expected at least 1")
    tree = LatentTree.load(pairs.tree)
    wox_methods, placebos = split_methods(methods)
    settings = ExplanationSettings(
        methods=wox_methods,
        top_k=pairs.top_k,
        tree=tree,
        cluster_level=pairs.rules.cluster_level,
        options=options or WoxOptions(),
    )
    settings.wox_methods()  # unknown method names fail here, before any work
    context = _Context(classifier, pairs, out, explainer, settings, precision, tuple(methods))
    done = {
        item_id: marker
        for item_id, pair in pairs.items
        if (marker := context.finished(item_id, pair))
    }
    selected = [
        (item_id, pair) for item_id, pair in pairs.items if item_ids is None or item_id in item_ids
    ]
    resumed = tuple(item_id for item_id, _ in selected if item_id in done)
    pending = [(item_id, pair) for item_id, pair in selected if item_id not in done]
    failed: list[tuple[str, str]] = []
    computed: list[str] = []

    writes: deque[tuple[str, Future[dict[str, Any]]]] = deque()

    def report(item_id: str, reason: str | None) -> None:
        if progress is not None:
            status = "failed" if reason is not None else "computed"
            handled = len(failed) + len(computed)
            progress(ItemProgress(item_id, status, reason, handled, len(pending)))

    def fail(item_id: str, reason: str) -> None:
        failed.append((item_id, reason))
        report(item_id, reason)

    def finish_writes(keep: int) -> None:
        while len(writes) > keep:
            item_id, future = writes.popleft()
            done[item_id] = future.result()
            computed.append(item_id)
            report(item_id, None)

    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="pregenerate") as pool:
        for start in range(0, len(pending), batch_size):
            loaded = []
            for item_id, pair in pending[start : start + batch_size]:
                try:
                    loaded.append((item_id, pair, load_image(pairs.images_dir / pair.image)))
                except EngineInputError as error:
                    fail(item_id, str(error))
            for (item_id, pair, _), explanation in zip(
                loaded, context.explain(loaded), strict=True
            ):
                try:
                    cluster = context.pair_cluster(pair, explanation)
                except EngineInputError as error:
                    fail(item_id, str(error))
                    continue
                job = pool.submit(context.write_item, item_id, pair, explanation, cluster)
                writes.append((item_id, job))
            finish_writes(keep=batch_size + WRITERS)  # bounds the explanations held in memory
        finish_writes(keep=0)
    return PregenerationSummary(
        manifest=context.write_manifest(done, failed, roles, seed) if write_manifest else None,
        computed=tuple(computed),
        resumed=resumed,
        failed=tuple(failed),
        precision=context.used_precision,
    )


def finished_items(out: Path, item_ids: Iterable[str]) -> set[str]:
    """The ids among ``item_ids`` whose files in the stimulus folder ``out`` are complete: a
    done marker that every file still matches (the settings are checked by
    :func:`pregenerate`, which recomputes an item finished with other settings)."""
    return {item_id for item_id in item_ids if _intact_marker(out, item_id) is not None}


def _intact_marker(out: Path, item_id: str) -> dict[str, Any] | None:
    """The item's done marker if it parses and every file it lists has its recorded hash."""
    try:
        marker = json.loads((out / DONE_DIR / f"{item_id}.json").read_text("utf-8"))
        for relative, digest in marker["files"].items():
            if sha256_file(out / relative) != digest:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return marker if isinstance(marker, dict) else None


def _check_model(classifier: Classifier, pairs: PairManifest) -> None:
    """The classifier must be the one that chose the pairs (top classes, clusters)."""
    name, digest = pairs.model.get("name"), pairs.model.get("weights_sha256")
    if classifier.name != name:
        raise EngineInputError(
            f"model {classifier.name!r}: the pairs were chosen with {name!r}; use --model {name}"
        )
    if digest and classifier.weights_sha256 and digest != classifier.weights_sha256:
        raise EngineInputError(
            f"weights {classifier.weights_file}: SHA-256 {classifier.weights_sha256[:12]}… "
            f"differs from the pair manifest's {digest[:12]}…; expected the same weights"
        )


@contextlib.contextmanager
def _precision(device: torch.device, precision: str) -> Iterator[None]:
    if precision == "mixed":
        with torch.autocast(device_type=device.type, dtype=MIXED_DTYPE):
            yield
    else:
        yield


class _Context:
    """One pregeneration run's fixed inputs and what it decided (the precision used)."""

    def __init__(
        self,
        classifier: Classifier,
        pairs: PairManifest,
        out: Path,
        explainer: BaseExplainer,
        settings: ExplanationSettings,
        precision: str,
        methods: tuple[str, ...],
    ) -> None:
        self.classifier = classifier
        #: Every heatmap set to write, WOX methods and placebos, in the order asked for.
        self.methods = methods
        self.placebos = split_methods(methods)[1]
        self.placebo_model = randomized_model(classifier) if self.placebos else None
        self.pairs = pairs
        self.out = out
        self.explainer = explainer
        self.settings = settings
        self.precision = precision
        self.rendering = RENDERING
        #: None until the first batch compared mixed with fp32 maps (precision "mixed" only).
        self.mixed_ok: bool | None = None
        self.checked_deviation: float | None = None
        self.tree_sha256 = sha256_file(pairs.tree)
        self.fingerprint = {
            "model": {"name": classifier.name, "weights_sha256": classifier.weights_sha256},
            "tree_sha256": self.tree_sha256,
            "cluster_level": settings.cluster_level,
            "top_k": asdict(settings.top_k),
            "explainer": {"name": explainer.name, "parameters": explainer.parameters(classifier)},
            "options": asdict(settings.options),
            "methods": list(methods),
            "placebo_seed": PLACEBO_SEED if self.placebos else None,
            "precision": precision,
            "rendering": self.rendering.to_dict(),
        }
        (out / DONE_DIR).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------- resuming

    def finished(self, item_id: str, pair: ChosenPair) -> dict[str, Any] | None:
        """The item's done marker if it matches these settings and every file's hash."""
        marker = _intact_marker(self.out, item_id)
        if marker is None or marker.get("fingerprint") != self.fingerprint:
            return None
        return marker if marker.get("pair") == _pair_key(pair) else None

    # ------------------------------------------------------------------------ computing

    def explain(
        self, loaded: Sequence[tuple[str, ChosenPair, Image.Image]]
    ) -> list[ImageExplanation]:
        """Explain one batch of (id, pair, image), then add the placebo arms' maps (the same
        classes on :attr:`placebo_model`, in fp32)."""
        explanations = self._explain_trained(loaded)
        if self.placebo_model is not None:
            images = [image for _, _, image in loaded]
            add_placebo_maps(
                self.placebo_model,
                images,
                explanations,
                self.explainer,
                self.settings,
                self.placebos,
            )
        return explanations

    def _explain_trained(
        self, loaded: Sequence[tuple[str, ChosenPair, Image.Image]]
    ) -> list[ImageExplanation]:
        """The trained model's explanations in fp32, or in mixed precision once the first
        batch showed that its maps stay within tolerance (see the module docstring)."""
        if not loaded:
            return []
        images = [image for _, _, image in loaded]
        pairs = [pair for _, pair, _ in loaded]
        args = (self.classifier, images, pairs, self.explainer, self.settings)
        if self.precision == "fp32" or self.mixed_ok is False:
            return explain_pairs(*args)
        if self.mixed_ok:
            return explain_pairs(*args, precision="mixed")
        reference = explain_pairs(*args)
        mixed = explain_pairs(*args, precision="mixed")
        self.checked_deviation = map_deviation(reference, mixed)
        self.mixed_ok = self.checked_deviation <= MIXED_TOLERANCE
        if self.mixed_ok:
            return mixed
        warnings.warn(
            f"mixed precision maps deviate by {self.checked_deviation:.3f} of their peak from "
            f"fp32 (tolerance {MIXED_TOLERANCE}); computing in fp32",
            stacklevel=2,
        )
        return reference

    def pair_cluster(self, pair: ChosenPair, explanation: ImageExplanation) -> tuple[int, ...]:
        """The explanation's cluster holding the pair; EngineInputError unless it is the one
        the pair manifest records."""
        cluster = next(c for c in explanation.clusters if pair.a in c)
        if pair.b not in cluster or set(cluster) != set(pair.cluster_classes):
            raise EngineInputError(
                f"the pair's cluster is {list(cluster)} here, {list(pair.cluster_classes)} "
                f"in the pair manifest; was the tree {self.pairs.tree} changed?"
            )
        return cluster

    @property
    def used_precision(self) -> str:
        """``"mixed-float16"`` once mixed precision passed its check, else ``"fp32"``."""
        return f"mixed-{str(MIXED_DTYPE).removeprefix('torch.')}" if self.mixed_ok else "fp32"

    def write_item(
        self,
        item_id: str,
        pair: ChosenPair,
        explanation: ImageExplanation,
        cluster: tuple[int, ...],
    ) -> dict[str, Any]:
        """Write the item's crop and overlays, then its done marker (last); return the marker.

        Runs on writer threads: PNG encoding releases the GIL, so items are written while the
        next batch is explained.
        """
        names = self.classifier.class_names
        image = f"images/{item_id}.png"
        (self.out / "images").mkdir(exist_ok=True)
        (self.out / "heatmaps" / item_id).mkdir(parents=True, exist_ok=True)
        photo = image_to_pil(explanation.input_image)
        save_png(photo, self.out / image)
        photo_pixels = np.asarray(photo)
        heatmaps: dict[str, dict[str, str]] = {}
        quality: dict[str, dict[str, dict]] = {}
        pair_qualities: dict[str, dict] = {}
        for method in self.methods:
            wox = explanation.methods[method]
            # A placebo's clusters hold the same classes, ordered by the random model's scores.
            index = next(i for i, c in enumerate(wox.clusters) if set(c) == set(cluster))
            maps: dict[str, Heatmap] = {"a": wox.class_map(pair.a), "b": wox.class_map(pair.b)}
            maps.update(("cluster", h) for h in wox.cluster_maps() if h.cluster == index)
            heatmaps[method], quality[method] = {}, {}
            for slot, heatmap in maps.items():
                relative = f"heatmaps/{item_id}/{method}-{slot}.png"
                drawn = overlay(explanation.input_image, heatmap.values, self.rendering)
                save_png(drawn, self.out / relative)
                heatmaps[method][slot] = relative
                measured = map_quality(heatmap.values, np.asarray(drawn), photo_pixels)
                quality[method][slot] = measured.to_dict()
            pair_qualities[method] = pair_quality(maps["a"].values, maps["b"].values).to_dict()
        files = [image, *(path for entry in heatmaps.values() for path in entry.values())]
        item = {
            "id": item_id,
            "image": image,
            "source": pair.image,
            "classes": [
                {
                    "index": c,
                    "name": names[c],
                    "probability": explanation.top_class(c).probability,
                }
                for c in (pair.a, pair.b)
            ],
            "cluster": {"node": pair.cluster, "classes": list(cluster)},
            "heatmaps": heatmaps,
            "quality": quality,
            "pair_quality": pair_qualities,
        }
        marker = {
            "fingerprint": self.fingerprint,
            "pair": _pair_key(pair),
            "precision": self.used_precision,
            "item": item,
            "files": {relative: sha256_file(self.out / relative) for relative in files},
        }
        write_json_atomically(self.out / DONE_DIR / f"{item_id}.json", marker)
        return marker

    # --------------------------------------------------------------------- sanity check

    def sanity_check(self, item_ids: Sequence[str]) -> dict[str, Any]:
        """The model-randomisation check (:func:`explain_engine.sanity.model_randomisation`,
        every layer group re-initialised) of each WOX method on the first
        :data:`SANITY_ITEMS` items: per method the median rank correlation between its class
        maps on the trained and the randomised model, and whether it is flagged. Kept in
        ``.done/sanity.json`` for these settings and items, so a rerun does not repeat it."""
        sample = list(item_ids[:SANITY_ITEMS])
        cache = self.out / DONE_DIR / "sanity.json"
        key = {"fingerprint": self.fingerprint, "items": sample}
        if cache.exists():
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                return stored["result"]
        pairs = dict(self.pairs.items)
        images = [load_image(self.pairs.images_dir / pairs[item_id].image) for item_id in sample]
        results = (
            model_randomisation(self.classifier, images, self.explainer, self.settings, (None,))
            if images and self.settings.methods
            else []
        )
        result = {
            "test": "model-parameter randomisation (Adebayo et al. 2018), all layer groups",
            "items": sample,
            "methods": {r.method: r.to_dict() for r in results},
        }
        write_json_atomically(cache, {"key": key, "result": result})
        return result

    # ------------------------------------------------------------------------- manifest

    def write_manifest(
        self,
        done: Mapping[str, dict[str, Any]],
        failed: Sequence[tuple[str, str]],
        roles: Sequence[tuple[str, int]],
        seed: int,
    ) -> Path:
        """(Re)write manifest.json from the finished items, in pair-manifest order."""
        finished = [done[item_id] for item_id, _ in self.pairs.items if item_id in done]
        assigned = [role for role, count in roles for _ in range(count)]
        items = []
        for position, marker in enumerate(finished):
            item = dict(marker["item"])
            if roles:
                item["role"] = assigned[position] if position < len(assigned) else "test"
            items.append(item)
        sources = {item_id: pair.image for item_id, pair in self.pairs.items}
        classifier = self.classifier
        document = {
            "format": STIMULI_FORMAT,
            "version": STIMULI_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": {
                "name": classifier.name,
                "weights_sha256": classifier.weights_sha256,
                "preprocessing": classifier.preprocessing.as_dict(),
                "tree": {"name": self.pairs.tree.name, "sha256": self.tree_sha256},
            },
            "explainer": {
                "name": self.explainer.name,
                "parameters": self.explainer.parameters(classifier),
            },
            "methods": list(self.methods),
            "placebo": {
                "of": list(self.placebos),
                "randomisation": "every layer group re-initialised",
                "seed": PLACEBO_SEED,
            }
            if self.placebos
            else None,
            "seed": seed,
            "sanity": self.sanity_check([marker["item"]["id"] for marker in finished]),
            "software": _software(),
            "wox_options": asdict(self.settings.options),
            "top_k": asdict(self.settings.top_k),
            "cluster_level": self.settings.cluster_level,
            "precision": {
                "requested": self.precision,
                "used": sorted({marker["precision"] for marker in finished}),
                "tolerance": MIXED_TOLERANCE,
                "checked_deviation": self.checked_deviation,
            },
            "rendering": self.rendering.to_dict(),
            "pairs": {"rules": asdict(self.pairs.rules), "images_dir": str(self.pairs.images_dir)},
            "unpaired": [asdict(unpaired) for unpaired in self.pairs.unpaired],
            "items": items,
            "files": {
                relative: digest
                for marker in finished
                for relative, digest in marker["files"].items()
            },
            "failed": [
                {"id": item_id, "image": sources[item_id], "reason": reason}
                for item_id, reason in failed
            ],
        }
        return write_json_atomically(self.out / MANIFEST_FILE, document)


def _pair_key(pair: ChosenPair) -> dict[str, Any]:
    """What identifies an item's pair in its done marker."""
    return {"image": pair.image, "a": pair.a, "b": pair.b, "top": list(pair.top.classes)}


def _software() -> dict[str, str]:
    try:
        engine = importlib.metadata.version("cwox-study-platform")
    except importlib.metadata.PackageNotFoundError:
        engine = "unknown (not installed)"
    return {
        "explain_engine": engine,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
    }
