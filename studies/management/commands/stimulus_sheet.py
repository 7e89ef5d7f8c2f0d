"""``manage.py stimulus_sheet STUDY --out sheet.pdf``: the stimulus review as a contact sheet."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.models import Study
from studies.review import review_items
from studies.stimulus_sheet import write_sheet


class Command(BaseCommand):
    help = (
        "Write every stimulus item × condition of a study as participants see it, with the "
        "maps' measures, flags and review decisions: a PDF (--out NAME.pdf) or PNG pages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument(
            "--out", type=Path, required=True, help="sheet.pdf, or sheet.png for PNG pages."
        )
        parser.add_argument("--flagged", action="store_true", help="Only items with flags.")
        parser.add_argument("--method", help="Only this condition's method (e.g. cwox-2s).")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        methods = set(study.conditions.values_list("method", flat=True))
        if options["method"] and options["method"] not in methods:
            known = ", ".join(sorted(methods)) or "none"
            raise CommandError(f"--method {options['method']!r}: the study's methods are {known}")
        rows = review_items(study, method=options["method"], flagged_only=options["flagged"])
        if not rows:
            raise CommandError("no items to show (none imported, or none match the filters)")
        written = write_sheet(rows, options["out"], title=f"{study.title}: stimulus review")
        self.stdout.write(
            self.style.SUCCESS(f"{len(rows)} items on {len(written)} file(s): {written[0]}")
        )
