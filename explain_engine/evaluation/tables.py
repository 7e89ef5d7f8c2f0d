"""The tables of a faithfulness run, formatted: Markdown, CSV and LaTeX files.

:func:`display_tables` titles and formats :class:`~explain_engine.evaluation.statistics.Tables`
as in the paper; :func:`write_tables` writes tables.md, table1–3.csv, tests.csv and tables.tex
from an evaluation folder's ``pairs.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from explain_engine.evaluation.run import PAIRS_FILE
from explain_engine.evaluation.statistics import PROPOSED, Tables, read_pairs, summarize
from explain_engine.files import write_atomically
from explain_engine.intervals import Interval


def display_tables(tables: Tables) -> dict[str, pd.DataFrame]:
    """Formatted tables (strings) titled as in the paper: {title: frame}."""

    def pivot(frame: pd.DataFrame) -> pd.DataFrame:
        cells = frame.assign(cell=[_cell(row) for row in frame.itertuples()])
        table = cells.pivot(index="method", columns="explainer", values="cell")
        table = table.reindex(index=list(dict.fromkeys(frame["method"])))
        return table.reindex(columns=list(dict.fromkeys(frame["explainer"])))

    t3 = tables.table3.assign(cell=[_cell(row) for row in tables.table3.itertuples()])
    table3 = t3.pivot(index="explainer", columns="quantity", values="cell")
    table3 = table3.reindex(
        index=list(dict.fromkeys(tables.table3["explainer"])),
        columns=["n_delta", "cauc", "cdrop"],
    ).rename(columns={"n_delta": "mean n_δ", "cauc": "CAUC ↓", "cdrop": "CDROP ↑"})
    tests = tables.tests.copy()
    tests["metric"] = tests["metric"].map({"cauc": "CAUC ↓", "cdrop": "CDROP ↑"})
    tests["median_difference"] = tests["median_difference"].map(lambda v: f"{v:.2e}")
    tests["p_value"] = tests["p_value"].map(lambda v: f"{v:.3g}")
    tests = tests.drop(columns=["statistic"]).rename(
        columns={"other": "vs", "median_difference": f"median({PROPOSED} − vs)", "p_value": "p"}
    )
    return {
        "Table 1: mean CAUC per pair (lower is better), 95% t-interval": pivot(tables.table1),
        "Table 2: mean CDROP per pair (higher is better), 95% t-interval": pivot(tables.table2),
        f"Table 3: {PROPOSED} per base explainer, 95% t-interval": table3,
        f"Paired Wilcoxon signed-rank tests, {PROPOSED} vs each method": tests.set_index(
            "explainer"
        ),
    }


def cell(interval: Interval) -> str:
    """``"5.78e-03 ± 4.1e-04 (n=120)"``; no ± below two values."""
    if interval.n == 0:
        return "– (n=0)"
    if math.isnan(interval.half_width):
        return f"{interval.estimate:.2e} (n={interval.n})"
    return f"{interval.estimate:.2e} ± {interval.half_width:.1e} (n={interval.n})"


def _cell(row) -> str:
    return cell(Interval(row.mean, row.low, row.high, "t", int(row.n)))


def markdown(tables: dict[str, pd.DataFrame]) -> str:
    """The formatted tables as Markdown, each under a ``###`` title."""
    parts = []
    for title, frame in tables.items():
        header = [frame.index.name or "", *map(str, frame.columns)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for index, row in frame.iterrows():
            lines.append("| " + " | ".join([str(index), *map(str, row.tolist())]) + " |")
        parts.append(f"### {title}\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def latex(tables: dict[str, pd.DataFrame]) -> str:
    """The formatted tables as LaTeX tabulars (pandas ``to_latex`` when jinja2 is present)."""
    parts = []
    for title, frame in tables.items():
        escaped = frame.rename(index=_tex, columns=_tex).map(_tex)
        escaped.index.name = _tex(frame.index.name or "")
        try:
            import jinja2  # noqa: F401  (pandas' to_latex needs it)

            body = escaped.to_latex(escape=False)
        except ImportError:
            columns = [escaped.index.name, *escaped.columns]
            rows = [" & ".join(columns) + r" \\", r"\hline"]
            rows += [
                " & ".join([str(i), *map(str, r.tolist())]) + r" \\" for i, r in escaped.iterrows()
            ]
            body = (
                "\\begin{tabular}{" + "l" * len(columns) + "}\n" + "\n".join(rows) + "\n"
                "\\end{tabular}\n"
            )
        parts.append(f"% {title}\n{body}")
    return "\n".join(parts)


def _tex(value: object) -> str:
    text = str(value)
    for plain, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&")):
        text = text.replace(plain, escaped)
    for plain, escaped in (("±", r"$\pm$"), ("−", "-"), ("δ", r"$\delta$"), ("↓", r"$\downarrow$")):
        text = text.replace(plain, escaped)
    return text.replace("↑", r"$\uparrow$").replace("–", "--")


def write_tables(out: Path) -> str:
    """Tables from ``out``/pairs.csv into tables.md, table1–3.csv, tests.csv and tables.tex.

    Returns the Markdown text (empty tables when there are no rows yet).
    """
    pairs_path = out / PAIRS_FILE
    if not pairs_path.exists():
        return ""
    pairs = read_pairs(pairs_path)
    tables = summarize(pairs)
    for name, frame in (
        ("table1.csv", tables.table1),
        ("table2.csv", tables.table2),
        ("table3.csv", tables.table3),
        ("tests.csv", tables.tests),
    ):
        payload = frame.to_csv(index=False).encode("utf-8")
        write_atomically(out / name, lambda stream, payload=payload: stream.write(payload))
    shown = display_tables(tables)
    text = markdown(shown)
    tex = latex(shown)
    write_atomically(out / "tables.md", lambda stream: stream.write(text.encode("utf-8")))
    write_atomically(out / "tables.tex", lambda stream: stream.write(tex.encode("utf-8")))
    return text
