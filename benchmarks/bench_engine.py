"""Engine benchmark: all four WOX methods vs a naive per-target baseline, same process.

Usage: ``.venv/bin/python benchmarks/bench_engine.py [--images N] [--rise-masks 256,128]
[--device auto]``

What is compared, per image, on the embedded EfficientNet-Lite0 with its latent tree and a
fixed K = 5 top classes:

- Grad-CAM. Ours: every base map of the requested methods from one forward and one batched
  backward. Naive (the reference code's cost): one forward + one backward at batch size 1
  per base map that CWOX-2s needs. ``gradcam_speedup`` = naive CWOX-2s time / our CWOX-2s time.
- RISE. Ours: one masked pass per distinct mask setting, serving every target. Naive: one masked
  pass per target set that the four methods need. ``rise_speedup`` = naive / ours (all four
  methods). Also printed: all four methods over a single RISE pass (one setting for both stages),
  which should stay close to 1.

The mask counts default to small numbers so that the naive baseline finishes on a 2-core CPU;
pass ``--rise-masks 5000,3000`` for the reference settings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import skimage
import torch

from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.base import BaseExplainer, Plan, Request, SaliencyMaps
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE, RiseStages
from explain_engine.images import load_image
from explain_engine.models import Classifier, load_classifier
from explain_engine.registry import method_names
from explain_engine.runtime import tune_cpu_allocator
from explain_engine.settings import ExplainerSpec, parse_mask_counts
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"


@dataclass
class PassCounter:
    """Counts model forward calls (and the images they carried) and autograd.grad calls."""

    forwards: int = 0
    images: int = 0
    backwards: int = 0


@contextmanager
def counting(classifier: Classifier) -> Iterator[PassCounter]:
    counter = PassCounter()

    def on_forward(_module: torch.nn.Module, inputs: tuple) -> None:
        counter.forwards += 1
        counter.images += len(inputs[0])

    original_grad = torch.autograd.grad

    def counted_grad(*args: object, **kwargs: object) -> tuple:
        counter.backwards += 1
        return original_grad(*args, **kwargs)

    handle = classifier.model.register_forward_pre_hook(on_forward)
    torch.autograd.grad = counted_grad
    try:
        yield counter
    finally:
        torch.autograd.grad = original_grad
        handle.remove()


class NaivePerTarget(BaseExplainer):
    """The reference code's cost model: the wrapped explainer run once per base map, batch 1."""

    def __init__(self, inner: BaseExplainer) -> None:
        self.inner = inner
        self.name = inner.name

    def parameters(self, classifier: Classifier) -> dict:
        return self.inner.parameters(classifier)

    def run(
        self, classifier: Classifier, inputs: torch.Tensor, plan: Plan
    ) -> tuple[torch.Tensor, SaliencyMaps]:
        with torch.no_grad():
            logits = classifier.model(inputs)
        maps: SaliencyMaps = []
        for b, image_requests in enumerate(plan(logits)):
            image_maps: dict[Request, torch.Tensor] = {}
            for request in image_requests:
                single = self.inner.saliency(classifier, inputs[b : b + 1], [[request]])
                image_maps.update(single[0])
            maps.append(image_maps)
        return logits, maps


def timed(
    classifier: Classifier, run: Callable[[], object], device: torch.device
) -> tuple[float, PassCounter]:
    with counting(classifier) as counter:
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, counter


def bench_images(count: int) -> list:
    paths = sorted(SAMPLE.glob("*.JPEG"))[:count] if SAMPLE.is_dir() else []
    if len(paths) < count:
        folder = Path(skimage.data.__file__).parent
        paths += [folder / n for n in ("chelsea.png", "rocket.jpg", "motorcycle_left.png")]
    return [load_image(p) for p in paths[:count]]


def report(label: str, seconds: float, counter: PassCounter, images: int) -> None:
    print(
        f"{label:<34} {seconds / images:8.3f} s/image   forwards={counter.forwards:<5} "
        f"images_forwarded={counter.images:<6} backwards={counter.backwards}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--rise-masks", default="256,128", help="stage 1,stage 2 masks")
    parser.add_argument("--repeats", type=int, default=5, help="Grad-CAM runs per image")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    tune_cpu_allocator()  # applies to ours and the naive baseline alike
    classifier = load_classifier(device=args.device)
    device = classifier.device
    images = bench_images(args.images)
    tree = LatentTree.load(classifier.default_tree) if classifier.default_tree else None
    n = len(images)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} images={n}")
    print(f"tree={classifier.default_tree or 'none (singleton clusters)'}")

    def run(
        explainer: BaseExplainer, methods: tuple[str, ...], repeats: int = 1
    ) -> Callable[[], object]:
        settings = ExplanationSettings(methods=methods, tree=tree, top_k=TopKRule(5, None))
        batch = images * repeats
        return lambda: [explain_batch(classifier, [image], explainer, settings) for image in batch]

    for explainer, methods in (
        (GradCAM(), method_names()),
        (NaivePerTarget(GradCAM()), method_names()),
    ):
        run(explainer, methods)()  # warm-up
    repeats = args.repeats
    grad_all = timed(classifier, run(GradCAM(), method_names(), repeats), device)
    grad_2s = timed(classifier, run(GradCAM(), ("cwox-2s",), repeats), device)
    naive_2s = timed(classifier, run(NaivePerTarget(GradCAM()), ("cwox-2s",), repeats), device)
    report("gradcam ours, all four methods", *grad_all, n * repeats)
    report("gradcam ours, cwox-2s", *grad_2s, n * repeats)
    report("gradcam naive, cwox-2s", *naive_2s, n * repeats)
    gradcam_speedup = naive_2s[0] / grad_2s[0]
    print(f"gradcam all-four / cwox-2s cost ratio: {grad_all[0] / grad_2s[0]:.2f}")

    spec = ExplainerSpec("rise").with_mask_counts(*parse_mask_counts(args.rise_masks))
    paper = spec.build()
    shared = RISE(RiseStages(paper.settings.stage1, paper.settings.stage1))
    run(shared, ("swox",))()  # warm-up at the masked batch size
    single = timed(classifier, run(shared, ("swox",)), device)
    shared_all = timed(classifier, run(shared, method_names()), device)
    paper_all = timed(classifier, run(paper, method_names()), device)
    paper_2s = timed(classifier, run(paper, ("cwox-2s",)), device)
    naive_all = timed(classifier, run(NaivePerTarget(paper), method_names()), device)
    report("rise single pass (swox, 1 setting)", *single, n)
    report("rise ours, all four, 1 setting", *shared_all, n)
    report("rise ours, cwox-2s, 2 settings", *paper_2s, n)
    report("rise ours, all four, 2 settings", *paper_all, n)
    report("rise naive, all four, 2 settings", *naive_all, n)
    print(f"rise all-four (1 setting) / single pass cost ratio: {shared_all[0] / single[0]:.2f}")
    print(f"rise all-four / cwox-2s (2 settings) cost ratio: {paper_all[0] / paper_2s[0]:.2f}")
    rise_speedup = naive_all[0] / paper_all[0]
    print(f"gradcam_speedup={gradcam_speedup:.1f} rise_speedup={rise_speedup:.1f}")


if __name__ == "__main__":
    main()
