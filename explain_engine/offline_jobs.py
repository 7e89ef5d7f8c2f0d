"""The long offline commands as typed values: build documents, learn a tree, evaluate.

Each command is a frozen settings dataclass (JSON round-trippable with
:func:`explain_engine.settings.to_json` / :func:`~explain_engine.settings.from_json`) and a
function that runs it in this process and returns a typed summary (``progress`` shows progress
bars on standard error, for the command line); both resume when run again with the same output.
:data:`OFFLINE_COMMANDS` maps the command-line names to them, so that
the command line (``python -m explain_engine build-tree ...``) and the study server's
background jobs run the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from explain_engine.documents import build_documents, read_documents
from explain_engine.errors import EngineInputError
from explain_engine.evaluation.run import EvaluationSummary, evaluate_folder
from explain_engine.evaluation.tables import write_tables
from explain_engine.files import write_json_atomically
from explain_engine.hlta import HltaSettings, learn_model, write_bif
from explain_engine.metrics import MetricSettings
from explain_engine.models import EMBEDDED_MODEL, imagenet_class_names, load_classifier
from explain_engine.settings import ExplainerSpec
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree

#: Deleted images per forward pass by default: EfficientNet-Lite0 on this project's 2-core CPU
#: classifies 42 images/s at batch 64 and 64 at batch 16-32 (benchmarks/README.md).
CPU_BATCH = 32
GPU_BATCH = 256


@dataclass(frozen=True)
class CommandSummary:
    """What a command did: its output, one summary line, and whether inputs were skipped."""

    out: Path
    text: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentsSettings:
    """``build-documents``: the top-K label document of every view of every image."""

    images: Path
    out: Path
    model: str = EMBEDDED_MODEL
    weights: Path | None = None
    device: str = "auto"
    views: int = 0
    batch_size: int = 64
    seed: int = 0


def run_documents(settings: DocumentsSettings, *, progress: bool = False) -> CommandSummary:
    """Append the documents to ``settings.out`` (finished views are kept)."""
    classifier = load_classifier(settings.model, settings.weights, settings.device)
    written, failed = build_documents(
        classifier,
        settings.images,
        settings.out,
        views=settings.views,
        batch_size=settings.batch_size,
        seed=settings.seed,
        progress=progress,
    )
    text = f"{written} documents written to {settings.out}; {failed} unreadable images skipped"
    return CommandSummary(settings.out, text, (f"{failed} unreadable images",) if failed else ())


@dataclass(frozen=True)
class TreeSettings:
    """``build-tree``: a latent tree learned by HLTA from a documents file."""

    documents: Path
    out: Path
    classes: int = 1000
    hlta: HltaSettings = field(default_factory=HltaSettings)
    hlta_json: Path | None = None
    bif: Path | None = None


def run_tree(settings: TreeSettings, *, progress: bool = False) -> CommandSummary:
    """Learn the tree and write it (and the optional HLTA JSON and BIF files)."""
    documents = read_documents(settings.documents, settings.classes)
    if not documents:
        raise EngineInputError(f"{settings.documents}: no documents (expected at least one)")
    names = imagenet_class_names() if settings.classes == 1000 else None
    result = learn_model(
        [d.classes for d in documents],
        settings.classes,
        settings=settings.hlta,
        class_names=names,
        progress=progress,
    )
    tree = result.tree
    tree.metadata["documents"] = str(settings.documents)
    tree.save(settings.out)
    if settings.hlta_json:
        write_json_atomically(settings.hlta_json, tree.to_hlta_topic_tree())
    if settings.bif:
        write_bif(result.model, settings.bif)
    levels = tree.metadata["latents_per_level"]
    text = (
        f"{settings.out}: {len(documents)} documents, latents per level {levels}, "
        f"{len(tree.metadata['unseen_classes'])} classes never seen"
    )
    return CommandSummary(settings.out, text)


@dataclass(frozen=True)
class EvaluationSettings:
    """``evaluate``: CAUC/CDROP of every method and explainer on an image folder's pairs.

    ``tree`` None uses the classifier's own tree, ``no_tree`` makes every class its own
    cluster; ``batch_size`` (deleted images per forward pass, which changes no score) None
    picks :data:`CPU_BATCH` or :data:`GPU_BATCH` for the device.
    """

    images: Path
    out: Path
    explainers: tuple[ExplainerSpec, ...]
    methods: tuple[str, ...] | None = None
    model: str = EMBEDDED_MODEL
    weights: Path | None = None
    device: str = "auto"
    tree: Path | None = None
    no_tree: bool = False
    cluster_level: int = 1
    top_k: TopKRule = field(default_factory=TopKRule)
    metric: MetricSettings = field(default_factory=MetricSettings)
    batch_size: int | None = None
    reference_options: bool = False
    limit: int | None = None
    sample: int | None = None
    sample_seed: int = 0
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.explainers]
        if not names or len(set(names)) != len(names):
            raise EngineInputError(f"explainers {names}: expected distinct, at least one")
        for name in ("limit", "sample", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise EngineInputError(f"{name} {value}: expected at least 1")


def run_evaluation(settings: EvaluationSettings, *, progress: bool = False) -> CommandSummary:
    """Evaluate into ``settings.out`` (resumable) and write the tables."""
    classifier = load_classifier(settings.model, settings.weights, settings.device)
    batch = settings.batch_size or (CPU_BATCH if classifier.device.type == "cpu" else GPU_BATCH)
    metric = replace(settings.metric, batch_size=batch)
    tree_path = None if settings.no_tree else settings.tree or classifier.default_tree
    summary: EvaluationSummary = evaluate_folder(
        classifier,
        settings.images,
        settings.out,
        [spec.build() for spec in settings.explainers],
        methods=settings.methods,
        tree=LatentTree.load(tree_path) if tree_path else None,
        cluster_level=settings.cluster_level,
        top_k=settings.top_k,
        metric=metric,
        reference_options=settings.reference_options,
        limit=settings.limit,
        sample=settings.sample,
        sample_seed=settings.sample_seed,
        settings={
            "options": settings.options,
            "tree": str(tree_path) if tree_path else None,
            "seed": settings.seed,
        },
        progress=progress,
    )
    line = (
        f"confusion clusters: {tree_path or 'none (every class is its own cluster)'}\n"
        f"evaluated {summary.evaluated} (image, explainer) units ({summary.rows} rows), "
        f"{summary.resumed} done earlier, {len(summary.skipped)} images skipped, "
        f"{len(summary.failed)} unreadable -> {settings.out}"
    )
    tables = write_tables(settings.out)
    errors = tuple(f"{image}: {reason}" for image, reason in summary.failed.items())
    return CommandSummary(settings.out, f"{line}\n{tables}", errors)


#: Command-line name → (settings type, runner).
OFFLINE_COMMANDS: dict[str, tuple[type, Callable[..., CommandSummary]]] = {
    "build-documents": (DocumentsSettings, run_documents),
    "build-tree": (TreeSettings, run_tree),
    "evaluate": (EvaluationSettings, run_evaluation),
}
