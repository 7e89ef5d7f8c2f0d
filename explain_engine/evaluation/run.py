"""The resumable faithfulness run over an image folder (paper Section 5.1, Tables 1–3).

:func:`evaluate_folder` explains every image with each base explainer and every WOX method,
and scores the class maps of every confusing pair with CAUC and CDROP
(:mod:`explain_engine.metrics`):

- for each non-singleton confusion cluster C_i of an image and each class c_ij in it, the pair
  (target c_ij, foil C_i ∖ c_ij); every method's class map of c_ij is evaluated together in one
  :func:`~explain_engine.metrics.evaluate_many` call, so CAUC uses the minimum n_δ over the
  methods compared, as in the paper;
- an image with K = 1 or with singleton clusters only has no such pair: it is recorded as
  skipped with the reason.

Files in the output folder
--------------------------
``pairs.csv``
    one row per (image, explainer, method, pair), columns :data:`PAIR_COLUMNS`; ``foil`` is
    the foil's class indices separated by spaces; NaN scores (degenerate maps) are written
    ``nan``. Append-only.
``progress.jsonl``
    one JSON line per finished unit: ``{"image", "explainer", "status": "done", "pairs",
    "rows"}`` written after the image's rows for that explainer; ``{"image", "explainer":
    null, "status": "skipped", "reason"}`` for an image without a pair; ``{"image",
    "explainer": null, "status": "error", "reason"}`` for an unreadable image (retried on a
    rerun, so that a fixed file gets evaluated).
``settings.json``
    every option, model name, weights SHA-256, tree, seed, metric settings. A rerun into the
    same folder must use the same comparison settings (:data:`FIXED_SETTINGS`).

Resuming: a rerun skips every (image, explainer) marked done or skipped; rows of a unit that
was interrupted before its progress line (and a partly written last line of either file) are
removed first, so no row is ever duplicated.

:func:`explain_engine.evaluation.statistics.summarize` turns ``pairs.csv`` into the tables
(means with 95 % t-intervals over pairs, paired Wilcoxon signed-rank tests of CWOX-2s against
every other method) and :func:`explain_engine.evaluation.tables.write_tables` writes them as
Markdown, CSV and LaTeX.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import torch
from tqdm import tqdm

from explain_engine.documents import find_images
from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.files import write_atomically, write_json_atomically
from explain_engine.images import load_image
from explain_engine.metrics import MetricSettings, evaluate_many
from explain_engine.models import Classifier
from explain_engine.registry import method_names
from explain_engine.results import ImageExplanation
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree
from explain_engine.wox import WoxOptions, get_method

PAIR_COLUMNS: Final = (
    "image",
    "explainer",
    "method",
    "target",
    "foil",
    "n_delta",
    "cauc_pixels",
    "cauc",
    "cdrop",
    "degenerate",
)
PAIRS_FILE: Final = "pairs.csv"
PROGRESS_FILE: Final = "progress.jsonl"
SETTINGS_FILE: Final = "settings.json"
#: settings.json keys that must not change between runs into the same folder.
FIXED_SETTINGS: Final = (
    "model",
    "weights_sha256",
    "tree",
    "cluster_level",
    "top_k",
    "methods",
    "metric",
    "reference_options",
    "seed",
)


@dataclass
class EvaluationSummary:
    """What one :func:`evaluate_folder` call did (counts of this run only).

    Attributes:
        evaluated: (image, explainer) units evaluated in this run.
        resumed: units already finished by an earlier run.
        skipped: images without a non-singleton cluster, image → reason (this run).
        failed: unreadable images, image → error message.
        rows: rows appended to pairs.csv in this run.
    """

    evaluated: int = 0
    resumed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    rows: int = 0


def evaluate_folder(
    classifier: Classifier,
    folder: Path,
    out: Path,
    explainers: Sequence[BaseExplainer],
    *,
    methods: Sequence[str] | None = None,
    tree: LatentTree | None = None,
    cluster_level: int = 1,
    top_k: TopKRule | None = None,
    metric: MetricSettings | None = None,
    reference_options: bool = False,
    limit: int | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
    settings: dict[str, Any] | None = None,
    progress: bool = True,
) -> EvaluationSummary:
    """Evaluate the images under ``folder`` (sorted, the first ``limit``) into ``out``.

    ``sample`` instead evaluates a seeded random sample of that many images
    (:func:`sample_images`): a rerun draws the same images, and a larger sample with the same
    seed adds images to a smaller one, so an evaluation can be extended in the same folder.

    Args:
        classifier: the model explained and evaluated.
        explainers: base explainers (distinct names), e.g. ``[GradCAM(), RISE()]``.
        methods: WOX methods compared (all evaluated together per pair); None: every one.
        tree, cluster_level, top_k: how confusion clusters are formed (as for ``explain``).
        metric: CAUC/CDROP definition and parameters.
        reference_options: combine maps as the reference code does, per explainer.
        settings: extra provenance merged into settings.json (command-line options).

    Raises:
        EngineInputError: bad folder or methods, duplicate explainer names, or settings.json of
            an earlier run with different comparison settings.
    """
    metric = metric or MetricSettings()
    top_k = top_k or TopKRule()
    methods = tuple(method_names() if methods is None else methods)
    for name in methods:
        get_method(name)
    if not methods:
        raise EngineInputError("evaluate: no methods given (expected at least one)")
    names = [explainer.name for explainer in explainers]
    if not names or len(set(names)) != len(names):
        raise EngineInputError(f"evaluate explainers {names}: expected distinct, at least one")
    images = find_images(folder)[:limit]
    if sample is not None:
        images = sample_images(images, sample, sample_seed)
    out.mkdir(parents=True, exist_ok=True)
    _write_settings(
        out / SETTINGS_FILE,
        {
            **(settings or {}),
            "model": classifier.name,
            "weights": str(classifier.weights_file) if classifier.weights_file else None,
            "weights_sha256": classifier.weights_sha256,
            "tree": (settings or {}).get("tree", _tree_name(tree)),
            "cluster_level": cluster_level,
            "top_k": {"max_k": top_k.max_k, "cumulative": top_k.cumulative},
            "methods": list(methods),
            # the batch size changes no score, so a rerun may use another one
            "metric": {k: v for k, v in asdict(metric).items() if k != "batch_size"},
            "batch_size": metric.batch_size,
            "reference_options": reference_options,
            "seed": (settings or {}).get("seed"),
            "explainers": {e.name: e.parameters(classifier) for e in explainers},
            "torch": torch.__version__,
        },
    )
    done = _repair(out / PROGRESS_FILE, out / PAIRS_FILE)
    cluster_settings = ExplanationSettings(
        methods=methods, top_k=top_k, tree=tree, cluster_level=cluster_level
    )
    summary = EvaluationSummary()
    new_file = not (out / PAIRS_FILE).exists()
    with (
        open(out / PAIRS_FILE, "a", encoding="utf-8", newline="") as pairs_file,
        open(out / PROGRESS_FILE, "a", encoding="utf-8") as progress_file,
        tqdm(total=len(images), unit="image", desc="evaluate", disable=not progress) as bar,
    ):
        writer = csv.writer(pairs_file, lineterminator="\n")
        if new_file:
            writer.writerow(PAIR_COLUMNS)
            pairs_file.flush()

        def record(entry: dict) -> None:
            progress_file.write(json.dumps(entry) + "\n")
            progress_file.flush()

        for path in images:
            key = path.relative_to(folder).as_posix()
            pending = [
                e for e in explainers if (key, e.name) not in done and (key, None) not in done
            ]
            summary.resumed += len(explainers) - len(pending)
            if not pending:
                bar.update()
                continue
            try:
                image = load_image(path)
            except EngineInputError as error:
                tqdm.write(f"error: {error}", file=sys.stderr)
                summary.failed[key] = str(error)
                record({"image": key, "explainer": None, "status": "error", "reason": str(error)})
                bar.update()
                continue
            _, inputs = classifier.prepare([image])
            clusters = _clusters(classifier, inputs, cluster_settings)
            reason = _skip_reason(clusters)
            if reason:
                summary.skipped[key] = reason
                record({"image": key, "explainer": None, "status": "skipped", "reason": reason})
                bar.update()
                continue
            for explainer in pending:
                options = (
                    type(explainer).reference_wox_options if reference_options else WoxOptions()
                )
                explanation_settings = ExplanationSettings(
                    methods=methods,
                    top_k=top_k,
                    tree=tree,
                    cluster_level=cluster_level,
                    options=options,
                )
                [result] = explain_batch(classifier, [image], explainer, explanation_settings)
                rows = _pair_rows(
                    classifier, inputs[0], result, methods, metric, key, explainer.name
                )
                writer.writerows(rows)
                pairs_file.flush()
                record(
                    {
                        "image": key,
                        "explainer": explainer.name,
                        "status": "done",
                        "pairs": len(rows) // len(methods),
                        "rows": len(rows),
                    }
                )
                summary.evaluated += 1
                summary.rows += len(rows)
            bar.update()
    return summary


def sample_images(images: Sequence[Path], size: int, seed: int) -> list[Path]:
    """``size`` of ``images`` (all if fewer) in their given order: the first ``size`` of a
    permutation seeded by ``seed``, so a larger ``size`` keeps every image of a smaller one."""
    if size < 1:
        raise EngineInputError(f"evaluate sample size {size}: expected at least 1")
    order = list(range(len(images)))
    random.Random(seed).shuffle(order)
    return [images[i] for i in sorted(order[:size])]


def _clusters(
    classifier: Classifier, inputs: torch.Tensor, settings: ExplanationSettings
) -> list[tuple[int, ...]]:
    with torch.inference_mode():
        probabilities = classifier.model(inputs).float().softmax(dim=-1)[0].cpu()
    top, values = settings.select(probabilities)
    return [tuple(c) for c in settings.clusters(top, values)]


def _skip_reason(clusters: list[tuple[int, ...]]) -> str | None:
    top = sum(len(c) for c in clusters)
    if top == 1:
        return f"K = 1 (one top class: {clusters[0][0]})"
    if all(len(c) == 1 for c in clusters):
        return f"only singleton clusters (K = {top}: {[c[0] for c in clusters]})"
    return None


def _pair_rows(
    classifier: Classifier,
    inputs: torch.Tensor,
    result: ImageExplanation,
    methods: Sequence[str],
    metric: MetricSettings,
    key: str,
    explainer: str,
) -> list[list]:
    rows = []
    for cluster in result.clusters:
        if len(cluster) < 2:
            continue
        for target in cluster:
            foil = tuple(sorted(c for c in cluster if c != target))
            maps = [result.methods[m].class_map(target) for m in methods]
            scores = evaluate_many(classifier, inputs, maps, target, foil, metric)
            for method, score in zip(methods, scores, strict=True):
                rows.append(
                    [
                        key,
                        explainer,
                        method,
                        target,
                        " ".join(str(c) for c in foil),
                        score.n_delta,
                        score.cauc_pixels,
                        repr(score.cauc),
                        repr(score.cdrop),
                        score.degenerate,
                    ]
                )
    return rows


def _tree_name(tree: LatentTree | None) -> str | None:
    if tree is None:
        return None
    return str(tree.metadata.get("source") or tree.metadata.get("path") or "in-memory tree")


def _write_settings(path: Path, settings: dict[str, Any]) -> None:
    settings = json.loads(json.dumps(settings, default=str))
    if path.exists():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            earlier = None
        if isinstance(earlier, dict):
            changed = [k for k in FIXED_SETTINGS if k in earlier and earlier[k] != settings.get(k)]
            # an explainer may be added to a folder, but one already there keeps its parameters
            # (RISE maps of 2,000 and of 8,000 masks must not be pooled)
            before = earlier.get("explainers") or {}
            now = settings.get("explainers") or {}
            changed += [
                f"{name} parameters" for name in now if before.get(name, now[name]) != now[name]
            ]
            if changed:
                raise EngineInputError(
                    f"{path}: an earlier run used other {', '.join(changed)} (expected the same "
                    "settings to resume; use a new --out folder)"
                )
            settings["explainers"] = {**before, **now}
    write_json_atomically(path, settings)


def _complete_lines(path: Path) -> str:
    """The text of ``path`` up to its last newline; cuts a partly written last line."""
    if not path.exists():
        return ""
    raw = path.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1]
    if len(complete) != len(raw):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    return complete.decode("utf-8")


def _repair(progress: Path, pairs: Path) -> set[tuple[str, str | None]]:
    """Finished (image, explainer) units; drops rows of unfinished ones from ``pairs``."""
    done: set[tuple[str, str | None]] = set()
    for line in _complete_lines(progress).splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("status") in ("done", "skipped"):
                done.add((entry["image"], entry.get("explainer")))
    text = _complete_lines(pairs)
    if not text:
        return done
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    if tuple(header) != PAIR_COLUMNS:
        raise EngineInputError(f"{pairs}: columns {header} (expected {list(PAIR_COLUMNS)})")
    kept = [row for row in body if (row[0], row[1]) in done]
    if len(kept) != len(body):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *kept])
        payload = buffer.getvalue().encode("utf-8")
        write_atomically(pairs, lambda stream: stream.write(payload))
    return done
