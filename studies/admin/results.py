"""The admin's results page: the paper-style tables, comparisons, flow and plots of a study,
recomputed from the stored responses each time the page loads (it reloads itself)."""

from __future__ import annotations

import io

import pandas as pd
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from studies.analysis import StudyTables
from studies.analysis.captions import table_captions
from studies.models import Study
from studies.results import result_figures, study_tables

REFRESH_SECONDS = 30
COMPARISON_COLUMNS = (
    "group",
    "measure",
    "condition_a",
    "condition_b",
    "test",
    "n_participants_a",
    "n_participants_b",
    "mean_a",
    "mean_b",
    "p_value",
    "p_holm",
    "effect_size",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    "note",
)


def html_table(
    table: pd.DataFrame, columns: tuple[str, ...] | None = None, caption: str | None = None
) -> SafeString:
    """``table`` as an escaped HTML table (numbers to 3 significant digits, blanks for NA),
    with ``caption`` (escaped) as its ``<caption>``."""
    shown = table[[c for c in columns if c in table.columns]] if columns else table.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.api.extensions.ExtensionDtype):
            shown[column] = shown[column].astype(object).where(shown[column].notna(), "")
    html = shown.to_html(
        index=False, na_rep="", float_format=lambda v: f"{v:.3g}", classes="results", border=0
    )
    if caption:
        opening = html.index(">") + 1
        html = html[:opening] + format_html("\n<caption>{}</caption>", caption) + html[opening:]
    return mark_safe(html)


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
    captions = table_captions(tables.as_dict())
    api = reverse("api:results-detail", args=[study.pk])
    query = f"?format=csv&exclusions={int(exclusions)}"
    return {
        "exclusions": exclusions,
        "paper": [
            (group, html_table(tables.paper_for(group).reset_index(), caption=captions["paper"]))
            for group in study.groups.values_list("name", flat=True)
        ],
        "comparisons": html_table(
            tables.comparisons, COMPARISON_COLUMNS, caption=captions["comparisons"]
        ),
        "auroc": html_table(tables.calibration_auroc, caption=captions["calibration_auroc"]),
        "flow": html_table(tables.flow, caption=captions["flow"]),
        "figures": svg_figures(study, tables),
        "downloads": [(name, f"{api}tables/{name}/{query}") for name in tables.as_dict()],
        "refresh_seconds": REFRESH_SECONDS,
    }
