"""``manage.py plan_power STUDY``: power of the study's planned comparisons against
participants per cell, by simulation (see :mod:`studies.analysis.power`)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.analysis import (
    DEFAULT_N_PER_CELL,
    parse_accuracy,
    parse_counts,
    plot_power,
    power_by_n,
    required_participants,
    save_figure,
    simulate_power,
    write_tables,
)
from studies.models import Study
from studies.results import DEFAULT_SD, study_power_design

DEFAULT_N = ",".join(map(str, DEFAULT_N_PER_CELL))


class Command(BaseCommand):
    help = (
        "Simulate the study with assumed (or its own data's) accuracies, participant and item "
        "effects, and print the power of each planned comparison against participants per "
        "cell, with the participants needed for 80% and 90% power."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument(
            "--accuracy",
            help="Assumed accuracy per condition (name or method) or group:condition, e.g. "
            "swox=0.6,cwox-1sb=0.65,cwox-2s=0.75. Default with --from-data: the study's own.",
        )
        parser.add_argument(
            "--items", type=int, help="Test trials per participant (default: the study's)."
        )
        parser.add_argument(
            "--participant-sd",
            type=float,
            help=f"Participant random-intercept sd, logit scale (default {DEFAULT_SD}, or "
            "estimated with --from-data).",
        )
        parser.add_argument(
            "--item-sd",
            type=float,
            help=f"Item random-intercept sd, logit scale (default {DEFAULT_SD}, or estimated "
            "with --from-data).",
        )
        parser.add_argument(
            "--from-data",
            action="store_true",
            help="Estimate what is not given from the study's analysed trials (e.g. a pilot): "
            "accuracy per cell, and the sds from a mixed logistic regression.",
        )
        parser.add_argument(
            "--n",
            default=DEFAULT_N,
            help=f"Participants per cell to simulate, comma-separated (default {DEFAULT_N}).",
        )
        parser.add_argument("--simulations", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--out", type=Path, help="Also write power and required tables and the plot here."
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        try:
            accuracy = parse_accuracy(options["accuracy"]) if options["accuracy"] else None
            counts = parse_counts(options["n"])
            design, sources = study_power_design(
                study,
                accuracy,
                items=options["items"],
                participant_sd=options["participant_sd"],
                item_sd=options["item_sd"],
                from_data=options["from_data"],
            )
            power = simulate_power(
                design, counts, simulations=options["simulations"], seed=options["seed"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        needed = required_participants(power)
        self.stdout.write(
            f"{study.slug}: {design.items} test trials per participant from {design.item_pool} "
            f"items, participant sd {design.participant_sd:.3g}, item sd {design.item_sd:.3g}, "
            f"alpha {design.alpha} (Holm within group), {options['simulations']} simulations, "
            f"seed {options['seed']}"
        )
        for name, source in sources.items():
            self.stdout.write(f"  {name}: {source}")
        wide = power_by_n(power).to_string(index=False, float_format="{:.2f}".format)
        self.stdout.write("\nPower by participants per cell:\n" + wide)
        self.stdout.write(
            "\nParticipants per cell for 80% / 90% power (<NA>: more than the largest n):\n"
            + needed.to_string(index=False)
        )
        if options["out"] is not None:
            out = Path(options["out"])
            written = write_tables({"power": power, "power_needed": needed}, out)
            written += save_figure(plot_power(power), out / "power")
            self.stdout.write(self.style.SUCCESS(f"{len(written)} files in {out}"))
