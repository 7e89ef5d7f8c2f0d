"""Options shared by several commands: the classifier, the base explainer, methods, tree, top-K.

Each ``add_*`` function declares options on a parser; each other function turns their parsed
values into engine objects, raising :class:`EngineInputError` (exit status 2) for bad values.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import BaseExplainer
from explain_engine.models import EMBEDDED_MODEL
from explain_engine.registry import EXPLAINERS, explainer_names, method_names
from explain_engine.settings import ExplainerSpec, choose_explainer
from explain_engine.targets import TopKRule
from explain_engine.wox import get_method


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
    described = "; ".join(f"{n}: {c.description}" for n, c in EXPLAINERS.classes().items())
    described = described.replace("%", "%%")  # argparse formats help with %
    parser.add_argument("--explainer", choices=explainer_names(), default="gradcam", help=described)
    add_explainer_settings(parser)


def add_explainer_settings(parser: argparse.ArgumentParser) -> None:
    """Declare ``--rise-masks``, ``--seed``, ``--explainer-setting`` and
    ``--reference-options`` (read back with :func:`explainer_spec`)."""
    parser.add_argument(
        "--rise-masks",
        help="masks for stage 1,stage 2 of explainers with mask counts (RISE; default and "
        "reference: 5000,3000)",
    )
    parser.add_argument(
        "--explainer-setting",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field of the explainer's settings, e.g. stage1.grid=10 (repeatable)",
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


def explainer_spec(args: argparse.Namespace, name: str | None = None) -> ExplainerSpec:
    """The explainer ``name`` (default ``--explainer``) with its settings from the options:
    ``--reference-options`` starts from the reference code's settings (signed Grad-CAM maps),
    ``--seed`` sets every seed field, ``--rise-masks`` the mask counts (explainers without
    them ignore it), ``--explainer-setting`` any field."""
    return choose_explainer(
        name or args.explainer,
        reference=args.reference_options,
        seed=args.seed,
        masks=args.rise_masks,
        assignments=dict(_assignment(text) for text in args.explainer_setting),
    )


def build_explainer(args: argparse.Namespace) -> BaseExplainer:
    """The base explainer of :func:`explainer_spec`."""
    return explainer_spec(args).build()


def _assignment(text: str) -> tuple[str, object]:
    """``FIELD=VALUE``; VALUE is read as JSON (numbers, true/false, null), else as text."""
    field, equals, value = text.partition("=")
    if not equals or not field.strip():
        raise EngineInputError(f"--explainer-setting {text!r}: expected FIELD=VALUE")
    try:
        return field.strip(), json.loads(value)
    except ValueError:
        return field.strip(), value


def parse_methods(text: str) -> tuple[str, ...]:
    """``--methods``: comma-separated WOX method names, at least one, each known."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        get_method(name)
    if not names:
        raise EngineInputError(
            f"--methods {text!r}: expected at least one of {','.join(method_names())}"
        )
    return names


def add_methods_option(
    parser: argparse.ArgumentParser, default: tuple[str, ...] | None = None
) -> None:
    """Declare ``--methods`` (read back with :func:`parse_methods`); default: every method."""
    known = ",".join(method_names())
    parser.add_argument(
        "--methods",
        default=",".join(default) if default else known,
        help=f"comma-separated, any of {known}",
    )


def tree_file(option: str | None, default: Path | None) -> Path | None:
    """``--tree``: a path, ``none`` for no tree, or absent for the classifier's own tree."""
    if option is None:
        return default
    return None if option == "none" else Path(option)
