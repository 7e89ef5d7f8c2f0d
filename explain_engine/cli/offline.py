"""``build-documents`` and ``build-tree``: the offline phase from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from explain_engine.documents import build_documents
from explain_engine.models import EMBEDDED_MODEL, load_classifier


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``build-documents`` (and ``build-tree``)."""
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
