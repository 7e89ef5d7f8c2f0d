"""Captions of the result tables: what a row is, how intervals were computed, what the marks
mean. Written above every XLSX sheet, as the LaTeX `\\caption`, into the JSON schema's
description and into CODEBOOK.md (the CSV files' caption)."""

from collections.abc import Mapping

import pandas as pd

from .codebook import CODEBOOK
from .summary import CELL_MARKS, INTERVAL_DESCRIPTIONS, SMALL_CELL

_CELL_TABLES = ("summary", "paper")
_CELL_COUNTS = "(n=...) is the number of participants in the cell"
_COMPARISONS = (
    "n_participants_a/b and n_trials_a/b count the participants and trials of each cell. "
    "A row without a test has empty statistics and its reason in note; p_holm adjusts the "
    "tested pairs of one group, measure and test family. The pooled tests (chi_square, "
    "fisher_exact) treat a participant's trials as independent, so their p-values are too "
    "small when participants differ; Welch's t on participant means is the planned test."
)
_MIXED = "Rows with converged False come from a fit that did not converge: do not report them."
_CALIBRATION = "Wilson 95% intervals on pooled trials; n_participants and n_trials per cell."


def _interval_sentence(summary: pd.DataFrame | None) -> str:
    methods = [] if summary is None else list(dict.fromkeys(summary["interval_method"]))
    described = [INTERVAL_DESCRIPTIONS[m] for m in methods if m in INTERVAL_DESCRIPTIONS]
    return "Cells, with 95% intervals: " + ("; or ".join(described) or "mean [low, high]") + "."


def _marks_sentence(cells: pd.DataFrame) -> str:
    text = "".join(cells.astype(str).to_numpy().ravel())
    used = [f"{mark} {meaning}" for mark, meaning in CELL_MARKS.items() if mark in text]
    if not used:
        return f"No cell with data has fewer than {SMALL_CELL} participants."
    return "Marks: " + "; ".join(used) + "."


def table_captions(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """name -> caption of each table: the codebook's description of a row, plus, for the
    summary and paper tables, the interval methods found in `tables["summary"]`, the
    participants per cell and the marks used, and for comparisons / calibration the counts and
    how missing tests read, and for the mixed model which rows not to report. Tables outside
    the codebook get their name."""
    summary = tables.get("summary")
    captions = {}
    for name, table in tables.items():
        parts = [CODEBOOK[name][0] if name in CODEBOOK else name]
        if name in _CELL_TABLES:
            cells = table["formatted"] if name == "summary" else table.iloc[:, 2:]
            parts += [
                _interval_sentence(summary),
                f"{_CELL_COUNTS}.",
                _marks_sentence(pd.DataFrame(cells)),
            ]
        elif name == "comparisons":
            parts.append(_COMPARISONS)
        elif name == "calibration":
            parts.append(_CALIBRATION)
        elif name == "mixed_model":
            parts.append(_MIXED)
        captions[name] = " ".join(parts)
    return captions
