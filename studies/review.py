"""The stimulus review: every item × condition of a study as participants will see it, with the
quality measures and flags of its maps, and the researcher's keep/drop decision per item (the
admin's "Review stimuli" page and ``manage.py stimulus_sheet`` show the same rows).

A decision is per item, not per condition: dropping an item removes it from every condition,
so that all arms are shown the same items (gates stay symmetric across conditions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models.fields.files import FieldFile
from django.http import QueryDict

from explain_engine.quality import MapQuality, PairQuality, QualityThresholds, grade
from studies.models import Condition, HeatmapSet, StimulusItem, Study

#: Measures shown under each map, in this order, with their labels and formats. A measure the
#: manifest does not carry is left out; values are those of :mod:`explain_engine.quality`.
MEASURES = (
    ("visible_area", "visible", "{:.1%}"),
    ("concentration", "top-5 % mass", "{:.0%}"),
    ("n_delta", "n_δ", "{:,.0f}"),
    ("border_peak", "peak on border", "{}"),
)
PAIR_MEASURES = (
    ("spearman", "a–b rank corr.", "{:.2f}"),
    ("ssim", "a–b SSIM", "{:.2f}"),
)


@dataclass(frozen=True)
class ReviewedMap:
    """One picture of a heatmap set: its file, what it shows and its formatted measures."""

    file: FieldFile
    caption: str
    measures: list[tuple[str, str]]


@dataclass(frozen=True)
class ReviewedCell:
    """What one condition shows for one item (``maps`` is empty when the set is missing)."""

    condition: Condition
    maps: list[ReviewedMap]
    pair_measures: list[tuple[str, str]]
    flags: list[str]


@dataclass(frozen=True)
class ReviewedItem:
    item: StimulusItem
    cells: list[ReviewedCell]
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def formatted(values: dict, measures: tuple[tuple[str, str, str], ...]) -> list[tuple[str, str]]:
    """(label, text) of each measure present in ``values``."""
    shown = []
    for key, label, template in measures:
        value = values.get(key) if isinstance(values, dict) else None
        if value is None:
            continue
        try:
            shown.append((label, template.format(value)))
        except (TypeError, ValueError):
            shown.append((label, str(value)))
    return shown


SLOT_NAMES = {"a": "class a", "b": "class b", "cluster": "cluster"}


def thresholds_of(study: Study) -> QualityThresholds:
    """The study's soft-flag thresholds as the engine's grading takes them."""
    similar = study.flag_pair_similarity_above
    return QualityThresholds(
        min_visible_area=study.flag_visible_area_below, max_spearman=similar, max_ssim=similar
    )


def _map_record(record: dict) -> MapQuality:
    """A stored map record as :class:`MapQuality`; measures the manifest did not carry count as
    passed (hard failures never reach the database: the importer rejects them)."""
    known = {"finite": True, "constant": False, "positive": True, "visible_area": None}
    known |= {"concentration": None, "n_delta": 0, "border_peak": False}
    return MapQuality(**{name: record.get(name, default) for name, default in known.items()})


def quality_flags(maps: HeatmapSet, thresholds: QualityThresholds) -> list[str]:
    """The soft flags of one heatmap set (:func:`explain_engine.quality.grade`), in words."""
    quality = maps.quality if isinstance(maps.quality, dict) else {}
    slots = [slot for slot in SLOT_NAMES if isinstance(quality.get(slot), dict)]
    pair = quality.get("pair")
    pair_quality = (
        PairQuality(pair.get("spearman"), pair.get("ssim")) if isinstance(pair, dict) else None
    )
    graded = grade([_map_record(quality[slot]) for slot in slots], pair_quality, thresholds)
    flags = []
    for flag in graded.soft:
        kind, _, position = flag.partition(":")
        if kind == "low-visibility":
            slot = slots[int(position)]
            area = quality[slot]["visible_area"]
            flags.append(
                f"{SLOT_NAMES[slot]} map shows {area:.1%} of the picture "
                f"(flagged below {thresholds.min_visible_area:.0%})"
            )
        else:
            flags.append(
                f"class maps a and b look alike (rank correlation {_number(pair, 'spearman')}, "
                f"SSIM {_number(pair, 'ssim')}; flagged from {thresholds.max_spearman:.2f})"
            )
    return flags


def _number(record: dict, key: str) -> str:
    value = record.get(key)
    return "–" if value is None else f"{value:.3f}"


def _cell(
    item: StimulusItem, condition: Condition, maps: HeatmapSet | None, thresholds: QualityThresholds
) -> ReviewedCell:
    if maps is None:
        return ReviewedCell(condition, [], [], [f"no {condition.method} heatmaps"])
    quality = maps.quality if isinstance(maps.quality, dict) else {}
    pictures = []
    if condition.shows_cluster_map:
        pictures.append(
            ReviewedMap(
                maps.cluster_map,
                "both classes together",
                formatted(quality.get("cluster", {}), MEASURES),
            )
        )
    for side in ("a", "b"):
        pictures.append(
            ReviewedMap(
                maps.map_of(side), item.class_name(side), formatted(quality.get(side, {}), MEASURES)
            )
        )
    return ReviewedCell(
        condition,
        pictures,
        formatted(quality.get("pair", {}), PAIR_MEASURES),
        quality_flags(maps, thresholds),
    )


def review_items(
    study: Study, *, method: str | None = None, flagged_only: bool = False
) -> list[ReviewedItem]:
    """Every item of ``study`` (by role, then key) with one cell per condition.

    ``method`` keeps only that condition's cells (and its flags); ``flagged_only`` keeps only
    items with a flag in a shown cell.
    """
    conditions = [c for c in study.conditions.all() if method in (None, c.method)]
    thresholds = thresholds_of(study)
    rows = []
    for item in study.items.prefetch_related("heatmap_sets").order_by("role", "key"):
        sets = {s.method: s for s in item.heatmap_sets.all()}
        cells = [_cell(item, c, sets.get(c.method), thresholds) for c in conditions]
        flags = [f"{cell.condition.name}: {flag}" for cell in cells for flag in cell.flags]
        if flagged_only and not flags:
            continue
        rows.append(ReviewedItem(item, cells, flags))
    return rows


def review_query(query: QueryDict) -> str:
    """The review page's own filters (``flagged``, ``method``) of ``query`` as ``?…`` (or "")."""
    kept = QueryDict(mutable=True)
    for key in ("flagged", "method"):
        if value := query.get(key):
            kept[key] = value
    return f"?{kept.urlencode()}" if kept else ""


