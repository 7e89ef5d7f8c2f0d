"""Command line: ``python -m explain_engine <command> ...``.

Commands:
    explain IMAGE [IMAGE ...] --out DIR    explain images with every WOX method
    demo --out DIR                         explain the photographs bundled with scikit-image
    build-documents IMAGES_DIR --out F     top-K label documents of every image view
    build-tree DOCS --out TREE             learn a latent tree with HLTA
    evaluate IMAGES_DIR --out DIR          CAUC/CDROP tables of every method (paper Tables 1-3)
    pairs IMAGES_DIR --out PAIRS.json      choose a confusing pair of classes per image
    pregenerate PAIRS.json --out DIR       heatmap stimuli + manifest.json for a user study

``python -m explain_engine COMMAND --help`` lists each command's options. Exit status: 0 on
success, 1 when some input was skipped (the others are still processed), 2 for a bad option
or input file (unknown model, method, layer, malformed tree or documents, ...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from explain_engine.cli import evaluate, explain, offline, stimuli
from explain_engine.errors import EngineInputError
from explain_engine.runtime import tune_cpu_allocator


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m explain_engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    explain.add_commands(commands)
    offline.add_commands(commands)
    evaluate.add_commands(commands)
    stimuli.add_commands(commands)
    args = parser.parse_args(argv)
    tune_cpu_allocator()
    try:
        return args.run(args)
    except EngineInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
