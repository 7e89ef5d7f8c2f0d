"""Visible area of study stimuli under each rendering, on the demo photographs and ImageNet.

Usage: ``.venv/bin/python benchmarks/stimulus_visibility.py [--imagenet 30] [--out
/tmp/stimulus-visibility] [--figures docs/figures]``

Items are chosen as the study's stimuli are: the embedded EfficientNet-Lite0 and its latent tree,
top-K classes, confusing pairs by :func:`explain_engine.pairs.select_pairs` (the demo's rules: the
demo photographs and their crops, ``per_pair=4``; for a seeded sample of
``../shared/data/imagenet-sample``: ``per_pair=1``, the first ``--imagenet`` pairs), maps by
:func:`explain_engine.pregenerate.explain_pairs` with Grad-CAM and the paper's equations. Every
map a participant sees (SWOX a/b, CWOX-1sB a/b, CWOX-2s cluster and a/b) is drawn with every
rendering of :data:`RENDERINGS` and measured with :func:`explain_engine.quality.visible_area`.

Printed: per set × rendering × map group, the mean and minimum visible area, the count below 2 %
and the blank count (Markdown); the pair measures (Spearman, SSIM of maps a and b) per method;
what each rendering does with synthetic maps (zero, pure low noise, a blob over low noise); and
the agreement of our measure with ``../shared/tools/heatmap_visibility.py`` on the overlays as
served (written to ``OUT/served/<set>/<rendering>/<item>/``, the tool's layout). Contact sheets
before/after (``max-linear`` / default) and the synthetic maps are written to OUT as PNG, and
those of the demo, 256-colour quantised and small, to ``--figures``. Grad-CAM on a CPU takes
about a second per item, so there is no resume.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from explain_engine.demo_photos import write_demo_photos
from explain_engine.evaluation import sample_images
from explain_engine.explain import ExplanationSettings
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.images import load_image
from explain_engine.models import Classifier, load_classifier
from explain_engine.pairs import ChosenPair, PairRules, classify_images, select_pairs
from explain_engine.pregenerate import explain_pairs
from explain_engine.quality import grade, pair_quality, visible_area
from explain_engine.render import MAX_LINEAR, RENDERING, Rendering, image_to_pil, overlay
from explain_engine.tree import LatentTree

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"
TOOL = ROOT.parent / "shared" / "tools" / "heatmap_visibility.py"
TREE = ROOT / "explain_engine" / "data" / "efficientnet-lite0-tree.json"
METHODS = ("swox", "cwox-1sb", "cwox-2s")
GROUPS = ("swox", "cwox-1sb", "cwox-2s-cluster", "cwox-2s-class")
RENDERINGS = (
    MAX_LINEAR,
    Rendering("max-sqrt", scale="max", percentile=100.0),
    Rendering("percentile-linear", gamma=1.0, floor=0.0),
    RENDERING,
)
"""Before, the two halves of the change alone, and after."""
THUMB = 112


@dataclass
class Item:
    """One stimulus: its id, photograph (3, H, W) in [0, 1] and the maps as slot → (H, W)."""

    key: str
    image: torch.Tensor
    maps: dict[str, torch.Tensor]


def stimuli(
    classifier: Classifier, folder: Path, tree: LatentTree, rules: PairRules, limit: int | None
) -> list[Item]:
    """The items of the images under ``folder`` (module docstring)."""
    outputs = classify_images(classifier, folder, progress=False)
    chosen = list(select_pairs(outputs, tree, rules).chosen)[:limit]
    settings = ExplanationSettings(METHODS, tree=tree)
    explainer = GradCAM()
    items = []
    for pair in tqdm(chosen, desc=folder.name, unit="item"):
        explanation = explain_pairs(
            classifier, [load_image(folder / pair.image)], [pair], explainer, settings
        )[0]
        items.append(Item(Path(pair.image).stem, explanation.input_image, slots(pair, explanation)))
    return items


def slots(pair: ChosenPair, explanation) -> dict[str, torch.Tensor]:
    """``<method>-a``, ``<method>-b`` and ``cwox-2s-cluster``: the maps as the study shows them."""
    maps = {}
    for method, wox in explanation.methods.items():
        maps[f"{method}-a"] = wox.class_map(pair.a).values
        maps[f"{method}-b"] = wox.class_map(pair.b).values
    index = next(i for i, c in enumerate(explanation.clusters) if pair.a in c)
    cluster = next(h for h in explanation.methods["cwox-2s"].cluster_maps() if h.cluster == index)
    maps["cwox-2s-cluster"] = cluster.values
    return maps


def group_of(slot: str) -> str:
    if slot == "cwox-2s-cluster":
        return slot
    return "cwox-2s-class" if slot.startswith("cwox-2s") else slot.rsplit("-", 1)[0]


def visibility(items: list[Item], rendering: Rendering) -> dict[str, list[float]]:
    """Group → visible areas of its maps under ``rendering``."""
    found: dict[str, list[float]] = {g: [] for g in GROUPS}
    for item in items:
        photo = np.asarray(image_to_pil(item.image))
        for slot, values in item.maps.items():
            picture = np.asarray(overlay(item.image, values, rendering))
            found[group_of(slot)].append(visible_area(picture, photo))
    return found


def table(sets: dict[str, list[Item]]) -> str:
    lines = [
        "| set | rendering | maps | n | mean | min | below 2 % | blank |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, items in sets.items():
        for rendering in RENDERINGS:
            for group, values in visibility(items, rendering).items():
                v = np.array(values)
                lines.append(
                    f"| {name} | {rendering.name} | {group} | {len(v)} | {v.mean():.1%} | "
                    f"{v.min():.1%} | {int((v < 0.02).sum())} | {int((v == 0).sum())} |"
                )
    return "\n".join(lines)


def pair_table(sets: dict[str, list[Item]]) -> str:
    lines = [
        "| set | method | pairs | Spearman median / max | SSIM median / max | undefined | "
        "flagged indistinguishable |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, items in sets.items():
        for method in METHODS:
            found = [pair_quality(i.maps[f"{method}-a"], i.maps[f"{method}-b"]) for i in items]
            rho = np.array([q.spearman for q in found if q.spearman is not None])
            ssim = np.array([q.ssim for q in found if q.ssim is not None])
            lines.append(
                f"| {name} | {method} | {len(found)} | "
                + (f"{np.median(rho):.2f} / {rho.max():.2f} | " if len(rho) else "– | ")
                + (f"{np.median(ssim):.2f} / {ssim.max():.2f} | " if len(ssim) else "– | ")
                + f"{len(found) - len(rho)} | "
                + f"{sum('indistinguishable' in grade([], q).soft for q in found)} |"
            )
    return "\n".join(lines)


def synthetic_maps(size: int = 224) -> dict[str, torch.Tensor]:
    """Zero, pure low noise (uniform in [0, 1e-6]), and a Gaussian blob with 3 % noise."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(size, size, generator=generator)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    blob = torch.exp(-((y - 80.0) ** 2 + (x - 140.0) ** 2) / (2 * 20.0**2))
    return {
        "zero": torch.zeros(size, size),
        "noise": 1e-6 * noise,
        "blob+noise": blob + 0.03 * noise,
    }


