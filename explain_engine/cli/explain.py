"""``explain`` and ``demo``: the online phase from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE
from explain_engine.export import EXPLANATION_FILE, write_explanation
from explain_engine.images import check_input_size, load_image
from explain_engine.models import EMBEDDED_MODEL, load_classifier
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree
from explain_engine.wox import METHODS, WoxOptions, get_method

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
    parser.add_argument(
        "--model",
        default=EMBEDDED_MODEL,
        help=f"classifier name or package.module:factory (default {EMBEDDED_MODEL})",
    )
    parser.add_argument("--weights", type=Path, help="weights file (torchvision models)")
    parser.add_argument("--stage1-layer", help="Grad-CAM pivot for clusters and one-stage maps")
    parser.add_argument("--stage2-layer", help="Grad-CAM pivot for CWOX-2s class maps")
    parser.add_argument(
        "--tree",
        help="latent tree (project JSON or HLTA topic-tree JSON); default: the classifier's "
        "own tree if the project ships one; none: every class is its own cluster",
    )
    parser.add_argument("--cluster-level", type=int, default=1, help="tree level of the cut")
    parser.add_argument("--explainer", choices=("gradcam", "rise"), default="gradcam")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, any of {','.join(METHODS)}"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RISE masks")
    parser.add_argument("--batch-size", type=int, default=8, help="images per batch")
    parser.add_argument("--max-k", type=int, default=5, help="at most this many top classes")
    parser.add_argument(
        "--cumulative",
        type=float,
        default=0.95,
        help="K = min(max-k, Cum(q)); 0 for a fixed K = max-k",
    )
    parser.add_argument(
        "--classes", help="explain these class indices (comma-separated) instead of the top-K"
    )
    parser.add_argument(
        "--rise-masks",
        default="5000,3000",
        help="RISE masks for stage 1,stage 2 (reference: 5000,3000)",
    )
    parser.add_argument(
        "--reference-options",
        action="store_true",
        help="combine maps as the public reference code does (signed Grad-CAM, "
        "pairwise contrast, percentile support, min-max for RISE)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    import skimage

    folder = Path(skimage.data.__file__).parent
    args.images = [folder / name for name in DEMO_IMAGES]
    return _run_explain(args)


def _run_explain(args: argparse.Namespace) -> int:
    explainer = _explainer(args)
    methods = _methods(args.methods)
    classifier = load_classifier(
        args.model,
        args.weights,
        args.device,
        stage1_layer=args.stage1_layer,
        stage2_layer=args.stage2_layer,
    )
    tree_file = _tree_file(args.tree, classifier.default_tree)
    settings = ExplanationSettings(
        methods=methods,
        top_k=TopKRule(args.max_k, args.cumulative or None),
        tree=LatentTree.load(tree_file) if tree_file else None,
        cluster_level=args.cluster_level,
        options=WoxOptions.reference(args.explainer) if args.reference_options else WoxOptions(),
        classes=_class_indices(args.classes) if args.classes else None,
    )
    print(f"confusion clusters: {tree_file or 'none (every class is its own cluster)'}")
    provenance = {
        "explainer": {"name": explainer.name, **explainer.parameters(classifier)},
        "top_k": {"max_k": settings.top_k.max_k, "cumulative": settings.top_k.cumulative},
        "tree": str(tree_file) if tree_file else None,
        "cluster_level": settings.cluster_level,
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
            results = explain_batch(classifier, [image for _, image in loaded], explainer, settings)
            for (path, _), explanation in zip(loaded, results, strict=True):
                out_dir = args.out / stems[path]
                write_explanation(
                    explanation, classifier, out_dir, {"image": str(path), **provenance}
                )
                tqdm.write(f"{path} -> {out_dir / EXPLANATION_FILE}")
                progress.update()
    return 1 if failures else 0


def _explainer(args: argparse.Namespace) -> BaseExplainer:
    if args.explainer == "gradcam":
        return GradCAM(relu=not args.reference_options)
    try:
        stage1_masks, stage2_masks = (int(n) for n in args.rise_masks.split(","))
    except ValueError:
        raise EngineInputError(
            f"--rise-masks {args.rise_masks!r}: expected two integers like 5000,3000"
        ) from None
    rise = RISE()
    return replace(
        rise,
        stage1=replace(rise.stage1, num_masks=stage1_masks, seed=args.seed),
        stage2=replace(rise.stage2, num_masks=stage2_masks, seed=args.seed),
    )


def _methods(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        get_method(name)
    if not names:
        raise EngineInputError(f"--methods {text!r}: expected at least one of {','.join(METHODS)}")
    return names


def _tree_file(option: str | None, default: Path | None) -> Path | None:
    """``--tree``: a path, ``none`` for no tree, or absent for the classifier's own tree."""
    if option is None:
        return default
    return None if option == "none" else Path(option)


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
