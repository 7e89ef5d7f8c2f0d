"""``evaluate``: contrastive faithfulness (CAUC, CDROP) of every WOX method over a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from explain_engine.cli.options import (
    add_explainer_settings,
    add_methods_option,
    add_model_options,
    add_top_k_options,
    add_tree_options,
    explainer_spec,
    parse_methods,
    top_k_rule,
)
from explain_engine.errors import EngineInputError
from explain_engine.metrics import DEFINITIONS, MetricSettings
from explain_engine.offline_jobs import CPU_BATCH, GPU_BATCH, EvaluationSettings, run_evaluation
from explain_engine.registry import explainer_names


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``evaluate``."""
    parser = commands.add_parser(
        "evaluate",
        help="CAUC/CDROP of every method on the confusing pairs of an image folder",
        description="Paper Section 5.1: for every image with a non-singleton confusion "
        "cluster, every pair (class, rest of its cluster), every base explainer and method, "
        "CAUC and CDROP of the class map; writes pairs.csv (resumable), progress.jsonl, "
        "settings.json and Tables 1-3 (tables.md, table1-3.csv, tests.csv, tables.tex).",
    )
    parser.add_argument("images", type=Path, metavar="IMAGES_DIR")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_model_options(parser)
    add_tree_options(parser)
    parser.add_argument(
        "--explainers",
        default=",".join(explainer_names()),
        help=f"comma-separated, any of {','.join(explainer_names())}",
    )
    add_explainer_settings(parser)
    add_methods_option(parser)
    add_top_k_options(parser)
    parser.add_argument("--limit", type=int, help="evaluate the first N images (sorted)")
    parser.add_argument(
        "--sample",
        type=int,
        help="evaluate a random sample of N images, drawn with --sample-seed (a larger N with "
        "the same seed extends a smaller one)",
    )
    parser.add_argument("--sample-seed", type=int, default=0, help="seed of --sample")
    parser.add_argument("--step", type=int, default=16, help="pixels deleted per curve point")
    parser.add_argument(
        "--metric-definition", choices=DEFINITIONS, default="paper", help="CAUC/CDROP variant"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"deleted images per forward pass (default {CPU_BATCH} on the CPU, where larger "
        f"batches are slower, {GPU_BATCH} on a GPU)",
    )
    parser.set_defaults(settings=_evaluation_settings, command=run_evaluation)


def _evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    names = [name.strip() for name in args.explainers.split(",") if name.strip()]
    unknown = [name for name in names if name not in explainer_names()]
    if unknown or not names:
        raise EngineInputError(
            f"--explainers {args.explainers!r}: expected any of {','.join(explainer_names())}"
        )
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    for callback in ("settings", "command"):
        options.pop(callback, None)
    return EvaluationSettings(
        images=args.images,
        out=args.out,
        explainers=tuple(explainer_spec(args, name) for name in names),
        methods=parse_methods(args.methods),
        model=args.model,
        weights=args.weights,
        device=args.device,
        tree=Path(args.tree) if args.tree not in (None, "none") else None,
        no_tree=args.tree == "none",
        cluster_level=args.cluster_level,
        top_k=top_k_rule(args),
        metric=MetricSettings(definition=args.metric_definition, step=args.step),
        batch_size=args.batch_size,
        reference_options=args.reference_options,
        limit=args.limit,
        sample=args.sample,
        sample_seed=args.sample_seed,
        seed=args.seed,
        options=options,
    )
