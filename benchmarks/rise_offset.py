"""RISE's map-wide offset and the contrast equations: raw, centred and min–max base maps.

Usage: ``.venv/bin/python benchmarks/rise_offset.py [--images 16] [--rise-masks 500,300]
[--out /tmp/rise-offset]``

On a seeded sample of ``../shared/data/imagenet-sample`` (images whose top classes form at least
one confusion cluster of two or more classes under the embedded tree, as in the faithfulness
evaluation), the embedded EfficientNet-Lite0 is explained with RISE and the paper's equations in
three variants that differ only in the base maps:

- ``raw``: ``RiseStages(offset="raw")``, the paper's maps E[P | pixel kept];
- ``centred``: ``RiseStages(offset="centred")``, minus the mean score over the masks;
- ``min-max``: raw maps min–max normalised before the contrasts
  (``WoxOptions(normalize_base_maps=True)``, the reference code's fix).

The min–max variant reuses the raw masked pass (same base maps, other combination), so each
image costs two RISE passes. Per variant: visible area of every CWOX-2s map (cluster map of the
pair's cluster and class maps) under the default rendering and under ``max-linear``, the share
of blank CWOX-2s maps (no positive value), n_δ (δ = 0.5), and CAUC/CDROP (paper definitions,
step 16) of the CWOX-2s class maps for every pair (c_ij, C_i ∖ c_ij) of a non-singleton cluster,
the three variants compared over their minimum n_δ (``evaluate_many``). SWOX and CWOX-1sB visible
areas are printed too. Results are appended per image to ``OUT/rows.jsonl`` (a rerun skips the
images already there), and the summary is printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from explain_engine.evaluation import sample_images
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer, Plan, SaliencyMaps
from explain_engine.explainers.rise import RISE, RiseSettings, RiseStages
from explain_engine.images import load_image
from explain_engine.intervals import t_interval
from explain_engine.metrics import MetricSettings, count_salient, evaluate_many
from explain_engine.models import Classifier, load_classifier
from explain_engine.quality import visible_area
from explain_engine.render import MAX_LINEAR, RENDERING, image_to_pil, overlay
from explain_engine.runtime import tune_cpu_allocator
from explain_engine.tree import LatentTree
from explain_engine.wox import WoxOptions

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"
TREE = Path(__file__).resolve().parents[1] / "explain_engine/data/efficientnet-lite0-tree.json"
METHODS = ("swox", "cwox-1sb", "cwox-2s")
VARIANTS = ("raw", "centred", "min-max")


@dataclass
class Replay(BaseExplainer):
    """Gives back the logits and maps of the last run of ``inner`` (same inputs, same plan)."""

    inner: BaseExplainer
    name: str = "rise"
    last: tuple[torch.Tensor, SaliencyMaps] | None = None

    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        if self.last is None:
            self.last = self.inner.run(classifier, inputs, plan)
        else:
            plan(self.last[0])
        return self.last

    def parameters(self, classifier: Classifier) -> dict:
        return self.inner.parameters(classifier)


def has_pairs(classifier: Classifier, settings: ExplanationSettings, path: Path) -> bool:
    """Whether the image's top classes form a confusion cluster of two or more classes."""
    _, inputs = classifier.prepare([load_image(path)])
    with torch.inference_mode():
        probabilities = classifier.model(inputs).softmax(dim=-1)[0]
    top, values = settings.select(probabilities)
    return any(len(c) > 1 for c in settings.clusters(top, values))


