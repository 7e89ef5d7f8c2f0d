"""``manage.py export_results STUDY --out DIR``: every result table, the codebook and plots."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.analysis import FORMATS, INTERVAL_METHODS, write_tables
from studies.models import Study
from studies.results import study_tables, write_figures


class Command(BaseCommand):
    help = (
        "Export a study's results: trials, participants, summary (the paper's Tab. 4/5 layout), "
        "comparisons, calibration, exclusions flow, a codebook of every column, and plots."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into.")
        parser.add_argument(
            "--format",
            default=",".join(FORMATS),
            help=f"Comma-separated, any of {', '.join(FORMATS)} (default: all).",
        )
        parser.add_argument(
            "--no-exclusions",
            action="store_true",
            help="Analyse every participant who can be analysed, ignoring the study's rules.",
        )
        parser.add_argument("--interval", choices=INTERVAL_METHODS, default="t")
        parser.add_argument(
            "--mixed-model",
            action="store_true",
            help="Also fit the mixed-effects logistic regression (participant and item effects).",
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        formats = [f.strip() for f in options["format"].split(",") if f.strip()]
        if unknown := sorted(set(formats) - set(FORMATS)):
            raise CommandError(f"unknown format(s) {unknown}; expected {', '.join(FORMATS)}")
        tables = study_tables(
            study,
            exclusions=not options["no_exclusions"],
            interval=options["interval"],
            mixed_model=options["mixed_model"],
        )
        out: Path = options["out"]
        written = write_tables(tables, out, formats) + write_figures(study, tables, out)
        analysed = tables.participants["excluded"].eq(False).sum()
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(written)} files in {out}: {len(tables.participants)} participants, "
                f"{analysed} analysed"
            )
        )
