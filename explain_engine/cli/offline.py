"""``build-documents`` and ``build-tree``: the offline phase from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from explain_engine.hlta import HltaSettings
from explain_engine.models import EMBEDDED_MODEL
from explain_engine.offline_jobs import DocumentsSettings, TreeSettings, run_documents, run_tree


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``build-documents`` and ``build-tree``."""
    documents = commands.add_parser(
        "build-documents", help="top-K label documents of every image (and augmented views)"
    )
    documents.add_argument("images", type=Path, metavar="IMAGES_DIR")
    documents.add_argument("--out", type=Path, required=True, help="JSONL file (appended)")
    documents.add_argument("--model", default=EMBEDDED_MODEL)
    documents.add_argument("--weights", type=Path)
    documents.add_argument("--views", type=int, default=0, help="augmented views per image")
    documents.add_argument("--batch-size", type=int, default=64, help="views per forward pass")
    documents.add_argument("--device", default="auto")
    documents.add_argument("--seed", type=int, default=0, help="seed of the augmented views")
    documents.set_defaults(settings=_documents_settings, command=run_documents)

    defaults = HltaSettings()
    tree = commands.add_parser("build-tree", help="learn a latent tree (HLTA) from documents")
    tree.add_argument("documents", type=Path, metavar="DOCS", help=".jsonl or reference .json")
    tree.add_argument("--out", type=Path, required=True, help="tree in the project's JSON")
    tree.add_argument("--hlta-json", type=Path, help="also write the HLTA topic-tree JSON")
    tree.add_argument("--bif", type=Path, help="also write the model as .bif")
    tree.add_argument("--classes", type=int, default=1000, help="number of classes")
    tree.add_argument("--max-island", type=int, default=defaults.max_island)
    tree.add_argument("--max-top", type=int, default=defaults.max_top)
    tree.add_argument("--ud-threshold", type=float, default=defaults.ud_threshold)
    tree.add_argument(
        "--ct-threshold",
        type=_number_or_off,
        default=defaults.ct_threshold,
        help=f"correlation test threshold or off (default {defaults.ct_threshold})",
    )
    tree.add_argument(
        "--batch-bic",
        type=_number_or_off,
        default=defaults.bic_batch_size,
        help=f"batch-BIC size or off for the plain BIC (default {defaults.bic_batch_size})",
    )
    tree.add_argument(
        "--sample",
        type=_number_or_off,
        default=defaults.struct_sample_size,
        help="structure-learning sample size, or off for all documents "
        f"(default {defaults.struct_sample_size})",
    )
    tree.add_argument("--em-steps", type=int, default=defaults.em_max_steps)
    tree.add_argument("--restarts", type=int, default=defaults.em_restarts)
    tree.add_argument("--global-em", action="store_true", help="run stepwise global EM")
    tree.add_argument(
        "--keep-single-label", action="store_true", help="learn from one-label documents too"
    )
    tree.add_argument("--seed", type=int, default=defaults.seed)
    tree.set_defaults(settings=_tree_settings, command=run_tree)


def _documents_settings(args: argparse.Namespace) -> DocumentsSettings:
    return DocumentsSettings(
        images=args.images,
        out=args.out,
        model=args.model,
        weights=args.weights,
        device=args.device,
        views=args.views,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def _number_or_off(text: str) -> int | None:
    if text == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer or off") from None


def _tree_settings(args: argparse.Namespace) -> TreeSettings:
    hlta = HltaSettings(
        max_island=args.max_island,
        max_top=args.max_top,
        ud_threshold=args.ud_threshold,
        ct_threshold=args.ct_threshold,
        em_restarts=args.restarts,
        em_max_steps=args.em_steps,
        struct_sample_size=args.sample,
        bic_batch_size=args.batch_bic,
        global_em=args.global_em,
        keep_single_label_documents=args.keep_single_label,
        seed=args.seed,
    )
    return TreeSettings(
        documents=args.documents,
        out=args.out,
        classes=args.classes,
        hlta=hlta,
        hlta_json=args.hlta_json,
        bif=args.bif,
    )
