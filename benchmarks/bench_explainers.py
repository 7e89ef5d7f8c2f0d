"""Base-explainer benchmark: seconds per image of Grad-CAM, RISE, MWP and LIME, same process.

Usage: ``.venv/bin/python benchmarks/bench_explainers.py [--images 2] [--threads 2]
[--rise-masks 256,128] [--lime-samples 2000] [--device cpu] [--explainers gradcam,mwp]``

Each explainer explains the same photographs (scikit-image's chelsea and rocket, matplotlib's
grace_hopper, in that order) with all four WOX methods, one image per call, on the embedded
EfficientNet-Lite0 with its latent tree, after one warm-up image (RISE and LIME warm up with
a few masks or samples: the warm-up is about the allocator and the threads, not the count).
RISE uses small mask counts by default (the reference's are 5000,3000); LIME uses the
reference's 2000 samples and quickshift(4, 10, 1); MWP and Grad-CAM the classifier's pivots.
The last line is ``gradcam_s=<x> mwp_s=<y> …`` in registry order (wall seconds per image;
each row also gives the process's CPU seconds per image).
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image

from explain_engine.demo_photos import bundled_photo
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer
from explain_engine.models import Classifier, load_classifier
from explain_engine.registry import explainer_names
from explain_engine.runtime import tune_cpu_allocator
from explain_engine.settings import ExplainerSpec, field_paths
from explain_engine.tree import LatentTree

PHOTOS = (("skimage", "chelsea.png"), ("skimage", "rocket.jpg"), ("matplotlib", "grace_hopper.jpg"))


def explainer_pair(name: str, rise_masks: tuple[int, int], lime_samples: int) -> tuple:
    """(measured, warm-up) explainers of registered ``name``: default settings with the given
    mask counts (explainers with masks) or sample count (with ``num_samples``); the warm-up
    one with 32 of each."""
    spec = ExplainerSpec(name)
    if spec.has_mask_counts():
        return spec.with_mask_counts(*rise_masks).build(), spec.with_mask_counts(32, 32).build()
    if samples := field_paths(spec.settings, "num_samples"):
        measured = spec.with_overrides({path: lime_samples for path in samples})
        warm_up = spec.with_overrides({path: 32 for path in samples})
        return measured.build(), warm_up.build()
    return spec.build(), spec.build()


def seconds_per_image(
    classifier: Classifier,
    images: list[Image.Image],
    explainer: BaseExplainer,
    warm_up: BaseExplainer,
    settings: ExplanationSettings,
) -> tuple[float, float]:
    """(wall, process CPU) seconds of explaining one image with every method, after one
    warm-up image. On a shared machine the CPU time is the steadier of the two."""
    explain_batch(classifier, images[:1], warm_up, settings)
    wall, cpu = time.perf_counter(), time.process_time()
    for image in images:
        explain_batch(classifier, [image], explainer, settings)
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()
    count = len(images)
    return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, choices=range(1, len(PHOTOS) + 1))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rise-masks", default="256,128", help="stage 1,stage 2 masks")
    parser.add_argument("--lime-samples", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--explainers", default=",".join(explainer_names()), help="which, in order")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    classifier = load_classifier(device=args.device)
    tree = LatentTree.load(classifier.default_tree) if classifier.default_tree else None
    settings = ExplanationSettings(tree=tree)  # all four methods, K = min(5, Cum(0.95))
    images = [Image.open(bundled_photo(*photo)).convert("RGB") for photo in PHOTOS]
    images = images[: args.images]
    stage1_masks, stage2_masks = (int(x) for x in args.rise_masks.split(","))
    explainers = {
        name: explainer_pair(name, (stage1_masks, stage2_masks), args.lime_samples)
        for name in explainer_names()
    }
    print(
        f"device={classifier.device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"images={len(images)} rise_masks={stage1_masks},{stage2_masks} "
        f"lime_samples={args.lime_samples}"
    )
    chosen = args.explainers.split(",")
    if unknown := sorted(set(chosen) - set(explainers)):
        parser.error(f"--explainers: unknown {unknown} (expected some of {sorted(explainers)})")
    timings: dict[str, float] = {}
    for name in chosen:
        explainer, warm_up = explainers[name]
        timings[name], cpu = seconds_per_image(classifier, images, explainer, warm_up, settings)
        print(
            f"{name:<8} {timings[name]:9.3f} s/image (CPU {cpu:8.3f} s/image)   "
            f"{explainer.parameters(classifier)}"
        )
    print(" ".join(f"{name}_s={seconds:.3f}" for name, seconds in timings.items()))


if __name__ == "__main__":
    main()
