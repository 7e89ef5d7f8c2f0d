"""The engine's public entry points; the command line and the study server both call these.

- :func:`load_classifier` — a classifier with its preprocessing and Grad-CAM pivot layers;
- :func:`explain_images` — every requested WOX method for images, from one base-explainer pass
  per batch;
- :func:`choose_pairs` — a confusing pair per image of a folder, written as a pair manifest;
- :func:`pregenerate_stimuli` — heatmap stimuli of (some) items of a pair manifest, with a
  progress callback, returning what was computed, already finished or failed (and why);
- :func:`finished_items` — which items of a stimulus folder are finished;
- :func:`build_documents`, :func:`learn_tree`, :func:`evaluate_faithfulness` — the offline
  phase and the faithfulness evaluation.

Every function takes typed values and returns typed values; failures of single inputs come
back as values (reasons in the summaries), bad settings raise
:class:`~explain_engine.errors.EngineInputError`. None of them changes process-wide state
(standard streams, warning filters, allocator, thread counts): that is left to the command
line's ``main`` and to a worker's start-up.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from explain_engine.documents import build_documents
from explain_engine.errors import EngineInputError
from explain_engine.evaluation.run import evaluate_folder as evaluate_faithfulness
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.hlta import learn_model as learn_tree
from explain_engine.images import check_input_size, load_image
from explain_engine.models import Classifier, load_classifier
from explain_engine.pairs import (
    PairSelection,
    classify_images,
    read_labels,
    read_pair_manifest,
    select_pairs,
    write_pair_manifest,
)
from explain_engine.pregenerate import (
    PregenerationSummary,
    Progress,
    finished_items,
    pregenerate,
)
from explain_engine.registry import method_names
from explain_engine.results import ImageExplanation
from explain_engine.settings import ExplainerSpec
from explain_engine.stimulus_settings import StimulusSettings
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree
from explain_engine.wox import WoxOptions

#: ``tree=`` value of :func:`explain_images`: the classifier's own latent tree, if it has one.
OWN_TREE = "own"


def explain_images(
    classifier: Classifier,
    images: Sequence[Image.Image | str | Path],
    *,
    methods: Sequence[str] | None = None,
    explainer: ExplainerSpec | BaseExplainer | str = "gradcam",
    tree: LatentTree | Path | str | None = OWN_TREE,
    top_k: TopKRule | None = None,
    cluster_level: int = 1,
    reference_options: bool = False,
    classes: Sequence[int] | None = None,
    batch_size: int = 8,
) -> list[ImageExplanation]:
    """Explain ``images`` (PIL images or files) with every method of ``methods``.

    Args:
        methods: registered WOX method names; None: all of them.
        explainer: a registered explainer's name, an :class:`ExplainerSpec` or an explainer.
        tree: confusion clusters from this tree (object or file); ``OWN_TREE``: the
            classifier's own tree (none: singletons); None: every class its own cluster.
        top_k: the top-K rule (default K = min(5, Cum(0.95))).
        cluster_level: tree level of the cut.
        reference_options: combine maps as the reference code does for this explainer.
        classes: explain these class indices instead of the top-K.
        batch_size: images per base-explainer pass.

    Returns:
        One :class:`ImageExplanation` per image, in order. A file that cannot be read, or an
        image smaller than the classifier's crop, raises EngineInputError naming it.
    """
    if batch_size < 1:
        raise EngineInputError(f"batch size {batch_size}: expected at least 1")
    base = _explainer(explainer)
    settings = ExplanationSettings(
        methods=tuple(methods or method_names()),
        top_k=top_k or TopKRule(),
        tree=_tree(tree, classifier),
        cluster_level=cluster_level,
        options=type(base).reference_wox_options if reference_options else WoxOptions(),
        classes=classes,
    )
    settings.wox_methods()
    loaded = [_image(image, classifier) for image in images]
    results: list[ImageExplanation] = []
    for start in range(0, len(loaded), batch_size):
        results += explain_batch(classifier, loaded[start : start + batch_size], base, settings)
    return results


@dataclass(frozen=True)
class PairsSummary:
    """What :func:`choose_pairs` did: the pair manifest written, and the selection."""

    manifest: Path
    selection: PairSelection
    images: int
    unreadable: tuple[tuple[str, str], ...]


def choose_pairs(
    settings: StimulusSettings, out: Path, *, classifier: Classifier | None = None
) -> PairsSummary:
    """Classify every image of ``settings.images`` and write their confusing pairs to ``out``
    (a pair manifest, :mod:`explain_engine.pairs`). ``classifier`` saves loading it again."""
    classifier = classifier or stimulus_classifier(settings)
    tree_file = settings.tree or classifier.default_tree
    if tree_file is None:
        raise EngineInputError(
            f"tree: {classifier.name} has no latent tree of its own and none was given; "
            "confusing pairs need one (build it with build-documents and build-tree)"
        )
    labels = (
        read_labels(settings.labels, settings.images, classifier.class_names)
        if settings.labels
        else None
    )
    outputs = classify_images(
        classifier,
        settings.images,
        top_k=settings.top_k,
        labels=labels,
        batch_size=32,
        progress=False,
    )
    selection = select_pairs(outputs, LatentTree.load(tree_file), settings.rules)
    write_pair_manifest(
        out,
        selection,
        classifier=classifier,
        images_dir=settings.images,
        tree_file=tree_file,
        top_k=settings.top_k,
        rules=settings.rules,
        labels=settings.labels,
    )
    unreadable = tuple((o.image, o.error) for o in outputs if o.error)
    return PairsSummary(out, selection, len(outputs), unreadable)


def pregenerate_stimuli(
    settings: StimulusSettings,
    pairs: Path,
    out: Path,
    *,
    item_ids: Collection[str] | None = None,
    write_manifest: bool = True,
    progress: Progress | None = None,
    classifier: Classifier | None = None,
) -> PregenerationSummary:
    """Heatmap stimuli of the pair manifest ``pairs`` into the folder ``out``.

    Only ``item_ids`` (None: every item); finished items are skipped; ``write_manifest``
    (re)writes ``manifest.json`` from every finished item, with the roles of ``settings``.
    ``progress`` is called after each item (see :class:`explain_engine.pregenerate.ItemProgress`).
    """
    manifest = read_pair_manifest(pairs)
    classifier = classifier or stimulus_classifier(settings)
    explainer = settings.explainer.build()
    return pregenerate(
        classifier,
        manifest,
        out,
        explainer,
        methods=settings.methods,
        options=type(explainer).reference_wox_options if settings.reference_options else None,
        batch_size=settings.batch_size or 8,
        precision=settings.precision,
        roles=settings.roles,
        seed=settings.seed,
        item_ids=item_ids,
        write_manifest=write_manifest,
        progress=progress,
    )


def stimulus_classifier(settings: StimulusSettings) -> Classifier:
    """The classifier ``settings`` name."""
    return load_classifier(settings.model, settings.weights, settings.device)


def _explainer(explainer: ExplainerSpec | BaseExplainer | str) -> BaseExplainer:
    if isinstance(explainer, BaseExplainer):
        return explainer
    if isinstance(explainer, str):
        explainer = ExplainerSpec(explainer)
    return explainer.build()


def _tree(tree: LatentTree | Path | str | None, classifier: Classifier) -> LatentTree | None:
    if tree == OWN_TREE:
        return LatentTree.load(classifier.default_tree) if classifier.default_tree else None
    if isinstance(tree, (str, Path)):
        return LatentTree.load(Path(tree))
    return tree


def _image(image: Image.Image | str | Path, classifier: Classifier) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    loaded = load_image(Path(image))
    check_input_size(loaded, classifier.preprocessing.crop, str(image))
    return loaded


__all__ = [
    "OWN_TREE",
    "PairsSummary",
    "build_documents",
    "choose_pairs",
    "evaluate_faithfulness",
    "explain_images",
    "finished_items",
    "learn_tree",
    "load_classifier",
    "pregenerate_stimuli",
    "stimulus_classifier",
]
