"""``manage.py create_demo_study``: the ready-to-run demo study (see :mod:`studies.demo`)."""

from __future__ import annotations

from pathlib import Path

import torch
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from explain_engine.errors import EngineInputError
from explain_engine.registry import explainer_names
from explain_engine.settings import choose_explainer
from studies import demo
from studies.models import Study
from studies.models.study import DEFAULT_CONDITIONS, KNOWN_METHODS


class Command(BaseCommand):
    help = (
        "Build the demo study: photographs bundled with scikit-image and matplotlib, confusing "
        "pairs from the embedded EfficientNet-Lite0 and its latent tree, SWOX / CWOX-1sB / "
        "CWOX-2s heatmaps, groups expert and non-expert. Resumes an interrupted run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--explainer",
            choices=explainer_names(),
            help="Base explainer (default: RISE, as in the paper's study, on a GPU; Grad-CAM "
            "on a CPU, ready in about a minute instead of tens of minutes).",
        )
        parser.add_argument(
            "--rise-masks",
            help="Masks for stage 1,stage 2 (e.g. 64,32; default and reference 5000,3000); "
            "explainers without mask counts ignore it.",
        )
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
        parser.add_argument(
            "--conditions",
            default=",".join(method for _, method in DEFAULT_CONDITIONS),
            help="Condition kinds, comma-separated (default: the paper's swox,cwox-1sb,cwox-2s); "
            f"any of {', '.join(KNOWN_METHODS)}.",
        )
        parser.add_argument(
            "--work",
            type=Path,
            default=Path(settings.BASE_DIR) / "demo-output" / "study",
            help="Where photographs, pairs and heatmaps are made (kept for resuming).",
        )
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Replace an existing demo study (refused once it has participants).",
        )

    def handle(self, *args, **options) -> None:
        existing = Study.objects.filter(slug=demo.SLUG).first()
        if existing is not None and not options["rebuild"]:
            self.stdout.write(f"the demo study exists ({existing.items.count()} items); kept")
            return
        if existing is not None:
            if existing.participants.exists():
                raise CommandError("the demo study has participants; it is kept as it is")
            existing.delete()
        gpu = torch.cuda.is_available() and options["device"] in ("auto", "cuda")
        explainer = options["explainer"] or ("rise" if gpu else "gradcam")
        try:
            spec = choose_explainer(explainer, masks=options["rise_masks"])
            conditions = demo.conditions_named(options["conditions"])
            if unknown := sorted({m for _, m in conditions} - set(KNOWN_METHODS)):
                raise EngineInputError(
                    f"--conditions: unknown {', '.join(unknown)} "
                    f"(expected some of {', '.join(KNOWN_METHODS)})"
                )
            settings_ = demo.DemoSettings(options["work"], spec, options["device"], conditions)
            stimuli, checks = demo.pregenerate_stimuli(settings_, self.stdout.write)
        except EngineInputError as error:
            raise CommandError(str(error)) from error
        try:
            study = demo.create_demo_study(stimuli, checks, conditions)
        except ValidationError as error:
            raise CommandError(
                " ".join(error.messages) + " The import rejects an item whose map is blank in "
                "any condition; the demo's photographs give too few items for these conditions."
            ) from error
        roles = {role: study.items.filter(role=role).count() for role in ("training", "test")}
        self.stdout.write(
            self.style.SUCCESS(
                f"demo study “{study}” is open: {roles['training']} training and "
                f"{roles['test']} test items, {study.attention_checks} attention check(s), "
                f"heatmaps by {explainer}"
            )
        )
