"""Contrastive faithfulness (CAUC, CDROP) over an image folder, paper Section 5.1.

- :mod:`explain_engine.evaluation.run` — the resumable run that writes ``pairs.csv``;
- :mod:`explain_engine.evaluation.statistics` — Tables 1–3 and paired tests as frames;
- :mod:`explain_engine.evaluation.tables` — those tables as Markdown, CSV and LaTeX.
"""

from explain_engine.evaluation.run import (
    PAIR_COLUMNS,
    EvaluationSummary,
    evaluate_folder,
    sample_images,
)
from explain_engine.evaluation.statistics import PairedTest, Tables, read_pairs, summarize
from explain_engine.evaluation.tables import display_tables, write_tables

__all__ = [
    "PAIR_COLUMNS",
    "EvaluationSummary",
    "PairedTest",
    "Tables",
    "display_tables",
    "evaluate_folder",
    "read_pairs",
    "sample_images",
    "summarize",
    "write_tables",
]
