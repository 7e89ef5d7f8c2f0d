"""Small studies for tests: a manifest folder written as the engine writes it, and an open
study built from it through the real importer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PIL import Image

from studies.lifecycle import open_study
from studies.models import Condition, ParticipantGroup, Study
from studies.models.study import DEFAULT_CONDITIONS
from studies.stimuli_import import import_manifest

METHODS = ("swox", "cwox-1sb", "cwox-2s")


def _png(path: Path, colour: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(
    folder: Path,
    *,
    training: int = 3,
    test: int = 6,
    attention: int = 2,
    methods: tuple[str, ...] = METHODS,
) -> Path:
    """A manifest folder with ``training``/``test``/``attention`` items (roles set)."""
    roles = ["training"] * training + ["test"] * test + ["attention"] * attention
    files, items = {}, []
    for number, role in enumerate(roles):
        key = f"item-{number:02d}"
        image = f"images/{key}.png"
        files[image] = _png(folder / image, (number * 9 % 256, 40, 90))
        heatmaps = {}
        for m, method in enumerate(methods):
            entry = {}
            for side, shade in (("a", 30), ("b", 200), ("cluster", 120)):
                if side == "cluster" and method != "cwox-2s":
                    continue
                path = f"heatmaps/{key}/{method}-{side}.png"
                files[path] = _png(folder / path, (shade, m * 50, number))
                entry[side] = path
            heatmaps[method] = entry
        items.append(
            {
                "id": key,
                "image": image,
                "role": role,
                "classes": [
                    {"index": 285, "name": f"Egyptian cat {number}", "probability": 0.38},
                    {"index": 282, "name": f"tiger cat {number}", "probability": 0.37},
                ],
                "cluster": {"node": "Z1_1", "classes": [281, 282, 285]},
                "heatmaps": heatmaps,
            }
        )
    manifest = {
        "format": "cwox-stimuli",
        "version": 1,
        "model": {"name": "efficientnet-lite0", "weights_sha256": "0" * 64},
        "explainer": {"name": "gradcam", "parameters": {}},
        "methods": list(methods),
        "seed": 0,
        "software": {"explain_engine": "test"},
        "items": items,
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def make_study(
    folder: Path,
    *,
    slug: str = "matching",
    training_trials: int = 2,
    test_trials: int = 4,
    attention_check_positions: tuple[int, ...] = (3,),
    groups: tuple[str, ...] = ("expert", "non-expert"),
    conditions: tuple[tuple[str, str], ...] = DEFAULT_CONDITIONS,
    opened: bool = True,
    seed: int = 7,
) -> Study:
    """An (open) study with the paper's conditions, two groups and imported stimuli."""
    study = Study.objects.create(
        title=f"Study {slug}",
        slug=slug,
        consent_text="You agree to take part.",
        instructions="Match each heatmap to its label.",
        debrief_text="Thanks.",
        completion_code="C0DE42",
        training_trials=training_trials,
        test_trials=test_trials,
        attention_check_positions=list(attention_check_positions),
        seed=seed,
    )
    for position, (name, method) in enumerate(conditions):
        Condition.objects.create(study=study, name=name, method=method, position=position)
    for position, name in enumerate(groups):
        ParticipantGroup.objects.create(
            study=study, name=name, slug=name, question_label=f"I am {name}", position=position
        )
    methods = tuple(method for _, method in conditions)
    manifest = write_manifest(
        folder / f"manifest-{slug}",
        training=training_trials + 1,
        test=test_trials + 2,
        attention=len(attention_check_positions) + 1,
        methods=methods,
    )
    import_manifest(study, manifest)
    if opened:
        open_study(study)
        study.refresh_from_db()
    return study
