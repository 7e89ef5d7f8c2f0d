"""``manage.py study_links STUDY``: the participant links and the admin address."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from studies.links import PROLIFIC_QUERY, participant_links
from studies.models import Study


class Command(BaseCommand):
    help = "Print a study's participant links (study link, one per group) and the admin URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        self.stdout.write(f"study “{study}” ({study.get_status_display().lower()})")
        for label, url in participant_links(study, options["base_url"]):
            self.stdout.write(f"  {label}: {url}")
        self.stdout.write(f"  on Prolific, append: {PROLIFIC_QUERY}")
        admin = options["base_url"].rstrip("/") + reverse("admin:index")
        self.stdout.write(f"researcher admin: {admin}")
