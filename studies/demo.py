"""The demo study: the paper's matching study (Section 5.2) on photographs every install has.

Pipeline (each step resumes when run again): write the demo photographs and the attention-check
composites (:mod:`explain_engine.demo_photos`) → choose a confusing pair per image with the
embedded EfficientNet-Lite0 and its latent tree, then pregenerate the SWOX, CWOX-1sB and CWOX-2s
heatmaps (:mod:`studies.stimuli_pipeline`, through the engine's API) → create the study with the
paper's conditions and groups, import both manifests, open it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from django.db import transaction

from explain_engine import demo_photos
from explain_engine.pairs import STUDY_PAIR_RULES
from explain_engine.registry import PLACEBO_PREFIX
from explain_engine.settings import ExplainerSpec
from explain_engine.stimulus_settings import StimulusSettings
from studies.lifecycle import open_study
from studies.models import Condition, ParticipantGroup, Study
from studies.models.study import DEFAULT_CONDITIONS, DEFAULT_GROUPS
from studies.stimuli_import import import_manifest
from studies.stimuli_pipeline import Say, build_stimuli

SLUG = "demo"
TRAINING_ITEMS = 3
TEST_TRIALS = 10
PER_PAIR = 6
ATTENTION_POSITION = 6

TEXTS = {
    "consent_text": (
        "This is a study of how people read explanations of an image classifier, a computer "
        "program that names what a photograph shows.\n\n"
        "You will see photographs and coloured heatmaps and answer about 15 short questions; "
        "it takes about 10 minutes. Taking part is voluntary and you can stop at any time by "
        "closing the page. We store your answers, your confidence ratings and how long you "
        "took, under a random code; we do not store your name or contact details.\n\n"
        "Do you agree to take part?"
    ),
    "instructions": (
        "An image classifier looked at each photograph and hesitated between two labels, for "
        "example “tiger cat” and “tabby”. For each label, a heatmap shows which parts of the "
        "photograph made the classifier think of that label: bright (yellow) areas mattered "
        "most, dark areas least. Some pages also show a heatmap of both labels together.\n\n"
        "Your task: match each of the two heatmaps to its label, then say how sure you are, "
        "from 1 (not sure) to 5 (completely sure).\n\n"
        "You start with a few practice questions; after each one we show you the right "
        "answer. Then the real questions follow, without feedback. Look carefully: there is "
        "no time limit."
    ),
    "debrief_text": (
        "Thank you for taking part. The heatmaps you saw were made by different explanation "
        "methods (SWOX, CWOX-1sB and CWOX-2s; see “Two-Stage Holistic and Contrastive "
        "Explanation of Image Classification”). Each participant saw one method; we compare "
        "how often people match the heatmaps correctly with each method."
    ),
}


@dataclass(frozen=True)
class DemoSettings:
    """Where the demo is made and how its heatmaps are: the base explainer and device, and
    the conditions (display name, condition kind), the paper's by default."""

    work: Path
    explainer: ExplainerSpec = field(default_factory=ExplainerSpec)
    device: str = "auto"
    conditions: tuple[tuple[str, str], ...] = DEFAULT_CONDITIONS

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(method for _, method in self.conditions)


def conditions_named(methods: str) -> tuple[tuple[str, str], ...]:
    """``"swox,cwox-2s,placebo-cwox-2s"`` → (display name, kind) per condition: the paper's
    display names where it has one, ``Placebo (CWOX-2s)`` for a placebo, else the kind."""
    names = dict((method, name) for name, method in DEFAULT_CONDITIONS)
    chosen = []
    for method in (m.strip() for m in methods.split(",") if m.strip()):
        base = method.removeprefix(PLACEBO_PREFIX)
        name = names.get(method) or (
            f"Placebo ({names.get(base, base)})" if base != method else method
        )
        chosen.append((name, method))
    return tuple(chosen)


def pregenerate_stimuli(settings: DemoSettings, say: Say) -> tuple[Path, Path]:
    """Photographs → pairs → heatmaps; returns the main and the attention-check stimulus
    folders (each holds a manifest.json)."""
    work = settings.work
    photos, attention = work / "photos", work / "attention-photos"
    demo_photos.write_demo_photos(photos)
    demo_photos.write_attention_photos(attention)
    attention_tree = work / "attention-tree.json"
    demo_photos.attention_tree().save(attention_tree)
    shared = {
        "explainer": settings.explainer,
        "device": settings.device,
        "methods": settings.methods,
    }
    say("choosing confusing pairs with the embedded classifier and its latent tree")
    main = StimulusSettings(
        photos,
        rules=replace(STUDY_PAIR_RULES, per_pair=PER_PAIR),
        **shared,
    )
    stimuli = build_stimuli(main, work / "main", say)
    checks = len(demo_photos.ATTENTION_PAIRS)
    say("making the attention checks")
    attention_settings = StimulusSettings(
        attention,
        tree=attention_tree,
        rules=replace(STUDY_PAIR_RULES, per_pair=checks),
        roles=(("attention", checks),),
        **shared,
    )
    return stimuli, build_stimuli(attention_settings, work / "attention", say)


def create_demo_study(
    stimuli: Path, checks: Path, conditions: tuple[tuple[str, str], ...] = DEFAULT_CONDITIONS
) -> Study:
    """The open demo study built from the two stimulus folders, with ``conditions``."""
    with transaction.atomic():
        study = Study.objects.create(
            title="Matching heatmaps to labels (CWOX demo)",
            slug=SLUG,
            completion_code="CWOXDEMO",
            training_trials=TRAINING_ITEMS,
            test_trials=TEST_TRIALS,
            attention_check_positions=[ATTENTION_POSITION],
            max_failed_attention_checks=0,
            seed=2026,
            **TEXTS,
        )
        for position, (name, method) in enumerate(conditions):
            Condition.objects.create(study=study, name=name, method=method, position=position)
        for position, (slug, answer) in enumerate(DEFAULT_GROUPS):
            ParticipantGroup.objects.create(
                study=study, name=slug, slug=slug, question_label=answer, position=position
            )
        # Roles are given at import, to the first items that pass its quality gates.
        import_manifest(study, stimuli, training=TRAINING_ITEMS)
        import_manifest(study, checks)
        open_study(study)
    study.refresh_from_db()
    return study
