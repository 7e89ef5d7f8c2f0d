"""``manage.py pregenerate_stimuli STUDY IMAGES_DIR``: pairs, heatmaps and import in one go."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from explain_engine.errors import EngineInputError
from explain_engine.models import EMBEDDED_MODEL
from explain_engine.registry import explainer_names
from explain_engine.settings import choose_explainer
from explain_engine.stimulus_settings import StimulusSettings
from studies.management.pair_options import add_pair_arguments, pair_rules
from studies.models import Study
from studies.stimuli_import import ManifestError, import_manifest
from studies.stimuli_pipeline import build_stimuli


class Command(BaseCommand):
    help = (
        "For a draft study: choose a confusing pair per image of IMAGES_DIR with the embedded "
        "classifier and its latent tree, pregenerate the heatmaps of every condition's method, "
        "and import them. Rerunning resumes the engine steps."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's slug (a draft with its conditions).")
        parser.add_argument("images", type=Path, help="Folder of images (searched recursively).")
        parser.add_argument("--explainer", choices=explainer_names(), default="gradcam")
        parser.add_argument(
            "--rise-masks", help="Masks for stage 1,stage 2, e.g. 5000,3000 (RISE's default)."
        )
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
        parser.add_argument("--model", help="Classifier (default: the embedded one)")
        parser.add_argument("--tree", type=Path, help="Latent tree (default: the model's own)")
        add_pair_arguments(parser)
        parser.add_argument("--training", type=int, default=0, help="Training items (first N).")
        parser.add_argument(
            "--work", type=Path, help="Working folder (default: media/work/<study>)."
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        if not study.is_draft:
            raise CommandError(f"study {study.slug} is {study.status}: its stimuli are frozen")
        methods = list(study.conditions.values_list("method", flat=True))
        if not methods:
            raise CommandError(f"study {study.slug} has no conditions yet")
        if not options["images"].is_dir():
            raise CommandError(f"{options['images']} is not a folder")
        work = options["work"] or Path(settings.MEDIA_ROOT) / "work" / study.slug
        try:
            settings_ = StimulusSettings(
                images=options["images"].resolve(),
                methods=tuple(methods),
                explainer=choose_explainer(options["explainer"], masks=options["rise_masks"]),
                device=options["device"],
                tree=options["tree"],
                rules=pair_rules(options),
                labels=options["labels"],
                roles=(("training", options["training"]),) if options["training"] else (),
                model=options["model"] or EMBEDDED_MODEL,
            )
            folder = build_stimuli(settings_, work, self.stdout.write)
            items = import_manifest(study, folder)
        except (EngineInputError, ManifestError) as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(self.style.SUCCESS(f"imported {len(items)} items into {study}"))
