"""``build-documents`` and ``build-tree``: the offline phase from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from explain_engine.documents import build_documents, read_documents
from explain_engine.errors import EngineInputError
from explain_engine.files import write_json_atomically
from explain_engine.hlta import HltaSettings, learn_model, write_bif
from explain_engine.models import EMBEDDED_MODEL, imagenet_class_names, load_classifier


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
    documents.set_defaults(run=_run_build_documents)

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
    tree.set_defaults(run=_run_build_tree)


def _run_build_documents(args: argparse.Namespace) -> int:
    classifier = load_classifier(args.model, args.weights, args.device)
    written, failed = build_documents(
        classifier,
        args.images,
        args.out,
        views=args.views,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    print(f"{written} documents written to {args.out}; {failed} unreadable images skipped")
    return 1 if failed else 0


def _number_or_off(text: str) -> int | None:
    if text == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer or off") from None


def _run_build_tree(args: argparse.Namespace) -> int:
    settings = HltaSettings(
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
    documents = read_documents(args.documents, args.classes)
    if not documents:
        raise EngineInputError(f"{args.documents}: no documents (expected at least one)")
    names = imagenet_class_names() if args.classes == 1000 else None
    result = learn_model(
        [d.classes for d in documents], args.classes, settings=settings, class_names=names
    )
    tree = result.tree
    tree.metadata["documents"] = str(args.documents)
    tree.save(args.out)
    if args.hlta_json:
        write_json_atomically(args.hlta_json, tree.to_hlta_topic_tree())
    if args.bif:
        write_bif(result.model, args.bif)
    levels = tree.metadata["latents_per_level"]
    print(
        f"{args.out}: {len(documents)} documents, latents per level {levels}, "
        f"{len(tree.metadata['unseen_classes'])} classes never seen"
    )
    return 0
