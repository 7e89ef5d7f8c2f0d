"""The admin's results page: the paper-style tables, comparisons, flow and plots of a study,
recomputed from the stored responses each time the page loads (it reloads itself)."""

from __future__ import annotations

import io

import pandas as pd
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from studies.analysis import StudyTables
from studies.models import Study
from studies.results import result_figures, study_tables

REFRESH_SECONDS = 30
COMPARISON_COLUMNS = (
    "group",
    "measure",
    "condition_a",
    "condition_b",
    "test",
    "mean_a",
    "mean_b",
    "p_value",
    "p_holm",
    "effect_size",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
)


def html_table(table: pd.DataFrame, columns: tuple[str, ...] | None = None) -> SafeString:
    """``table`` as an escaped HTML table (numbers to 3 significant digits, blanks for NA)."""
    shown = table[[c for c in columns if c in table.columns]] if columns else table.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.api.extensions.ExtensionDtype):
            shown[column] = shown[column].astype(object).where(shown[column].notna(), "")
    return mark_safe(
        shown.to_html(
            index=False, na_rep="", float_format=lambda v: f"{v:.3g}", classes="results", border=0
        )
    )


def svg_figures(study: Study, tables: StudyTables) -> dict[str, SafeString]:
    """The result plots as inline SVG (matplotlib draws text as paths: no markup from data)."""
    rendered = {}
    for name, figure in result_figures(study, tables).items():
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        svg = buffer.getvalue()
        rendered[name] = mark_safe(svg[svg.index("<svg") :])
    return rendered


def results_context(study: Study, *, exclusions: bool) -> dict:
    """What the results page shows for ``study``, with or without its exclusion rules."""
    tables = study_tables(study, exclusions=exclusions)
    api = reverse("api:results-detail", args=[study.pk])
    query = f"?format=csv&exclusions={int(exclusions)}"
    return {
        "exclusions": exclusions,
        "paper": [
            (group, html_table(tables.paper_for(group).reset_index()))
            for group in study.groups.values_list("name", flat=True)
        ],
        "comparisons": html_table(tables.comparisons, COMPARISON_COLUMNS),
        "auroc": html_table(tables.calibration_auroc),
        "flow": html_table(tables.flow),
        "figures": svg_figures(study, tables),
        "downloads": [(name, f"{api}tables/{name}/{query}") for name in tables.as_dict()],
        "refresh_seconds": REFRESH_SECONDS,
    }
