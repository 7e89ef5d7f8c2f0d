"""The confusing-pair options shared by the management commands that pregenerate stimuli
(``pregenerate_stimuli``, ``run_job pregenerate``) and the admin's pregeneration form: one
declaration, one conversion to the engine's :class:`~explain_engine.pairs.PairRules`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from explain_engine.pairs import STUDY_PAIR_RULES, PairRules


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """``--floor``, ``--per-pair``, ``--labels``, ``--require-truth`` and ``--any-cluster``."""
    rules = STUDY_PAIR_RULES
    parser.add_argument(
        "--floor", type=float, default=rules.floor, help="Least P(c|x) of both classes."
    )
    parser.add_argument(
        "--per-pair", type=int, default=rules.per_pair, help="Items per class pair."
    )
    parser.add_argument(
        "--labels",
        help="Ground truth: 'folder' (folder names are class indices or names) or a CSV file "
        "with columns file,class_index.",
    )
    parser.add_argument(
        "--require-truth",
        action="store_true",
        help="Only pairs that contain the image's ground-truth class (needs --labels).",
    )
    parser.add_argument(
        "--any-cluster",
        action="store_true",
        help="Pairs from any confusion cluster, as in the paper (default: only the cluster "
        "of the most probable class, which avoids empty CWOX-2s maps).",
    )


def pair_rules(options: dict[str, Any]) -> PairRules:
    """The rules the options of :func:`add_pair_arguments` (or the form's fields of the same
    names) ask for (EngineInputError)."""
    return replace(
        STUDY_PAIR_RULES,
        floor=options["floor"],
        per_pair=options["per_pair"],
        require_truth=options["require_truth"],
        leading_cluster=not options["any_cluster"],
    )
