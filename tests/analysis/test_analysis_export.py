"""Exports: every table in every format, read back with pandas to the same values."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from analysis_studies import simulate_study
from openpyxl import load_workbook

from studies.analysis import analyse, empty_participants, empty_trials, write_tables
from studies.analysis.captions import table_captions
from studies.analysis.codebook import describe_column
from studies.analysis.export import atomic_write, latex_escape, latex_tabular
from studies.analysis.summary import CELL_MARKS


@pytest.fixture(scope="module")
def tables():
    trials, participants = simulate_study(
        np.random.default_rng(4),
        {
            ("expert", "SWOX"): (4, 0.5),
            ("expert", "CWOX-2s"): (3, 0.8),
            ("non-expert", "SWOX"): (1, 0.4),
        },
        n_items=5,
    )
    return analyse(
        trials,
        participants,
        declined=1,
        conditions=["SWOX", "CWOX-1sB", "CWOX-2s"],
        mixed_model=True,
    )


def _assert_same_values(read: pd.DataFrame, original: pd.DataFrame, name: str) -> None:
    assert list(read.columns) == list(original.columns), name
    assert len(read) == len(original), name
    for column in original.columns:
        expected = original[column]
        if pd.api.types.is_numeric_dtype(expected) or pd.api.types.is_bool_dtype(expected):
            np.testing.assert_allclose(
                read[column].astype("float64"),
                expected.astype("float64"),
                rtol=1e-12,
                equal_nan=True,
                err_msg=f"{name}.{column}",
            )
        else:  # text: missing and "" read back alike
            assert _text(read[column]) == _text(expected), f"{name}.{column}"


def _text(column: pd.Series) -> list[str]:
    return ["" if pd.isna(value) else str(value) for value in column]


def test_every_table_round_trips_through_csv_xlsx_and_json(tables, tmp_path):
    written = write_tables(tables, tmp_path)
    named = tables.as_dict()
    assert "mixed_model" in named
    assert {path.name for path in written} == (
        {f"{name}.{ext}" for name in named for ext in ("csv", "tex", "json")}
        | {"tables.xlsx", "CODEBOOK.md"}
    )
    workbook = pd.read_excel(tmp_path / "tables.xlsx", sheet_name=None, header=1)
    assert list(workbook) == list(named)
    for name, table in named.items():
        _assert_same_values(pd.read_csv(tmp_path / f"{name}.csv"), table, f"csv {name}")
        _assert_same_values(workbook[name], table, f"xlsx {name}")
        text = (tmp_path / f"{name}.json").read_text(encoding="utf-8")
        from_json = pd.read_json(io.StringIO(text), orient="table")
        _assert_same_values(from_json, table, f"json {name}")
        pd.testing.assert_frame_equal(
            from_json, table, check_exact=False, rtol=1e-12, obj=f"json {name}"
        )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files
    assert {p.stat().st_mode & 0o777 for p in written} == {0o644}


def test_json_missing_values_are_null(tables, tmp_path):
    write_tables(tables, tmp_path, formats=["json"])
    records = json.loads((tmp_path / "summary.json").read_text())["data"]
    empty = [r for r in records if r["n_participants"] == 0]
    assert empty and all(r["mean"] is None and r["ci_low"] is None for r in empty)


def test_latex_is_a_booktabs_tabular_with_escaped_text(tables, tmp_path):
    write_tables(tables, tmp_path, formats=["latex"])
    paper = (tmp_path / "paper.tex").read_text(encoding="utf-8")
    assert paper.startswith("\\begin{table}[htbp]\n\\centering\n\\caption{")
    assert "\\label{tab:paper}\n\\begin{tabular}{lllll}\n\\toprule\n" in paper
    assert paper.rstrip().endswith("\\end{tabular}\n\\end{table}")
    assert "$\\pm$" in paper and "±" not in paper and "†" not in paper
    assert paper.count("\\\\") == 1 + len(tables.paper)
    assert "non-expert & accuracy" in paper
    assert "nan" not in paper.lower()
    frame = pd.DataFrame({"name_x": ["a&b", "50%", "odds"], "value": [0.123456, np.nan, np.inf]})
    assert latex_tabular(frame).splitlines()[2:7] == [
        "name\\_x & value \\\\",
        "\\midrule",
        "a\\&b & 0.1235 \\\\",
        "50\\% &  \\\\",
        "odds & $\\infty$ \\\\",
    ]


def test_codebook_describes_every_column_of_every_table(tables, tmp_path):
    for name, table in tables.as_dict().items():
        for column in table.columns:
            assert describe_column(name, column), f"{name}.{column}"
    write_tables(tables, tmp_path, formats=[])
    codebook = (tmp_path / "CODEBOOK.md").read_text(encoding="utf-8")
    assert "not described" not in codebook
    for name in tables.as_dict():
        assert f"## {name}\n" in codebook


def test_empty_study_exports_headers(tmp_path):
    tables = analyse(empty_trials(), empty_participants())
    write_tables(tables, tmp_path, formats=["csv", "xlsx"])
    read = pd.read_csv(tmp_path / "summary.csv")
    assert read.empty and list(read.columns) == list(tables.summary.columns)
    sheets = pd.read_excel(tmp_path / "tables.xlsx", sheet_name=None, header=1)
    assert list(sheets["trials"].columns) == list(tables.trials.columns)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "summary.csv"
    target.write_text("old", encoding="utf-8")

    def fail(path):
        path.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_bad_formats_and_names_are_rejected(tables, tmp_path):
    with pytest.raises(ValueError, match="unknown format.*'parquet'"):
        write_tables(tables, tmp_path, formats=["csv", "parquet"])
    with pytest.raises(ValueError, match="'../escape'"):
        write_tables({"../escape": tables.summary}, tmp_path)


def test_every_table_carries_its_caption_in_every_format(tables, tmp_path):
    write_tables(tables, tmp_path)
    captions = table_captions(tables.as_dict())
    assert set(captions) == set(tables.as_dict())
    workbook = load_workbook(tmp_path / "tables.xlsx", read_only=True)
    codebook = (tmp_path / "CODEBOOK.md").read_text(encoding="utf-8")
    for name, caption in captions.items():
        assert len(caption) > 40, name
        tex = (tmp_path / f"{name}.tex").read_text(encoding="utf-8")
        assert f"\\caption{{{latex_escape(caption)}}}\n\\label{{tab:{name}}}" in tex
        assert workbook[name]["A1"].value == caption
        schema = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))["schema"]
        assert schema["description"] == caption
        assert f"## {name}\n\n{caption}\n" in codebook
    paper = captions["paper"]
    assert "t-interval over participant means" in paper and "95%" in paper
    assert "(n=...) is the number of participants" in paper
    assert f"† {CELL_MARKS['†']}" in paper  # the fixture has cells of 1, 3 and 4 people
    assert "reason in note" in captions["comparisons"]
    assert "did not converge" in captions["mixed_model"]
    assert "\\dagger" in (tmp_path / "paper.tex").read_text(encoding="utf-8")
