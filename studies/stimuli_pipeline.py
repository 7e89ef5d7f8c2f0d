"""Images → confusing pairs → pregenerated heatmaps, through the engine's command line.

The study server drives the engine the way a researcher would (``python -m explain_engine
pairs`` then ``pregenerate``), in-process; both engine steps resume, so running a job again
continues where it stopped.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from explain_engine.cli import main as engine

Say = Callable[[str], None]


class EngineJobError(RuntimeError):
    """An engine command refused its input (bad option, unreadable manifest, ...)."""


@dataclass(frozen=True)
class StimulusJob:
    """What to pregenerate: every image under ``images`` into ``work``.

    ``roles`` is the engine's ``--roles`` (e.g. ``"training=3"``); ``tree`` None uses the
    classifier's own latent tree.
    """

    images: Path
    work: Path
    methods: Sequence[str] = ("swox", "cwox-1sb", "cwox-2s")
    explainer: str = "gradcam"
    device: str = "auto"
    rise_masks: int | None = None
    tree: Path | None = None
    per_pair: int = 1
    floor: float = 0.05
    roles: str | None = None
    model: str | None = None

    @property
    def pairs(self) -> Path:
        return self.work / "pairs.json"

    @property
    def stimuli(self) -> Path:
        """The stimulus folder (``manifest.json`` and its files)."""
        return self.work / "stimuli"


def run_engine(arguments: list[str], say: Say, *, partial_tree: bool = False) -> None:
    """Run ``python -m explain_engine ARGUMENTS`` in this process and report its summary line.

    Exit status 1 (some images skipped, listed in the output files) is not an error; status 2
    raises :class:`EngineJobError`. With ``partial_tree``, warnings about classes missing from
    the tree are silenced (a small tree made for a few classes on purpose).
    """
    captured = io.StringIO()
    with redirect_stdout(captured), warnings.catch_warnings():
        if partial_tree:
            warnings.filterwarnings("ignore", message=r"class \d+ is not in the latent tree")
        status = engine(arguments)
    output = captured.getvalue().strip()
    if status not in (0, 1):
        raise EngineJobError(f"python -m explain_engine {' '.join(arguments)} failed:\n{output}")
    if output:
        say(output.splitlines()[-1])


def build_stimuli(job: StimulusJob, say: Say) -> Path:
    """Choose the pairs and pregenerate the heatmaps of ``job``; returns the stimulus folder."""
    job.work.mkdir(parents=True, exist_ok=True)
    common = ["--device", job.device] + (["--model", job.model] if job.model else [])
    tree = ["--tree", str(job.tree)] if job.tree else []
    run_engine(
        ["pairs", str(job.images), "--out", str(job.pairs)]
        + ["--per-pair", str(job.per_pair), "--floor", str(job.floor)]
        + tree
        + common,
        say,
        partial_tree=job.tree is not None,
    )
    arguments = ["pregenerate", str(job.pairs), "--out", str(job.stimuli)]
    arguments += ["--explainer", job.explainer, "--methods", ",".join(job.methods)] + common
    if job.rise_masks:
        arguments += ["--rise-masks", str(job.rise_masks)]
    if job.roles:
        arguments += ["--roles", job.roles]
    say(f"pregenerating heatmaps with {job.explainer} (finished items are kept)")
    run_engine(arguments, say, partial_tree=job.tree is not None)
    return job.stimuli
