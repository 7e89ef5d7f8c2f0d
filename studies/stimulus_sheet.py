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

ROWS_PER_PAGE = 5
PANEL_INCHES = 1.5
HEADING_INCHES = 0.35
TITLE_INCHES = 0.25
CAPTION_INCHES = 0.75
CAPTION_CHARACTERS = 26
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
            lines = [cell.condition.name, textwrap.shorten(picture.caption, CAPTION_CHARACTERS)]
            lines += [f"{label} {value}" for label, value in picture.measures]
            panels.append((picture.file, "\n".join(lines)))
        if not cell.maps:
            panels.append((None, f"{cell.condition.name}\nmissing"))
    return panels


def _row_title(row: ReviewedItem) -> str:
    item = row.item
    title = f"{item.key} · {item.class_a_name} / {item.class_b_name} · {item.get_role_display()}"
    title += f" · {item.get_review_display().lower()}"
    if row.flags:
        title += " · flags: " + "; ".join(row.flags)
    return textwrap.shorten(title, width=200, placeholder=" …")


def _page(rows: Sequence[ReviewedItem], heading: str) -> Figure:
    """One page: a title line, then per item a title line, its pictures and their captions."""
    columns = max(len(_panels(row)) for row in rows)
    row_inches = TITLE_INCHES + PANEL_INCHES + CAPTION_INCHES
    width, height = columns * PANEL_INCHES * 1.08, len(rows) * row_inches + HEADING_INCHES
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    figure.text(0.01, 1 - 0.1 / height, heading, fontsize=FONT_SIZE + 2, va="top")
    for number, row in enumerate(rows):
        top = height - HEADING_INCHES - number * row_inches
        figure.text(0.01, (top - 0.05) / height, _row_title(row), fontsize=FONT_SIZE, va="top")
        bottom = top - TITLE_INCHES - PANEL_INCHES
        for column, (file, caption) in enumerate(_panels(row)):
            left = column * PANEL_INCHES * 1.08 + 0.04 * PANEL_INCHES
            ax = figure.add_axes(
                (left / width, bottom / height, PANEL_INCHES / width, PANEL_INCHES / height)
            )
            ax.set_axis_off()
            picture = _picture(file)
            if picture is None:
                ax.text(0.5, 0.5, "missing or unreadable", ha="center", fontsize=FONT_SIZE)
            else:
                ax.imshow(picture)
            ax.text(
                0.5,
                -0.03,
                caption,
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=FONT_SIZE,
                linespacing=1.15,
            )
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
