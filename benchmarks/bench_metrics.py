"""Metric benchmark: batched CAUC/CDROP vs a step-by-step loop (batch size 1), same process.

Usage: ``.venv/bin/python benchmarks/bench_metrics.py [--step 64] [--batch-size 64]
[--images chelsea.png,rocket.jpg,coffee.png] [--definition paper]``

Real CWOX-2s Grad-CAM heatmaps of the embedded EfficientNet-Lite0 (with its latent tree, K = 5)
for scikit-image's sample photographs; every map with a non-empty foil (class maps within a
cluster, cluster maps against the other clusters) is evaluated on its own (target, foil) pair.

Then the comparison the ``evaluate`` harness makes: the four methods' class maps of every
confusing pair scored together (CAUC over their minimum n_δ). It prints the deleted images
classified (only the curve points the scores use) against those of every map's whole curve to
its own n_δ, which is what a per-map evaluation costs.
The last line is ``batched_hps=<x> loop_hps=<y> ratio=<z>`` (heatmaps per second).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import skimage
import torch

from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers import GradCAM
from explain_engine.images import load_image
from explain_engine.metrics import (
    MetricSettings,
    count_salient,
    curve_deletions,
    evaluate,
    evaluate_many,
)
from explain_engine.models import load_classifier
from explain_engine.registry import method_names
from explain_engine.runtime import tune_cpu_allocator
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--images", default="chelsea.png,rocket.jpg,coffee.png")
    parser.add_argument("--definition", default="paper", choices=["paper", "reference"])
    args = parser.parse_args()

    tune_cpu_allocator()
    torch.manual_seed(0)
    classifier = load_classifier()
    tree = LatentTree.load(classifier.default_tree) if classifier.default_tree else None
    folder = Path(skimage.data.__file__).parent
    images = [load_image(folder / name) for name in args.images.split(",")]
    settings = ExplanationSettings(methods=["cwox-2s"], tree=tree, top_k=TopKRule(5, None))
    explanations = explain_batch(classifier, images, GradCAM(), settings)

    jobs = []
    for explanation in explanations:
        inputs = classifier.preprocessing.normalize(explanation.input_image)
        for heatmap in explanation.methods["cwox-2s"].maps:
            if heatmap.foil:
                jobs.append((inputs, heatmap))
    print(f"device={classifier.device} images={len(images)} heatmaps={len(jobs)}")

    def run(batch_size: int) -> tuple[float, list]:
        metric = MetricSettings(definition=args.definition, step=args.step, batch_size=batch_size)
        start = time.perf_counter()
        results = [
            evaluate(classifier, inputs, heatmap, heatmap.target, heatmap.foil, metric)
            for inputs, heatmap in jobs
        ]
        return time.perf_counter() - start, results

    run(args.batch_size)  # warm-up (allocator, kernels)
    batched_s, batched = run(args.batch_size)
    loop_s, looped = run(1)
    for (_, heatmap), a, b in zip(jobs, batched, looped, strict=True):
        same = torch.allclose(a.curve, b.curve, atol=1e-5)
        print(
            f"{heatmap.kind:7s} target={list(heatmap.target)} foil={list(heatmap.foil)} "
            f"n_delta={a.n_delta} points={len(a.curve)} cauc={a.cauc:.5f} "
            f"cdrop={a.cdrop:.5f} loop_equal={same}"
        )
    points = sum(len(r.curve) for r in batched)
    batched_hps = len(jobs) / batched_s
    loop_hps = len(jobs) / loop_s
    print(
        f"deleted images={points} batched={batched_s:.2f}s loop={loop_s:.2f}s "
        f"(step={args.step}, batch_size={args.batch_size}, threads={torch.get_num_threads()})"
    )
    compare_methods(
        classifier,
        images,
        tree,
        MetricSettings(definition=args.definition, step=args.step, batch_size=args.batch_size),
    )
    ratio = batched_hps / loop_hps if loop_hps > 0 else math.nan
    print(f"batched_hps={batched_hps:.3f} loop_hps={loop_hps:.3f} ratio={ratio:.2f}")


def compare_methods(classifier, images, tree, metric: MetricSettings) -> None:
    """Score the four methods' class maps of every confusing pair together; print the work."""
    settings = ExplanationSettings(methods=method_names(), tree=tree, top_k=TopKRule(5, None))
    explanations = explain_batch(classifier, images, GradCAM(), settings)
    pairs = used = whole = 0
    start = time.perf_counter()
    for explanation in explanations:
        inputs = classifier.preprocessing.normalize(explanation.input_image)
        for cluster in explanation.clusters:
            for target in cluster if len(cluster) > 1 else ():
                foil = [c for c in cluster if c != target]
                maps = [explanation.methods[m].class_map(target) for m in method_names()]
                results = evaluate_many(classifier, inputs, maps, target, foil, metric)
                pairs += 1
                used += sum(len(r.curve) for r in results)
                whole += sum(
                    len(
                        curve_deletions(
                            count_salient(h.values, metric.delta, metric.definition), metric
                        )
                    )
                    for h in maps
                )
    seconds = time.perf_counter() - start
    print(
        f"four methods compared on {pairs} pairs: {used} deleted images classified in "
        f"{seconds:.2f}s; every map's whole curve would be {whole} "
        f"({whole / max(used, 1):.1f}x as many)"
    )


if __name__ == "__main__":
    main()
