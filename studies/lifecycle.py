"""Opening and closing a study. Opening checks that every participant can be given a full
session and freezes the stimuli (a snapshot of items, file hashes and the researcher's review
decisions is kept on the study). Flagged items nobody has reviewed do not stop a study from
opening, but the researcher must confirm opening with them (:func:`unreviewed_flagged`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studies.models import StimulusItem, Study
from studies.randomization import Pools
from studies.review import quality_flags, thresholds_of

DROP = StimulusItem.Review.DROP


def problems_opening(study: Study) -> list[str]:
    """Why ``study`` cannot open yet (empty when it can)."""
    problems = []
    conditions = list(study.conditions.all())
    if not conditions:
        problems.append("add at least one condition")
    if not study.groups.exists():
        problems.append("add at least one participant group")
    problems += Pools.of(study).shortfalls(study)
    for item in study.items.exclude(review=DROP).prefetch_related("heatmap_sets"):
        sets = {s.method: s for s in item.heatmap_sets.all()}
        for condition in conditions:
            found = sets.get(condition.method)
            if found is None:
                problems.append(f"item {item.key} has no {condition.method} heatmaps")
            elif condition.shows_cluster_map and not found.cluster_map:
                problems.append(f"item {item.key} has no cluster map for {condition.method}")
    return problems


def unreviewed_flagged(study: Study) -> list[StimulusItem]:
    """Items still offered to participants whose maps, in a condition of the study, carry a soft
    quality flag that the researcher has not decided on (neither kept nor dropped)."""
    methods = set(study.conditions.values_list("method", flat=True))
    thresholds = thresholds_of(study)
    undecided = study.items.filter(review=StimulusItem.Review.UNDECIDED)
    return [
        item
        for item in undecided.prefetch_related("heatmap_sets").order_by("key")
        if any(quality_flags(s, thresholds) for s in item.heatmap_sets.all() if s.method in methods)
    ]


def freeze_snapshot(study: Study) -> dict:
    """The stimuli as they are when the study opens: items, classes, methods, file hashes,
    quality flags and review decisions."""
    thresholds = thresholds_of(study)
    items = []
    for item in study.items.prefetch_related("heatmap_sets").order_by("key"):
        items.append(
            {
                "key": item.key,
                "role": item.role,
                "review": item.review,
                "classes": [item.class_a_name, item.class_b_name],
                "image": {"file": item.image.name, "sha256": item.image_sha256},
                "manifest": item.manifest_id,
                "heatmaps": {
                    s.method: {
                        "files": [s.map_a.name, s.map_b.name, s.cluster_map.name or None],
                        "sha256": s.hashes,
                        "flags": quality_flags(s, thresholds),
                    }
                    for s in item.heatmap_sets.all()
                },
            }
        )
    manifests = [
        {"id": m.pk, "sha256": m.sha256, "model": m.model, "explainer": m.explainer}
        for m in study.manifests.all()
    ]
    return {"frozen_at": timezone.now().isoformat(), "manifests": manifests, "items": items}


def open_study(study: Study) -> None:
    """Open ``study`` to participants; raises ValidationError listing what is missing."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status == Study.Status.OPEN:
            return
        if study.is_draft or study.frozen_manifest is None:
            if problems := problems_opening(study):
                raise ValidationError(f"“{study}” cannot open yet: " + "; ".join(problems) + ".")
            study.frozen_manifest = freeze_snapshot(study)
        study.status = Study.Status.OPEN
        study.opened_at = study.opened_at or timezone.now()
        study.closed_at = None
        study.save(update_fields=["status", "frozen_manifest", "opened_at", "closed_at"])


def close_study(study: Study) -> None:
    """Stop an open study: links and participant pages answer that it is closed."""
    if study.is_draft:
        raise ValidationError(f"“{study}” is a draft: only an open study can be closed.")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED, closed_at=timezone.now())


def reopen_as_draft(study: Study) -> None:
    """Back to draft so the stimuli can change; only while nobody has taken part."""
    if study.participants.exists():
        raise ValidationError(
            f"“{study}” has participants: its stimuli stay frozen. Copy the study instead."
        )
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT, frozen_manifest=None)