def measure_image(
    classifier: Classifier, path: Path, masks: tuple[int, int], tree: LatentTree
) -> dict:
    """Every variant's measures for one image (module docstring)."""
    stage1 = RiseSettings(num_masks=masks[0], grid=15, keep_probability=0.3)
    stage2 = RiseSettings(num_masks=masks[1], grid=10, keep_probability=0.14)
    image = load_image(path)
    raw = Replay(RISE(RiseStages(stage1, stage2, offset="raw")))
    variants = {
        "raw": (raw, WoxOptions()),
        "min-max": (raw, WoxOptions(normalize_base_maps=True)),
        "centred": (RISE(RiseStages(stage1, stage2, offset="centred")), WoxOptions()),
    }
    results = {
        name: explain_batch(
            classifier, [image], explainer, ExplanationSettings(METHODS, tree=tree, options=opts)
        )[0]
        for name, (explainer, opts) in variants.items()
    }
    any_result = results["raw"]
    photo = np.asarray(image_to_pil(any_result.input_image))
    row: dict = {"image": path.name, "variants": {}}
    for name, result in results.items():
        entry: dict = {}
        for method in METHODS:
            for h in result.methods[method].maps:
                label = "cluster" if h.kind == "cluster" else "class"
                for rendering in (RENDERING, MAX_LINEAR):
                    picture = np.asarray(overlay(any_result.input_image, h.values, rendering))
                    entry.setdefault(f"{method}/{label}/{rendering.name}", []).append(
                        visible_area(picture, photo)
                    )
                if method == "cwox-2s":
                    entry.setdefault(f"{label}/blank", []).append(bool(h.values.max() <= 0))
                    entry.setdefault(f"{label}/n_delta", []).append(count_salient(h.values, 0.5))
        row["variants"][name] = entry
    _, inputs = classifier.prepare([image])
    scores: dict[str, dict[str, list[float]]] = {v: {"cauc": [], "cdrop": []} for v in VARIANTS}
    for cluster in any_result.clusters:
        if len(cluster) < 2:
            continue
        for target in cluster:
            foil = [c for c in cluster if c != target]
            maps = [results[v].methods["cwox-2s"].class_map(target) for v in VARIANTS]
            evaluations = evaluate_many(classifier, inputs, maps, target, foil, MetricSettings())
            for variant, evaluation in zip(VARIANTS, evaluations, strict=True):
                scores[variant]["cauc"].append(evaluation.cauc)
                scores[variant]["cdrop"].append(evaluation.cdrop)
    for variant in VARIANTS:
        row["variants"][variant].update(scores[variant])
    return row


def _values(rows: list[dict], variant: str, key: str) -> np.ndarray:
    """Every value of ``key`` of ``variant`` over the rows, as one float array."""
    return np.array([v for r in rows for v in r["variants"][variant].get(key, [])], float)


def summary(rows: list[dict]) -> str:
    """A Markdown table, one line per variant."""
    lines = [
        "| base maps | CWOX-2s class: visible (mean / <2 %) | max-linear | cluster visible | "
        "blank class / cluster | n_δ class (median) | CAUC ↓ | CDROP ↑ | SWOX vis | 1sB vis |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        values = functools.partial(_values, rows, variant)
        cls = values(f"cwox-2s/class/{RENDERING.name}")
        old = values(f"cwox-2s/class/{MAX_LINEAR.name}")
        cluster = values(f"cwox-2s/cluster/{RENDERING.name}")
        cauc, cdrop = values("cauc"), values("cdrop")
        lines.append(
            f"| {variant} | {cls.mean():.1%} / {(cls < 0.02).mean():.0%} | {old.mean():.1%} | "
            f"{cluster.mean():.1%} | {values('class/blank').mean():.0%} / "
            f"{values('cluster/blank').mean():.0%} | {np.median(values('class/n_delta')):.0f} | "
            f"{np.nanmean(cauc):.4f} (n={int(np.isfinite(cauc).sum())}) | "
            f"{np.nanmean(cdrop):.4f} | {values(f'swox/class/{RENDERING.name}').mean():.1%} | "
            f"{values(f'cwox-1sb/class/{RENDERING.name}').mean():.1%} |"
        )
    lines.append("")
    for metric in ("cauc", "cdrop"):
        centred, minmax = _values(rows, "centred", metric), _values(rows, "min-max", metric)
        interval = t_interval(centred - minmax)
        lines.append(f"{metric} centred − min-max, paired over the same pairs: {interval.cell()}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--rise-masks", default="500,300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/rise-offset"))
    args = parser.parse_args()
    if not SAMPLE.is_dir():
        raise SystemExit(f"the ImageNet sample is not at {SAMPLE} (see ../shared/data/README.md)")
    tune_cpu_allocator()
    masks = tuple(int(n) for n in args.rise_masks.split(","))
    classifier = load_classifier("efficientnet-lite0", device="cpu")
    tree = LatentTree.load(TREE)
    settings = ExplanationSettings(METHODS, tree=tree)
    candidates = sample_images(sorted(SAMPLE.glob("*.JPEG")), 4 * args.images, args.seed)
    chosen = [p for p in candidates if has_pairs(classifier, settings, p)][: args.images]
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    lines = rows_path.read_text().splitlines() if rows_path.exists() else []
    done = [json.loads(line) for line in lines]
    seen = {row["image"] for row in done}
    with rows_path.open("a") as stream:
        for path in tqdm([p for p in chosen if p.name not in seen], desc="RISE offsets"):
            row = measure_image(classifier, path, masks, tree)
            stream.write(json.dumps(row) + "\n")
            stream.flush()
            done.append(row)
    print(f"{len(done)} images, RISE {masks[0]}+{masks[1]} masks, seed {args.seed}")
    print(summary([r for r in done if r["image"] in {p.name for p in chosen}]))


if __name__ == "__main__":
    main()
