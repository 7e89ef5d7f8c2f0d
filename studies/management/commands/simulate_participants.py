"""``manage.py simulate_participants STUDY --n N [--accuracy P]``: bots complete the study."""

from __future__ import annotations

import random
import secrets

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client
from django.urls import reverse

from studies.models import Study
from studies.simulation import Bot, BotError


class Command(BaseCommand):
    help = (
        "Simulated participants go through the study's real pages (consent, group, "
        "instructions, training with feedback, test trials, debrief) in this process, and "
        "answer right with probability --accuracy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--n", type=int, default=10, help="How many participants.")
        parser.add_argument("--accuracy", type=float, default=0.8, help="P(right answer).")
        parser.add_argument(
            "--group",
            help="Arrive through this group's link (default: the study link; the bot answers "
            "the group question at random).",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        if not study.is_open:
            raise CommandError(f"study {study.slug} is {study.status}; open it first")
        if not 0.0 <= options["accuracy"] <= 1.0:
            raise CommandError("--accuracy must be between 0 and 1")
        if options["n"] < 1:
            raise CommandError("--n must be at least 1")
        if options["group"] and not study.groups.filter(slug=options["group"]).exists():
            raise CommandError(f"study {study.slug} has no group {options['group']!r}")
        link = (
            reverse("studies:group-link", args=[study.slug, options["group"]])
            if options["group"]
            else reverse("studies:study-link", args=[study.slug])
        )
        rng = random.Random(options["seed"])
        run = secrets.token_hex(4)
        for number in range(options["n"]):
            bot = Bot(Client(SERVER_NAME="localhost"), accuracy=options["accuracy"], rng=rng)
            try:
                bot.run(f"{link}?external_id=bot-{run}-{number}")
            except BotError as error:
                raise CommandError(f"participant {number + 1}: {error}") from error
            self.stdout.write(f"participant {number + 1}/{options['n']}: {bot.answers} answers")
        self.stdout.write(self.style.SUCCESS(f"{options['n']} participants completed {study}"))
