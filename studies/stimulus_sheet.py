"""The stimulus review offline: a contact sheet of every item × condition (the same rows as the
admin's "Review stimuli" page), as a multi-page PDF or numbered PNG pages.

One row per item: the photograph, then for each condition its pictures (cluster map when the
condition shows one, the maps of class a and class b), captioned with the class label and the
map's measures; the row's title carries the item's role, review decision and flags. Pictures are
the stored files, exactly as participants are served them.

Figures use matplotlib's object-oriented API (no ``pyplot`` state), like the engine's renderer.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from PIL import Image

from studies.review import ReviewedItem

ROWS_PER_PAGE = 4
PANEL_INCHES = 1.6
TITLE_INCHES = 0.55
CAPTION_INCHES = 0.55
FONT_SIZE = 6.5


def _picture(file) -> np.ndarray | None:
    """The stored picture as an RGB array, or None when the file is missing or unreadable."""
    if not file:
        return None
    try:
        with file.open("rb") as stream, Image.open(stream) as picture:
            return np.asarray(picture.convert("RGB"))
    except (OSError, ValueError):
        return None


def _panels(row: ReviewedItem) -> list[tuple[object, str]]:
    """(file, caption) of each picture of ``row``, left to right."""
    panels: list[tuple[object, str]] = [(row.item.image, "image")]
    for cell in row.cells:
        for picture in cell.maps:
            measures = ", ".join(f"{label} {value}" for label, value in picture.measures)
            caption = f"{cell.condition.name}: {picture.caption}"
            panels.append((picture.file, caption + (f"\n{measures}" if measures else "")))
        if not cell.maps:
            panels.append((None, f"{cell.condition.name}: missing"))
    return panels


def _row_title(row: ReviewedItem) -> str:
    item = row.item
    title = f"{item.key} ({item.get_role_display()}, {item.get_review_display().lower()})"
    if row.flags:
        title += " — flags: " + "; ".join(row.flags)
    return textwrap.shorten(title, width=220, placeholder=" …")


def _page(rows: Sequence[ReviewedItem], heading: str) -> Figure:
    columns = max(len(_panels(row)) for row in rows)
    row_inches = TITLE_INCHES + PANEL_INCHES + CAPTION_INCHES
    figure = Figure(figsize=(columns * PANEL_INCHES, len(rows) * row_inches + 0.4))
    FigureCanvasAgg(figure)
    figure.suptitle(heading, fontsize=FONT_SIZE + 2, y=0.995)
    subfigures = figure.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for subfigure, row in zip(subfigures, rows, strict=True):
        subfigure.suptitle(_row_title(row), fontsize=FONT_SIZE, x=0.01, ha="left")
        axes = subfigure.subplots(1, columns, squeeze=False)[0]
        for ax in axes:
            ax.set_axis_off()
        for ax, (file, caption) in zip(axes, _panels(row), strict=False):
            picture = _picture(file)
            if picture is None:
                ax.text(0.5, 0.5, "missing or unreadable", ha="center", fontsize=FONT_SIZE)
            else:
                ax.imshow(picture)
            ax.set_title(caption, fontsize=FONT_SIZE, y=-0.02, va="top", pad=0, loc="center")
    return figure


def pages(rows: Sequence[ReviewedItem], title: str) -> Iterator[Figure]:
    """The sheet's pages, :data:`ROWS_PER_PAGE` items each (nothing for no rows)."""
    count = (len(rows) + ROWS_PER_PAGE - 1) // ROWS_PER_PAGE
    for number in range(count):
        chunk = rows[number * ROWS_PER_PAGE : (number + 1) * ROWS_PER_PAGE]
        yield _page(chunk, f"{title} — page {number + 1} of {count}")


def write_sheet(rows: Sequence[ReviewedItem], out: Path, title: str) -> list[Path]:
    """Write the sheet to ``out``: one PDF when it ends in ``.pdf``, else PNG pages
    ``<stem>-001.png``, … next to it. Returns the files written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".pdf":
        with PdfPages(out) as pdf:
            for figure in pages(rows, title):
                pdf.savefig(figure)
        return [out]
    written = []
    for number, figure in enumerate(pages(rows, title), start=1):
        path = out.with_name(f"{out.stem}-{number:03d}.png")
        figure.savefig(path, dpi=150)
        written.append(path)
    return written
