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

Say = Callable[[str], None]


class EngineJobError(RuntimeError):
    """An engine command refused its input (bad option, unreadable manifest, ...)."""


@dataclass(frozen=True)
class StimulusJob:
    """What to pregenerate: every image under ``images`` into ``work``.

    ``roles`` is the engine's ``--roles`` (e.g. ``"training=3"``), ``rise_masks`` its
    ``--rise-masks`` (e.g. ``"5000,3000"``); ``tree`` None uses the classifier's own tree.
    """

    images: Path
    work: Path
    methods: Sequence[str] = ("swox", "cwox-1sb", "cwox-2s")
    explainer: str = "gradcam"
    device: str = "auto"
    rise_masks: str | None = None
    tree: Path | None = None
    per_pair: int = 1
    floor: float = 0.05
    roles: str | None = None
    model: str | None = None
    batch_size: int | None = None

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
    from explain_engine.cli import main as engine  # torch loads on the first run, not on import

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


def pairs_arguments(job: StimulusJob, out: Path) -> list[str]:
    """``python -m explain_engine pairs`` arguments writing the pair manifest ``out``."""
    tree = ["--tree", str(job.tree)] if job.tree else []
    limits = ["--per-pair", str(job.per_pair), "--floor", str(job.floor)]
    return ["pairs", str(job.images), "--out", str(out), *limits, *tree, *_common(job)]


def pregenerate_arguments(
    job: StimulusJob, pairs: Path, out: Path, *, roles: bool = True
) -> list[str]:
    """``pregenerate`` arguments for the pair manifest ``pairs`` into the folder ``out``;
    ``roles`` passes the job's roles (only the final manifest of a chunked run needs them)."""
    arguments = ["pregenerate", str(pairs), "--out", str(out)]
    arguments += ["--explainer", job.explainer, "--methods", ",".join(job.methods)]
    arguments += _common(job)
    if job.rise_masks:
        arguments += ["--rise-masks", str(job.rise_masks)]
    if job.batch_size:
        arguments += ["--batch-size", str(job.batch_size)]
    if roles and job.roles:
        arguments += ["--roles", job.roles]
    return arguments


def _common(job: StimulusJob) -> list[str]:
    return ["--device", job.device] + (["--model", job.model] if job.model else [])


def build_stimuli(job: StimulusJob, say: Say) -> Path:
    """Choose the pairs and pregenerate the heatmaps of ``job``; returns the stimulus folder."""
    job.work.mkdir(parents=True, exist_ok=True)
    partial = job.tree is not None
    run_engine(pairs_arguments(job, job.pairs), say, partial_tree=partial)
    say(f"pregenerating heatmaps with {job.explainer} (finished items are kept)")
    run_engine(pregenerate_arguments(job, job.pairs, job.stimuli), say, partial_tree=partial)
    return job.stimuli
