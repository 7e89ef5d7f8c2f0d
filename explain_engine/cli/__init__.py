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

Every command is a thin layer over the engine's API: it turns its options into typed
settings and calls the API. :func:`main` alone changes process-wide state (it tunes the CPU
allocator); :func:`parse_settings` gives the typed settings of an offline command line
without running it (the study server's background jobs store them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from explain_engine.cli import evaluate, explain, offline, stimuli
from explain_engine.errors import EngineInputError
from explain_engine.runtime import tune_cpu_allocator


class _RaisingParser(argparse.ArgumentParser):
    """A parser that raises EngineInputError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise EngineInputError(f"{self.prog}: {message}")


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser):
    """The command line's parser (every command registered)."""
    parser = parser_class(
        prog="python -m explain_engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    explain.add_commands(commands)
    offline.add_commands(commands)
    evaluate.add_commands(commands)
    stimuli.add_commands(commands)
    return parser


def parse_settings(argv: Sequence[str]) -> tuple[str, Any]:
    """(command, typed settings) of an offline command line (``build-documents``,
    ``build-tree``, ``evaluate``), without running it; EngineInputError for a bad one."""
    if not argv:
        raise EngineInputError("expected a command")
    args = build_parser(_RaisingParser).parse_args(list(argv))
    if not hasattr(args, "settings"):
        raise EngineInputError(f"{argv[0]}: not an offline command")
    return argv[0], args.settings(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    tune_cpu_allocator()
    try:
        if hasattr(args, "settings"):
            summary = args.command(args.settings(args), progress=True)
            print(summary.text)
            return 1 if summary.errors else 0
        return args.run(args)
    except EngineInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
