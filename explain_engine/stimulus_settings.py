"""How a folder of images becomes study stimuli: one typed settings value for both steps.

:class:`StimulusSettings` says everything that choosing the confusing pairs
(:func:`explain_engine.api.choose_pairs`) and pregenerating their heatmaps
(:func:`explain_engine.api.pregenerate_stimuli`) need. The command line, the study server's
management commands and its background jobs all build one; a job stores it as JSON
(:func:`explain_engine.settings.to_json`) and checks it again when a worker loads it
(:meth:`StimulusSettings.from_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explain_engine.errors import EngineInputError
from explain_engine.models import EMBEDDED_MODEL
from explain_engine.pairs import STUDY_PAIR_RULES, PairRules
from explain_engine.placebo import split_methods
from explain_engine.pregenerate import PRECISIONS, ROLES, STUDY_METHODS
from explain_engine.settings import ExplainerSpec, from_json, to_json
from explain_engine.targets import TopKRule


@dataclass(frozen=True)
class StimulusSettings:
    """Pairs and heatmaps of the images under ``images``.

    Attributes:
        images: folder of images (searched recursively).
        methods: WOX methods whose heatmaps are made (registered names), and placebo arms
            (``placebo-<method>``: :mod:`explain_engine.placebo`).
        explainer: the base explainer and its settings.
        reference_options: combine maps as the reference code does for that explainer.
        model / weights / device: the classifier (:func:`explain_engine.api.load_classifier`).
        tree: latent tree file; None: the classifier's own.
        rules: which pairs qualify (floor, per-pair quota, ground truth required, limit, seed,
            cluster level, leading cluster only); default :data:`STUDY_PAIR_RULES`.
        labels: ground truth of the images: ``"folder"`` (the folder names) or a CSV file
            (:func:`explain_engine.pairs.read_labels`); None: unknown.
        top_k: how many top classes an image has.
        batch_size: images per explanation batch; None: 8.
        precision: ``"fp32"`` or ``"mixed"`` (CUDA only).
        roles: (role, count): the first items get these roles, the rest ``test``; empty: none.
        seed: recorded in the stimulus manifest.
    """

    images: Path
    methods: tuple[str, ...] = STUDY_METHODS
    explainer: ExplainerSpec = field(default_factory=ExplainerSpec)
    reference_options: bool = False
    model: str = EMBEDDED_MODEL
    weights: Path | None = None
    device: str = "auto"
    tree: Path | None = None
    rules: PairRules = STUDY_PAIR_RULES
    labels: str | None = None
    top_k: TopKRule = field(default_factory=TopKRule)
    batch_size: int | None = None
    precision: str = "fp32"
    roles: tuple[tuple[str, int], ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.methods:
            raise EngineInputError("methods: expected at least one WOX method")
        split_methods(self.methods)
        if self.precision not in PRECISIONS:
            raise EngineInputError(
                f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}"
            )
        if self.rules.require_truth and not self.labels:
            raise EngineInputError(
                "ground truth required: give the labels ('folder' or a CSV file)"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise EngineInputError(f"batch size {self.batch_size}: expected at least 1")
        for role, count in self.roles:
            if role not in ROLES or count < 0:
                raise EngineInputError(
                    f"role {role}={count}: expected one of {', '.join(ROLES)} and a count >= 0"
                )

    def to_json(self) -> dict[str, Any]:
        """JSON values (see :func:`explain_engine.settings.to_json`)."""
        return to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> StimulusSettings:
        """Rebuilt and checked from :meth:`to_json` output (EngineInputError naming a field)."""
        return from_json(cls, data, "stimulus settings")
