"""``explain`` and ``demo``: the online phase from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from explain_engine.api import explain_images, load_classifier
from explain_engine.cli.options import (
    add_explainer_options,
    add_methods_option,
    add_model_options,
    add_top_k_options,
    add_tree_options,
    build_explainer,
    parse_methods,
    top_k_rule,
    tree_file,
)
from explain_engine.errors import EngineInputError
from explain_engine.export import EXPLANATION_FILE, write_explanation
from explain_engine.images import check_input_size, load_image
from explain_engine.tree import LatentTree

#: Photographs that ship with scikit-image (see DESIGN.md for their top classes).
DEMO_IMAGES = ("chelsea.png", "rocket.jpg", "motorcycle_left.png", "coffee.png")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``explain`` and ``demo``."""
    explain = commands.add_parser("explain", help="explain images with SWOX/CWOX methods")
    explain.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _add_explanation_options(explain)
    explain.set_defaults(run=_run_explain)

    demo = commands.add_parser("demo", help="explain the photographs bundled with scikit-image")
    _add_explanation_options(demo)
    demo.set_defaults(run=_run_demo)


def _add_explanation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_options(parser)
    parser.add_argument("--stage1-layer", help="Grad-CAM pivot for clusters and one-stage maps")
    parser.add_argument("--stage2-layer", help="Grad-CAM pivot for CWOX-2s class maps")
    add_tree_options(parser)
    add_explainer_options(parser)
    add_methods_option(parser)
    parser.add_argument("--batch-size", type=int, default=8, help="images per batch")
    add_top_k_options(parser)
    parser.add_argument(
        "--classes", help="explain these class indices (comma-separated) instead of the top-K"
    )


def _run_demo(args: argparse.Namespace) -> int:
    import skimage

    folder = Path(skimage.data.__file__).parent
    args.images = [folder / name for name in DEMO_IMAGES]
    return _run_explain(args)


def _run_explain(args: argparse.Namespace) -> int:
    explainer = build_explainer(args)
    methods = parse_methods(args.methods)
    classifier = load_classifier(
        args.model,
        args.weights,
        args.device,
        stage1_layer=args.stage1_layer,
        stage2_layer=args.stage2_layer,
    )
    tree_path = tree_file(args.tree, classifier.default_tree)
    tree = LatentTree.load(tree_path) if tree_path else None
    top_k = top_k_rule(args)
    classes = _class_indices(args.classes) if args.classes else None
    print(f"confusion clusters: {tree_path or 'none (every class is its own cluster)'}")
    provenance = {
        "explainer": {"name": explainer.name, **explainer.parameters(classifier)},
        "top_k": {"max_k": top_k.max_k, "cumulative": top_k.cumulative},
        "tree": str(tree_path) if tree_path else None,
        "cluster_level": args.cluster_level,
        "seed": args.seed,
        "torch": torch.__version__,
    }
    failures = 0
    stems = _unique_stems(args.images)
    batches = [
        args.images[i : i + args.batch_size] for i in range(0, len(args.images), args.batch_size)
    ]
    with tqdm(total=len(args.images), unit="image", disable=len(args.images) < 2) as progress:
        for batch in batches:
            loaded = []
            for path in batch:
                try:
                    image = load_image(path)
                    check_input_size(image, classifier.preprocessing.crop, str(path))
                    loaded.append((path, image))
                except EngineInputError as error:
                    failures += 1
                    tqdm.write(f"error: {error}", file=sys.stderr)
                    progress.update()
            if not loaded:
                continue
            results = explain_images(
                classifier,
                [image for _, image in loaded],
                methods=methods,
                explainer=explainer,
                tree=tree,
                top_k=top_k,
                cluster_level=args.cluster_level,
                reference_options=args.reference_options,
                classes=classes,
                batch_size=len(loaded),
            )
            for (path, _), explanation in zip(loaded, results, strict=True):
                out_dir = args.out / stems[path]
                write_explanation(
                    explanation, classifier, out_dir, {"image": str(path), **provenance}
                )
                tqdm.write(f"{path} -> {out_dir / EXPLANATION_FILE}")
                progress.update()
    return 1 if failures else 0


def _class_indices(text: str) -> list[int]:
    try:
        return [int(index) for index in text.split(",")]
    except ValueError:
        raise EngineInputError(
            f"--classes {text!r}: expected comma-separated class indices like 281,282"
        ) from None


def _unique_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """An output folder name per image: its stem, suffixed with a counter when taken."""
    stems: dict[Path, str] = {}
    taken: set[str] = set()
    for path in paths:
        stem, counter = path.stem, 1
        while stem in taken:
            counter += 1
            stem = f"{path.stem}-{counter}"
        taken.add(stem)
        stems[path] = stem
    return stems
