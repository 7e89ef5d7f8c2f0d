"""``pairs`` and ``pregenerate``: study stimuli from the command line (paper Section 5.2)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from explain_engine.api import pregenerate_stimuli
from explain_engine.cli.options import (
    add_explainer_options,
    add_methods_option,
    add_model_options,
    add_top_k_options,
    explainer_spec,
    parse_methods,
    top_k_rule,
    tree_file,
)
from explain_engine.errors import EngineInputError
from explain_engine.models import load_classifier
from explain_engine.pairs import (
    STUDY_PAIR_RULES,
    PairRules,
    classify_images,
    read_labels,
    read_pair_manifest,
    select_pairs,
    write_pair_manifest,
)
from explain_engine.pregenerate import (
    MANIFEST_FILE,
    PRECISIONS,
    STUDY_METHODS,
    ItemProgress,
    parse_roles,
)
from explain_engine.stimulus_settings import StimulusSettings
from explain_engine.tree import LatentTree


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``pairs`` and ``pregenerate``."""
    defaults = STUDY_PAIR_RULES
    pairs = commands.add_parser(
        "pairs",
        help="choose a confusing pair (two top classes of one confusion cluster) per image",
        description="Classify every image under IMAGES_DIR, cut the latent tree into confusion "
        "clusters and choose at most one pair of classes of one cluster per image, spread "
        "over the tree's branches; writes a pair manifest (JSON) with the images without a "
        "pair and why.",
    )
    pairs.add_argument("images", type=Path, metavar="IMAGES_DIR")
    pairs.add_argument("--out", type=Path, required=True, help="pair manifest (JSON) to write")
    add_model_options(pairs)
    pairs.add_argument(
        "--tree", help="latent tree file (default: the classifier's own tree if it has one)"
    )
    pairs.add_argument(
        "--cluster-level", type=int, default=defaults.cluster_level, help="tree level of the cut"
    )
    pairs.add_argument(
        "--floor",
        type=float,
        default=defaults.floor,
        help=f"both classes need at least this probability (default {defaults.floor})",
    )
    pairs.add_argument(
        "--per-pair",
        type=int,
        default=defaults.per_pair,
        help=f"at most this many images per class pair (default {defaults.per_pair})",
    )
    pairs.add_argument(
        "--labels",
        help="ground truth: 'folder' (folder names are class indices or names) or a CSV "
        "with columns file,class_index (file relative to IMAGES_DIR)",
    )
    pairs.add_argument(
        "--require-truth", action="store_true", help="only pairs with the ground-truth class"
    )
    pairs.add_argument(
        "--any-cluster",
        action="store_true",
        help="pairs from any confusion cluster, as in the paper (default: only from the cluster "
        "of the most probable class, which avoids empty CWOX-2s maps)",
    )
    pairs.add_argument("--limit", type=int, help="at most N items")
    pairs.add_argument("--seed", type=int, default=defaults.seed, help="seed of the selection")
    pairs.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    add_top_k_options(pairs)
    pairs.set_defaults(run=_run_pairs)

    pregen = commands.add_parser(
        "pregenerate",
        help="heatmap stimuli of a pair manifest for a study (images, overlays, manifest)",
        description="Explain every item of a pair manifest with each method and write the "
        "crop, one overlay per class of the pair (plus the CWOX-2s cluster map) and "
        f"{MANIFEST_FILE} in the cwox-stimuli format. Resumable: finished items are skipped.",
    )
    pregen.add_argument("pairs", type=Path, metavar="PAIRS_MANIFEST")
    pregen.add_argument("--out", type=Path, required=True, help="stimulus folder")
    add_methods_option(pregen, default=STUDY_METHODS)
    add_explainer_options(pregen)
    add_model_options(
        pregen, model_default=None, model_help="classifier (default: the pair manifest's model)"
    )
    pregen.add_argument("--batch-size", type=int, default=8, help="images per batch")
    pregen.add_argument(
        "--roles",
        help="ROLE=N,...: the first N items get ROLE (training, test, attention), the rest "
        "test; default: no role (the importer assigns them)",
    )
    pregen.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="mixed: float16 autocast on CUDA where maps stay within tolerance of fp32",
    )
    pregen.set_defaults(run=_run_pregenerate)


def _run_pairs(args: argparse.Namespace) -> int:
    rules = PairRules(
        floor=args.floor,
        per_pair=args.per_pair,
        require_truth=args.require_truth,
        limit=args.limit,
        seed=args.seed,
        cluster_level=args.cluster_level,
        leading_cluster=not args.any_cluster,
    )
    if rules.require_truth and not args.labels:
        raise EngineInputError("--require-truth: needs --labels (folder or a CSV file)")
    classifier = load_classifier(args.model, args.weights, args.device)
    tree_path = tree_file(args.tree, classifier.default_tree)
    if tree_path is None:
        raise EngineInputError(
            f"--tree: {classifier.name} has no latent tree of its own and none was given; "
            "confusing pairs need one (build it with build-documents and build-tree)"
        )
    tree = LatentTree.load(tree_path)
    labels = read_labels(args.labels, args.images, classifier.class_names) if args.labels else None
    top_k = top_k_rule(args)
    outputs = classify_images(
        classifier, args.images, top_k=top_k, labels=labels, batch_size=args.batch_size
    )
    selection = select_pairs(outputs, tree, rules)
    label_source = args.labels
    if label_source not in (None, "folder"):
        label_source = str(Path(label_source).resolve())
    write_pair_manifest(
        args.out,
        selection,
        classifier=classifier,
        images_dir=args.images,
        tree_file=tree_path,
        top_k=top_k,
        rules=rules,
        labels=label_source,
    )
    reasons = Counter(entry.reason.split(":")[0] for entry in selection.unpaired)
    print(
        f"{len(selection.chosen)} pairs from {len(outputs)} images -> {args.out}; "
        f"{len(selection.unpaired)} without a pair"
        + "".join(f"\n  {count} × {reason}" for reason, count in reasons.most_common()),
        file=sys.stderr,
    )
    return 1 if any(output.error for output in outputs) else 0


def _run_pregenerate(args: argparse.Namespace) -> int:
    pairs = read_pair_manifest(args.pairs)
    settings = StimulusSettings(
        images=pairs.images_dir,
        methods=parse_methods(args.methods),
        explainer=explainer_spec(args),
        reference_options=args.reference_options,
        model=args.model or pairs.model["name"],
        weights=args.weights,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        roles=tuple(parse_roles(args.roles)) if args.roles else (),
        seed=args.seed,
    )
    with tqdm(unit="item", desc="pregenerate") as bar:

        def progress(event: ItemProgress) -> None:
            bar.total = event.total
            if event.reason is not None:
                tqdm.write(f"error: item {event.item_id}: {event.reason}", file=sys.stderr)
            bar.update()

        summary = pregenerate_stimuli(settings, args.pairs, args.out, progress=progress)
    print(
        f"{len(summary.computed)} items computed, {len(summary.resumed)} finished earlier, "
        f"{len(summary.failed)} failed ({summary.precision}) -> {summary.manifest}",
        file=sys.stderr,
    )
    return 1 if summary.failed else 0
