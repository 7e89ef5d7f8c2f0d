"""Images → confusing pairs → pregenerated heatmaps, through the engine's Python API.

:func:`build_stimuli` calls :func:`explain_engine.api.choose_pairs` and
:func:`explain_engine.api.pregenerate_stimuli` in this process with one typed
:class:`~explain_engine.stimulus_settings.StimulusSettings`; what they did comes back as
values (items computed, finished earlier, failed with the reason) and is reported through
``say``. Both engine steps resume, so running it again continues where it stopped. Bad
settings raise :class:`~explain_engine.errors.EngineInputError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from explain_engine.api import choose_pairs, pregenerate_stimuli, stimulus_classifier
from explain_engine.pregenerate import ItemProgress, PregenerationSummary
from explain_engine.stimulus_settings import StimulusSettings

Say = Callable[[str], None]
PAIRS = "pairs.json"
STIMULI = "stimuli"


def build_stimuli(settings: StimulusSettings, work: Path, say: Say) -> Path:
    """Choose the pairs (``work/pairs.json``) and pregenerate their heatmaps into
    ``work/stimuli``, which it returns (``manifest.json`` and its files)."""
    work.mkdir(parents=True, exist_ok=True)
    classifier = stimulus_classifier(settings)
    pairs = choose_pairs(settings, work / PAIRS, classifier=classifier)
    say(
        f"{len(pairs.selection.chosen)} pairs from {pairs.images} images; "
        f"{len(pairs.selection.unpaired)} without a pair"
    )
    say(f"pregenerating heatmaps with {settings.explainer.name} (finished items are kept)")
    summary = pregenerate_stimuli(
        settings, pairs.manifest, work / STIMULI, classifier=classifier, progress=failures(say)
    )
    say(summary_line(summary))
    return work / STIMULI


def failures(say: Say) -> Callable[[ItemProgress], None]:
    """A pregeneration progress callback that reports every failed item through ``say``."""

    def report(event: ItemProgress) -> None:
        if event.reason is not None:
            say(f"error: item {event.item_id}: {event.reason}")

    return report


def summary_line(summary: PregenerationSummary) -> str:
    """``"5 items computed, 2 finished earlier, 1 failed (fp32)"``."""
    return (
        f"{len(summary.computed)} items computed, {len(summary.resumed)} finished earlier, "
        f"{len(summary.failed)} failed ({summary.precision})"
    )
