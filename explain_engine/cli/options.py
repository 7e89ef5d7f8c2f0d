"""Options shared by several commands: the classifier, the base explainer, methods, tree, top-K.

Each ``add_*`` function declares options on a parser; each other function turns their parsed
values into engine objects, raising :class:`EngineInputError` (exit status 2) for bad values.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import BaseExplainer
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE
from explain_engine.models import EMBEDDED_MODEL
from explain_engine.targets import TopKRule
from explain_engine.wox import METHODS, get_method

#: Names of the base explainers (``--explainer``).
EXPLAINERS = ("gradcam", "rise")


def add_model_options(
    parser: argparse.ArgumentParser,
    model_default: str | None = EMBEDDED_MODEL,
    model_help: str | None = None,
) -> None:
    """Declare ``--model``, ``--weights`` and ``--device``."""
    parser.add_argument(
        "--model",
        default=model_default,
        help=model_help or f"classifier name or package.module:factory (default {EMBEDDED_MODEL})",
    )
    parser.add_argument("--weights", type=Path, help="weights file (torchvision models)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")


def add_tree_options(parser: argparse.ArgumentParser) -> None:
    """Declare ``--tree`` and ``--cluster-level`` (read back with :func:`tree_file`)."""
    parser.add_argument(
        "--tree",
        help="latent tree (project JSON or HLTA topic-tree JSON); default: the classifier's "
        "own tree if the project ships one; none: every class is its own cluster",
    )
    parser.add_argument("--cluster-level", type=int, default=1, help="tree level of the cut")


def add_explainer_options(parser: argparse.ArgumentParser) -> None:
    """Declare ``--explainer`` and the explainer settings (:func:`add_explainer_settings`)."""
    parser.add_argument("--explainer", choices=EXPLAINERS, default="gradcam")
    add_explainer_settings(parser)


def add_explainer_settings(parser: argparse.ArgumentParser) -> None:
    """Declare ``--rise-masks``, ``--seed`` and ``--reference-options``."""
    parser.add_argument(
        "--rise-masks",
        default="5000,3000",
        help="RISE masks for stage 1,stage 2 (reference: 5000,3000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the RISE masks")
    parser.add_argument(
        "--reference-options",
        action="store_true",
        help="combine maps as the public reference code does (signed Grad-CAM, "
        "pairwise contrast, percentile support, min-max for RISE)",
    )


def add_top_k_options(parser: argparse.ArgumentParser) -> None:
    """Declare ``--max-k`` and ``--cumulative`` (read back with :func:`top_k_rule`)."""
    parser.add_argument("--max-k", type=int, default=5, help="at most this many top classes")
    parser.add_argument(
        "--cumulative",
        type=float,
        default=0.95,
        help="K = min(max-k, Cum(q)); 0 for a fixed K = max-k",
    )


def top_k_rule(args: argparse.Namespace) -> TopKRule:
    """The :class:`TopKRule` of ``--max-k`` and ``--cumulative`` (0 means a fixed K)."""
    return TopKRule(args.max_k, args.cumulative or None)


def build_explainer(args: argparse.Namespace) -> BaseExplainer:
    """The base explainer of ``--explainer`` (with ``--rise-masks``, ``--seed`` and
    ``--reference-options``, which makes Grad-CAM maps signed)."""
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


def parse_methods(text: str) -> tuple[str, ...]:
    """``--methods``: comma-separated WOX method names, at least one, each known."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        get_method(name)
    if not names:
        raise EngineInputError(f"--methods {text!r}: expected at least one of {','.join(METHODS)}")
    return names


def tree_file(option: str | None, default: Path | None) -> Path | None:
    """``--tree``: a path, ``none`` for no tree, or absent for the classifier's own tree."""
    if option is None:
        return default
    return None if option == "none" else Path(option)
