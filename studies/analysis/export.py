"""Write result tables as CSV, XLSX, LaTeX and JSON, with CODEBOOK.md, atomically.

Files in `out_dir`: `<table>.csv` (UTF-8, no index, empty cell = missing), `tables.xlsx` (one
sheet per table: the caption in the first row, the header in the second, so
`pandas.read_excel(path, sheet_name=name, header=1)` reads it), `<table>.tex` (a `table` float
with `\\caption` and `\\label{tab:<table>}` around a booktabs `tabular`; needs
`\\usepackage{booktabs}`), `<table>.json` (pandas' "table" orient: a JSON Table Schema, whose
`description` is the caption, plus records, so `pandas.read_json(path, orient="table")`
restores the types), and `CODEBOOK.md` (each table's caption and columns; the caption of the
CSV files). Captions come from `captions.table_captions`. Each file is
written to a temporary file in `out_dir` and moved into place with `os.replace`, so a reader
never sees a half-written file.

LaTeX is rendered here rather than with `DataFrame.to_latex`, which needs jinja2 (not a
dependency of this project).
"""

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from .captions import table_captions
from .codebook import codebook_markdown
from .tables import StudyTables

FORMATS: tuple[str, ...] = ("csv", "xlsx", "latex", "json")
WORKBOOK_NAME = "tables.xlsx"
CODEBOOK_NAME = "CODEBOOK.md"
_FILE_MODE = 0o644
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,31}$")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "†": r"$^{\dagger}$",
    "‡": r"$^{\ddagger}$",
    "×": r"$\times$",
    "·": r"$\cdot$",
}


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary)` on a fresh file in `path`'s folder, then move it to `path`
    with `os.replace`; the temporary file is removed if `write` fails. Returns `path`."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix
    )
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, _FILE_MODE)  # mkstemp creates 0o600; exports are meant to be read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda target: target.write_text(text, encoding="utf-8"))


def latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped ("±" becomes $\\pm$, "†" $^{\\dagger}$)."""
    return "".join(_LATEX_SPECIAL.get(character, character) for character in text)


def _latex_cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    if isinstance(value, float):
        return f"{value:.4g}"
    return latex_escape(str(value))


def latex_tabular(table: pd.DataFrame) -> str:
    """A booktabs `tabular` of `table` (no index): numbers right-aligned with 4 significant
    digits (±inf as $\\infty$), text left-aligned and escaped, missing values as empty cells."""
    align = "".join(
        "r"
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        else "l"
        for dtype in table.dtypes
    )
    lines = [
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(latex_escape(str(column)) for column in table.columns) + r" \\",
        "\\midrule",
    ]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(_latex_cell(value) for value in row) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def latex_table(table: pd.DataFrame, caption: str, label: str) -> str:
    """`latex_tabular(table)` in a centred `table` float with `\\caption` (escaped) and
    `\\label{label}` above it."""
    return (
        "\\begin{table}[htbp]\n\\centering\n"
        f"\\caption{{{latex_escape(caption)}}}\n\\label{{{label}}}\n"
        f"{latex_tabular(table)}\\end{{table}}\n"
    )


def _write_workbook(
    path: Path, tables: Mapping[str, pd.DataFrame], captions: Mapping[str, str]
) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in tables.items():
            table.to_excel(writer, sheet_name=name, index=False, startrow=1)
            writer.sheets[name].cell(row=1, column=1, value=captions[name])


def _json_text(table: pd.DataFrame, caption: str) -> str:
    payload = json.loads(table.to_json(orient="table", index=False, double_precision=15))
    payload["schema"]["description"] = caption
    return json.dumps(payload, indent=1, ensure_ascii=False)


def write_tables(
    tables: StudyTables | Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = FORMATS,
) -> list[Path]:
    """Write every table in each of `formats` plus CODEBOOK.md into `out_dir` (created).

    Args:
        tables: a `StudyTables` (its present tables) or name -> table; names must be 1-31
            letters, digits, "_" or "-" (they become file and sheet names).
        out_dir: destination folder.
        formats: any of "csv", "xlsx", "latex", "json".

    Returns:
        The written paths, in writing order.

    Raises:
        ValueError: an unknown format or an unusable table name.
    """
    named = tables.as_dict() if isinstance(tables, StudyTables) else dict(tables)
    formats = tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(map(repr, unknown))}; expected {FORMATS}")
    bad = [name for name in named if not _TABLE_NAME.match(name)]
    if bad:
        raise ValueError(
            f"table name(s) {', '.join(map(repr, bad))} must be 1-31 letters, digits, _ or -"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    captions = table_captions(named)
    written = []
    for name, table in named.items():
        if "csv" in formats:
            written.append(_write_text(out / f"{name}.csv", table.to_csv(index=False)))
        if "latex" in formats:
            text = latex_table(table, captions[name], f"tab:{name}")
            written.append(_write_text(out / f"{name}.tex", text))
        if "json" in formats:
            written.append(_write_text(out / f"{name}.json", _json_text(table, captions[name])))
    if "xlsx" in formats:
        path = out / WORKBOOK_NAME
        written.append(atomic_write(path, lambda target: _write_workbook(target, named, captions)))
    written.append(_write_text(out / CODEBOOK_NAME, codebook_markdown(named, captions)))
    return written