def synthetic_table(image: torch.Tensor) -> str:
    photo = np.asarray(image_to_pil(image))
    lines = ["| map | " + " | ".join(r.name for r in RENDERINGS) + " |", "|---" * 5 + "|"]
    for name, values in synthetic_maps(image.shape[-1]).items():
        cells = [visible_area(np.asarray(overlay(image, values, r)), photo) for r in RENDERINGS]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1%}" for c in cells) + " |")
    return "\n".join(lines)


def write_served(items: list[Item], folder: Path, rendering: Rendering) -> None:
    """The overlays as a study serves them: ``<item>/image.png`` and ``<item>/<slot>.png``."""
    for item in items:
        target = folder / item.key
        target.mkdir(parents=True, exist_ok=True)
        image_to_pil(item.image).save(target / "image.png")
        for slot, values in item.maps.items():
            overlay(item.image, values, rendering).save(target / f"{slot}.png")


def tool_agreement(sets: dict[str, list[Item]], out: Path) -> str:
    """Our per-method means next to the shared tool's, on the same files."""
    if not TOOL.is_file():
        return f"(the shared tool is not at {TOOL})"
    lines = []
    for name, items in sets.items():
        for rendering in (MAX_LINEAR, RENDERING):
            folder = out / "served" / name / rendering.name
            write_served(items, folder, rendering)
            tool = (
                subprocess.run(
                    [sys.executable, str(TOOL), str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            ours = np.concatenate([np.array(v) for v in visibility(items, rendering).values()])
            lines.append(
                f"{name} {rendering.name}: tool `{tool}`; ours min_visible={ours.min():.4f} "
                f"below2pct={int((ours < 0.02).sum())} blank={int((ours == 0).sum())} "
                f"maps={len(ours)}"
            )
    return "\n".join(lines)


def contact_sheet(items: list[Item], rendering: Rendering) -> Image.Image:
    """One row per item: photograph, then every slot's overlay under ``rendering``."""
    columns = ["image", *items[0].maps]
    sheet = Image.new("RGB", (THUMB * len(columns), 14 + THUMB * len(items)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        draw.text((c * THUMB + 2, 1), name, fill="black")
    for r, item in enumerate(items):
        pictures = [image_to_pil(item.image)]
        pictures += [overlay(item.image, v, rendering) for v in item.maps.values()]
        for c, picture in enumerate(pictures):
            sheet.paste(picture.resize((THUMB, THUMB)), (c * THUMB, 14 + r * THUMB))
    draw.text((2, sheet.height - 12), f"rendering: {rendering.name}", fill="white")
    return sheet


def save_figure(picture: Image.Image, name: str, out: Path, figures: Path | None) -> None:
    """``OUT/name`` as drawn; ``figures/name`` 256-colour quantised (small enough for a repo)."""
    picture.save(out / name)
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        small = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(figures / name, optimize=True)


def synthetic_sheet(image: torch.Tensor) -> Image.Image:
    """Rows: renderings; columns: the synthetic maps over ``image``."""
    maps = synthetic_maps(image.shape[-1])
    sheet = Image.new("RGB", (THUMB * len(maps), THUMB * len(RENDERINGS)), "white")
    for r, rendering in enumerate(RENDERINGS):
        for c, values in enumerate(maps.values()):
            picture = overlay(image, values, rendering).resize((THUMB, THUMB))
            sheet.paste(picture, (c * THUMB, r * THUMB))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagenet", type=int, default=30, help="ImageNet-sample items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet-rows", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("/tmp/stimulus-visibility"))
    parser.add_argument("--figures", type=Path, default=None, help="e.g. docs/figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    classifier = load_classifier("efficientnet-lite0", device="cpu")
    tree = LatentTree.load(TREE)
    sets: dict[str, list[Item]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "demo-photos"
        write_demo_photos(photos)
        sets["demo"] = stimuli(classifier, photos, tree, PairRules(per_pair=4), None)
        if SAMPLE.is_dir() and args.imagenet:
            sample = Path(scratch) / "imagenet-sample"
            sample.mkdir()
            for path in sample_images(sorted(SAMPLE.glob("*.JPEG")), 5 * args.imagenet, args.seed):
                (sample / path.name).symlink_to(path)
            rules = PairRules(per_pair=1, seed=args.seed)
            sets["imagenet"] = stimuli(classifier, sample, tree, rules, args.imagenet)
    print("## Visible area\n\n" + table(sets))
    print("\n## Pair measures (maps a and b)\n\n" + pair_table(sets))
    first = sets["demo"][0].image
    print("\n## Synthetic maps over the first demo photograph\n\n" + synthetic_table(first))
    print("\n## Agreement with the shared tool\n\n" + tool_agreement(sets, args.out))
    for name, items in sets.items():
        for rendering in (MAX_LINEAR, RENDERING):
            sheet = contact_sheet(items[: args.sheet_rows], rendering)
            save_figure(sheet, f"contact-{name}-{rendering.name}.png", args.out, None)
            if name == "demo":  # the ImageNet sheets stay outside the repository (size)
                save_figure(sheet, f"contact-{name}-{rendering.name}.png", args.out, args.figures)
    save_figure(synthetic_sheet(first), "synthetic.png", args.out, args.figures)
    print(f"\ncontact sheets in {args.out}" + (f" and {args.figures}" if args.figures else ""))


if __name__ == "__main__":
    main()
