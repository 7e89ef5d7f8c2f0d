"""Stimulus pregeneration benchmark: items per second, batch size 1 vs batched, same process.

Usage: ``.venv/bin/python benchmarks/bench_pregenerate.py [--items 8] [--batch-size 8]
[--rise-masks 1000,1000] [--rise-items 8] [--devices cpu,cuda]``

What is timed: :func:`explain_engine.pregenerate.pregenerate` end to end (load the image,
explain it with SWOX + CWOX-1sB + CWOX-2s, write the crop and 7 PNG overlays, hash them, write
the done marker and the manifest) for the items of one pair manifest, into a fresh folder each
time, on the embedded EfficientNet-Lite0 with its latent tree. Items are crops of the
scikit-image photographs whose top classes form a confusing pair (chelsea: tiger cat / tabby;
rocket: missile / projectile), chosen by :func:`explain_engine.pairs.select_pairs`.

For each device (the CPU, and CUDA when present) and each base explainer (Grad-CAM; RISE with
``--rise-masks``), the same items are pregenerated at batch size 1 and at ``--batch-size``,
after one warm-up run of each; on CUDA also with ``--precision mixed``. The last line prints the
throughputs (items/s) and the batching speed-ups.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import skimage
import torch
from PIL import Image

from explain_engine.explainers.base import BaseExplainer
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.models import EMBEDDED_TREE, load_classifier
from explain_engine.pairs import (
    PairManifest,
    PairRules,
    classify_images,
    read_pair_manifest,
    select_pairs,
    write_pair_manifest,
)
from explain_engine.pregenerate import pregenerate
from explain_engine.runtime import tune_cpu_allocator
from explain_engine.settings import ExplainerSpec, parse_mask_counts
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree

PHOTOS = ("chelsea.png", "rocket.jpg")


def make_pairs(folder: Path, count: int) -> PairManifest:
    """A pair manifest of ``count`` items: shifted square crops of the photographs."""
    images = folder / "images"
    images.mkdir()
    for name in PHOTOS:
        photo = Image.open(Path(skimage.data.__file__).parent / name).convert("RGB")
        side = min(photo.size) * 9 // 10
        for step in range(count):
            left = (photo.width - side) * step // max(count - 1, 1)
            top = (photo.height - side) * (count - 1 - step) // max(count - 1, 1)
            crop = photo.crop((left, top, left + side, top + side))
            crop.save(images / f"{Path(name).stem}-{step}.png")
    classifier = load_classifier(device="cpu")
    outputs = classify_images(classifier, images, progress=False)
    rules = PairRules(per_pair=count * len(PHOTOS), limit=count)
    selection = select_pairs(outputs, LatentTree.load(EMBEDDED_TREE), rules)
    if len(selection.chosen) < count:
        raise SystemExit(f"only {len(selection.chosen)} crops have a confusing pair")
    path = write_pair_manifest(
        folder / "pairs.json",
        selection,
        classifier=classifier,
        images_dir=images,
        tree_file=EMBEDDED_TREE,
        top_k=TopKRule(),
        rules=rules,
        labels=None,
    )
    return read_pair_manifest(path)


def items_per_second(
    device: str,
    pairs: PairManifest,
    explainer: BaseExplainer,
    batch_size: int,
    precision: str = "fp32",
) -> float:
    classifier = load_classifier(device=device)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        summary = pregenerate(
            classifier,
            pairs,
            Path(scratch),
            explainer,
            batch_size=batch_size,
            precision=precision,
        )
        seconds = time.perf_counter() - start
    if summary.failed or len(summary.computed) != len(pairs.items):
        raise SystemExit(f"pregeneration failed: {summary.failed}")
    return len(pairs.items) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8, help="items for Grad-CAM")
    parser.add_argument("--rise-items", type=int, default=8, help="items for RISE")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rise-masks", default="1000,1000", help="stage 1,stage 2 masks")
    parser.add_argument(
        "--devices", default="cpu,cuda", help="comma-separated; cuda is skipped without a GPU"
    )
    args = parser.parse_args()
    tune_cpu_allocator()
    rise = ExplainerSpec("rise").with_mask_counts(*parse_mask_counts(args.rise_masks)).build()
    devices = [
        d
        for d in args.devices.split(",")
        if d == "cpu" or (d.startswith("cuda") and torch.cuda.is_available())
    ]
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} devices={devices}")
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "gradcam").mkdir()
        (folder / "rise").mkdir()
        runs = [
            ("gradcam", GradCAM(), make_pairs(folder / "gradcam", args.items)),
            ("rise", rise, make_pairs(folder / "rise", args.rise_items)),
        ]
        for device in devices:
            precisions = ("fp32", "mixed") if device.startswith("cuda") else ("fp32",)
            for name, explainer, pairs in runs:
                warm = replace(pairs, items=pairs.items[:2])
                for precision in precisions:
                    label = f"{device}/{name}/{precision}"
                    items_per_second(device, warm, explainer, 2, precision)  # warm-up
                    single = items_per_second(device, pairs, explainer, 1, precision)
                    batched = items_per_second(device, pairs, explainer, args.batch_size, precision)
                    print(
                        f"{label:<24} items={len(pairs.items):<3} batch 1: {single:#.3g} items/s"
                        f" ({1 / single:#.3g} s/item)   batch {args.batch_size}: "
                        f"{batched:#.3g} items/s ({1 / batched:#.3g} s/item)"
                        f"   speed-up {batched / single:.2f}x",
                        flush=True,
                    )
                    figures.append(
                        f"{label} b1={single:#.3g} b{args.batch_size}={batched:#.3g} "
                        f"speedup={batched / single:.2f}"
                    )
    print("; ".join(figures))


if __name__ == "__main__":
    main()