def review_counts(study: Study) -> dict[str, int]:
    """How many items are kept, dropped and not yet reviewed."""
    counts = {choice: 0 for choice in StimulusItem.Review.values}
    for decision in study.items.values_list("review", flat=True):
        counts[decision] += 1
    return counts


@dataclass(frozen=True)
class Rejected:
    """An image or item that did not become a study item, and why."""

    manifest: str
    id: str
    stage: str
    reason: str


def rejected_images(study: Study) -> list[Rejected]:
    """What the study's imported manifests left out (no pair, failed generation or import)."""
    found = []
    for manifest in study.manifests.all():
        for entry in manifest.rejected if isinstance(manifest.rejected, list) else []:
            if isinstance(entry, dict):
                found.append(
                    Rejected(
                        manifest=manifest.source,
                        id=str(entry.get("id", "?")),
                        stage=str(entry.get("stage", "?")),
                        reason=str(entry.get("reason", "")),
                    )
                )
    return found


@dataclass(frozen=True)
class SanityRow:
    """One method's model-randomisation check in one imported manifest."""

    manifest: str
    method: str
    median: float | None
    maps: int
    flagged: bool


def sanity_rows(study: Study) -> list[SanityRow]:
    """The sanity checks the study's manifests carry (``sanity`` of the stimulus manifest)."""
    rows = []
    for manifest in study.manifests.all():
        document = manifest.document if isinstance(manifest.document, dict) else {}
        sanity = document.get("sanity") or {}
        for method, record in (sanity.get("methods") or {}).items():
            if isinstance(record, dict):
                rows.append(
                    SanityRow(
                        manifest=manifest.source,
                        method=str(method),
                        median=record.get("median_rank_correlation"),
                        maps=int(record.get("maps", 0)),
                        flagged=bool(record.get("flagged")),
                    )
                )
    return rows
