"""``manage.py import_stimuli STUDY MANIFEST``: add an engine manifest's items to a study."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.models import Study
from studies.stimuli_import import ManifestError, import_manifest


class Command(BaseCommand):
    help = (
        "Import the items of a stimulus manifest (docs/stimulus-manifest.md) into a draft "
        "study, verifying every file's SHA-256 (on a mismatch or a malformed manifest nothing "
        "is imported); items whose pictures cannot be shown (a file that is not an image of "
        "the item's size, a blank heatmap) are rejected and listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("manifest", help="manifest.json or the folder that holds it.")
        parser.add_argument(
            "--training",
            type=int,
            default=0,
            help="Items without a role: the first N become training items, the rest test items.",
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        path = Path(options["manifest"])
        folder = path.parent if path.name == "manifest.json" else path
        try:
            items = import_manifest(study, folder, training=options["training"])
        except (ManifestError, ValidationError) as error:
            message = error.messages[0] if isinstance(error, ValidationError) else str(error)
            raise CommandError(f"nothing imported: {message}") from error
        roles = ", ".join(
            f"{sum(i.role == role for i in items)} {role}"
            for role in ("training", "test", "attention")
        )
        self.stdout.write(self.style.SUCCESS(f"imported {len(items)} items into {study}: {roles}"))
        if items.rejected:
            self.stdout.write(self.style.WARNING(f"rejected {len(items.rejected)} items:"))
            for rejected in items.rejected:
                self.stdout.write(f"  {rejected.key}: {rejected.reason}")
