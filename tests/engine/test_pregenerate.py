"""Stimulus pregeneration (explain_engine.pregenerate) on the embedded EfficientNet-Lite0.

Four crops of scikit-image's ``chelsea.png``: their top classes are Egyptian cat / tiger cat /
tabby (+ lynx), and the embedded tree puts tiger cat (282) and tabby (281) in one level-1
cluster, Z1177, so every crop gets the pair (tiger cat, tabby). One crop is corrupted after
the pairs were chosen, so its item fails. Grad-CAM keeps the runs to a few seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from PIL import Image

from explain_engine.cli import main
from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.images import load_image
from explain_engine.models import EMBEDDED_MODEL, EMBEDDED_TREE, load_classifier
from explain_engine.pairs import (
    PairManifest,
    PairRules,
    classify_images,
    read_pair_manifest,
    select_pairs,
    write_pair_manifest,
)
from explain_engine.placebo import randomized_model
from explain_engine.pregenerate import (
    DONE_DIR,
    MIXED_TOLERANCE,
    ROLES,
    STUDY_METHODS,
    explain_pairs,
    finished_items,
    map_deviation,
    parse_roles,
    pregenerate,
)
from explain_engine.quality import visible_area
from explain_engine.registry import method_names
from explain_engine.render import RENDERING, overlay
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree

CHELSEA = Path(skimage.data.__file__).parent / "chelsea.png"
CROPS = {
    "chelsea-left": (0, 0, 300, 300),
    "chelsea-right": (151, 0, 451, 300),
    "chelsea-mid": (80, 20, 380, 300),
    "chelsea-face": (150, 30, 350, 230),
}
BROKEN = "chelsea-face"
TIGER_CAT, TABBY, EGYPTIAN_CAT = 282, 281, 285

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(device="cpu")


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory, classifier) -> Path:
    """A pair manifest of the four crops; the BROKEN crop is corrupted afterwards."""
    root = tmp_path_factory.mktemp("stimuli")
    images = root / "images"
    images.mkdir()
    photo = Image.open(CHELSEA).convert("RGB")
    for name, box in CROPS.items():
        photo.crop(box).save(images / f"{name}.png")
    outputs = classify_images(classifier, images, batch_size=4)
    rules = PairRules(per_pair=len(CROPS))
    selection = select_pairs(outputs, LatentTree.load(EMBEDDED_TREE), rules)
    path = write_pair_manifest(
        root / "pairs.json",
        selection,
        classifier=classifier,
        images_dir=images,
        tree_file=EMBEDDED_TREE,
        top_k=TopKRule(),
        rules=rules,
        labels=None,
    )
    data = (images / f"{BROKEN}.png").read_bytes()
    (images / f"{BROKEN}.png").write_bytes(data[: len(data) // 3])  # truncated PNG
    return path


@pytest.fixture(scope="module")
def pairs(pairs_file: Path) -> PairManifest:
    return read_pair_manifest(pairs_file)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, classifier, pairs):
    out = tmp_path_factory.mktemp("run") / "stimuli"
    summary = pregenerate(
        classifier,
        pairs,
        out,
        GradCAM(),
        batch_size=2,
        roles=[("training", 1), ("attention", 1)],
    )
    return summary, out


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def validate_stimulus_manifest(folder: Path) -> dict:
    """Check folder/manifest.json against every rule of docs/stimulus-manifest.md."""
    manifest = _manifest(folder)
    assert manifest["format"] == "cwox-stimuli" and manifest["version"] == 1
    datetime.fromisoformat(manifest["created"])
    model = manifest["model"]
    assert isinstance(model["name"], str)
    assert re.fullmatch(r"[0-9a-f]{64}", model["weights_sha256"])
    assert set(model["preprocessing"]) == {"resize", "crop", "mean", "std"}
    assert isinstance(model["tree"]["name"], str)
    assert re.fullmatch(r"[0-9a-f]{64}", model["tree"]["sha256"])
    assert isinstance(manifest["explainer"]["name"], str)
    assert isinstance(manifest["explainer"]["parameters"], dict)
    methods = manifest["methods"]
    assert methods and set(methods) <= set(method_names())
    assert isinstance(manifest["seed"], int)
    assert {"explain_engine", "torch", "python"} <= set(manifest["software"])
    named = set()
    ids = [item["id"] for item in manifest["items"]]
    assert len(set(ids)) == len(ids)
    for item in manifest["items"]:
        assert isinstance(item["source"], str)
        assert item.get("role", "test") in ROLES
        assert len(item["classes"]) == 2
        for entry in item["classes"]:
            assert isinstance(entry["index"], int) and isinstance(entry["name"], str)
            assert 0.0 <= entry["probability"] <= 1.0
        assert isinstance(item["cluster"]["node"], str)
        assert {c["index"] for c in item["classes"]} <= set(item["cluster"]["classes"])
        assert set(item["heatmaps"]) == set(methods)
        for method, maps in item["heatmaps"].items():
            expected = {"a", "b", "cluster"} if method == "cwox-2s" else {"a", "b"}
            assert set(maps) == expected, (item["id"], method)
            named.update(maps.values())
        named.add(item["image"])
    assert set(manifest["files"]) == named
    for relative, digest in manifest["files"].items():
        assert "\\" not in relative and not relative.startswith("/") and ".." not in relative
        assert _sha256(folder / relative) == digest, relative
        with Image.open(folder / relative) as image:
            assert image.format == "PNG"
            assert image.size == (model["preprocessing"]["crop"],) * 2
    return manifest


# -------------------------------------------------------------------------- one run


def test_pair_manifest_holds_the_cat_pair_for_every_crop(pairs: PairManifest) -> None:
    assert sorted(item_id for item_id, _ in pairs.items) == sorted(CROPS)
    for _, pair in pairs.items:
        assert (pair.a, pair.b) == (TIGER_CAT, TABBY)
        assert pair.cluster == "Z1177"
        assert EGYPTIAN_CAT in pair.top.classes and EGYPTIAN_CAT not in pair.cluster_classes


def test_run_writes_every_file_and_a_valid_manifest(run) -> None:
    summary, out = run
    manifest = validate_stimulus_manifest(out)
    good = sorted(set(CROPS) - {BROKEN})
    assert sorted(summary.computed) == good and summary.resumed == ()
    assert sorted(item["id"] for item in manifest["items"]) == good
    assert manifest["methods"] == list(STUDY_METHODS)
    assert manifest["model"]["name"] == EMBEDDED_MODEL
    assert manifest["model"]["tree"]["name"] == EMBEDDED_TREE.name
    assert manifest["model"]["tree"]["sha256"] == _sha256(EMBEDDED_TREE)
    assert manifest["explainer"] == {
        "name": "gradcam",
        "parameters": {"stage1_layer": "_conv_head", "stage2_layer": "_blocks.10", "relu": True},
    }
    assert manifest["precision"]["used"] == ["fp32"]
    assert not list(out.rglob("*.tmp"))
    for item in manifest["items"]:
        assert item["image"] == f"images/{item['id']}.png"
        assert (
            item["heatmaps"]["cwox-2s"]["cluster"] == f"heatmaps/{item['id']}/cwox-2s-cluster.png"
        )


def test_items_carry_the_quality_of_every_map_and_the_rendering(run, pairs) -> None:
    manifest = _manifest(run[1])
    assert manifest["rendering"] == RENDERING.to_dict()
    assert manifest["unpaired"] == [asdict(u) for u in pairs.unpaired]
    for item in manifest["items"]:
        photo = np.asarray(Image.open(run[1] / item["image"]).convert("RGB"))
        assert set(item["quality"]) == set(item["heatmaps"]) == set(item["pair_quality"])
        for method, files in item["heatmaps"].items():
            assert set(item["quality"][method]) == set(files)
            for slot, path in files.items():
                record = item["quality"][method][slot]
                drawn = np.asarray(Image.open(run[1] / path).convert("RGB"))
                # The visible area is that of the overlay exactly as written.
                assert record["visible_area"] == pytest.approx(visible_area(drawn, photo))
                assert record["finite"] and isinstance(record["n_delta"], int)
            pair = item["pair_quality"][method]
            assert pair["spearman"] is None or -1 <= pair["spearman"] <= 1


def test_items_show_the_pair_a_first_with_the_cwox_cluster(run, pairs: PairManifest) -> None:
    manifest = _manifest(run[1])
    recorded = dict(pairs.items)
    for item in manifest["items"]:
        pair = recorded[item["id"]]
        a, b = item["classes"]
        assert (a["index"], a["name"], b["index"], b["name"]) == (282, "tiger cat", 281, "tabby")
        assert a["probability"] == pytest.approx(pair.top.probability(TIGER_CAT), abs=1e-5)
        assert b["probability"] == pytest.approx(pair.top.probability(TABBY), abs=1e-5)
        assert item["cluster"] == {"node": "Z1177", "classes": [TIGER_CAT, TABBY]}
        assert item["source"] == f"{item['id']}.png"
        files = {path for maps in item["heatmaps"].values() for path in maps.values()}
        assert len({_sha256(run[1] / path) for path in files}) == len(files)  # all different


def test_roles_are_given_in_manifest_order(run, pairs: PairManifest) -> None:
    roles = [item["role"] for item in _manifest(run[1])["items"]]
    assert roles == ["training", "attention", "test"]
    order = [item_id for item_id, _ in pairs.items if item_id != BROKEN]
    assert [item["id"] for item in _manifest(run[1])["items"]] == order


def test_corrupt_image_fails_only_its_item(run) -> None:
    summary, out = run
    ((failed_id, reason),) = summary.failed
    assert failed_id == BROKEN and f"{BROKEN}.png" in reason and "corrupt" in reason
    assert _manifest(out)["failed"] == [{"id": BROKEN, "image": f"{BROKEN}.png", "reason": reason}]
    assert not (out / "images" / f"{BROKEN}.png").exists()
    assert not (out / DONE_DIR / f"{BROKEN}.json").exists()


# --------------------------------------------------------------------------- resuming


def _mtimes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }


def test_resume_recomputes_only_unfinished_items(run, tmp_path: Path, classifier, pairs) -> None:
    out = tmp_path / "stimuli"
    shutil.copytree(run[1], out)
    before = _mtimes(out)

    def again():
        return pregenerate(classifier, pairs, out, GradCAM(), batch_size=2)

    untouched = again()
    assert untouched.computed == () and len(untouched.resumed) == 3
    assert [item_id for item_id, _ in untouched.failed] == [BROKEN]  # retried, fails again
    assert _mtimes(out) == before

    good = [item_id for item_id, _ in pairs.items if item_id != BROKEN]
    unmarked, truncated, kept = good
    (out / DONE_DIR / f"{unmarked}.json").unlink()
    half = out / "heatmaps" / truncated / "cwox-2s-b.png"
    half.write_bytes(half.read_bytes()[:100])
    assert finished_items(out, [item_id for item_id, _ in pairs.items]) == {kept}
    before = _mtimes(out)
    resumed = again()
    assert sorted(resumed.computed) == sorted([unmarked, truncated])
    assert resumed.resumed == (kept,)
    after = _mtimes(out)
    for path, mtime in before.items():
        if unmarked not in path and truncated not in path:
            assert after[path] == mtime, path
        elif path.endswith(".png"):
            assert after[path] != mtime, path
    validate_stimulus_manifest(out)


def test_some_items_only_and_a_progress_report_per_item(run, tmp_path, classifier, pairs) -> None:
    out = tmp_path / "stimuli"
    good = [item_id for item_id, _ in pairs.items if item_id != BROKEN]
    events = []
    chosen = [good[0], BROKEN]
    summary = pregenerate(
        classifier,
        pairs,
        out,
        GradCAM(),
        item_ids=chosen,
        write_manifest=False,
        progress=events.append,
    )
    assert summary.manifest is None and not (out / "manifest.json").exists()
    assert summary.computed == (good[0],) and [i for i, _ in summary.failed] == [BROKEN]
    assert sorted((e.item_id, e.status, e.total) for e in events) == sorted(
        [(good[0], "computed", 2), (BROKEN, "failed", 2)]
    )
    assert [e.done for e in events] == [1, 2]
    assert next(e.reason for e in events if e.status == "failed") == dict(summary.failed)[BROKEN]
    assert finished_items(out, [i for i, _ in pairs.items]) == {good[0]}
    with pytest.raises(EngineInputError, match="items nope: not in the pair manifest"):
        pregenerate(classifier, pairs, out, GradCAM(), item_ids=["nope"])


def test_a_placebo_arm_is_the_method_on_the_randomised_model(tmp_path, classifier, pairs) -> None:
    out = tmp_path / "stimuli"
    good = [item_id for item_id, _ in pairs.items if item_id != BROKEN][:2]
    methods = ("cwox-2s", "placebo-cwox-2s")
    pregenerate(classifier, pairs, out, GradCAM(), methods=methods, item_ids=good)
    manifest = _manifest(out)
    assert manifest["methods"] == list(methods)
    assert manifest["placebo"]["of"] == ["cwox-2s"]
    recorded = dict(pairs.items)
    randomised = randomized_model(classifier)
    for item in manifest["items"]:
        real, placebo = item["heatmaps"]["cwox-2s"], item["heatmaps"]["placebo-cwox-2s"]
        assert set(real) == set(placebo) == {"a", "b", "cluster"}
        pictures = {
            name: np.asarray(Image.open(out / files["a"]), dtype=float)
            for name, files in (("real", real), ("placebo", placebo))
        }
        assert not np.array_equal(pictures["real"], pictures["placebo"])
        # The placebo's class map a is CWOX-2s of the same classes on the randomised model.
        pair = recorded[item["id"]]
        settings = ExplanationSettings(
            methods=("cwox-2s",), tree=LatentTree.load(pairs.tree), classes=pair.top.classes
        )
        image = load_image(pairs.images_dir / pair.image)
        [expected] = explain_batch(randomised, [image], GradCAM(), settings)
        values = expected.methods["cwox-2s"].class_map(pair.a).values
        drawn = np.asarray(overlay(expected.input_image, values), dtype=float)
        np.testing.assert_array_equal(drawn, pictures["placebo"])
    with pytest.raises(EngineInputError, match="placebo-<method>"):
        pregenerate(classifier, pairs, out, GradCAM(), methods=("placebo-nope",))


def test_changed_settings_recompute_every_item(run, tmp_path: Path, classifier, pairs) -> None:
    out = tmp_path / "stimuli"
    shutil.copytree(run[1], out)
    summary = pregenerate(classifier, pairs, out, GradCAM(), methods=("swox",), batch_size=4)
    assert len(summary.computed) == 3 and summary.resumed == ()
    manifest = validate_stimulus_manifest(out)
    assert manifest["methods"] == ["swox"]
    assert "role" not in manifest["items"][0]


# ------------------------------------------------------------------ classes explained


def test_recomputed_top_classes_that_differ_fall_back_to_the_recorded_ones(
    classifier, pairs: PairManifest
) -> None:
    item_id, pair = next((i, p) for i, p in pairs.items if i != BROKEN)
    recorded = pair.top.classes[:3]  # drop the classes below the Cum(0.95) cut
    fixed = replace(pair, top=replace(pair.top, classes=recorded, probabilities=(0.4,) * 3))
    image = load_image(pairs.images_dir / pair.image)
    settings = ExplanationSettings(
        methods=("cwox-2s",), tree=LatentTree.load(pairs.tree), top_k=pairs.top_k
    )
    (plain,) = explain_pairs(classifier, [image], [pair], GradCAM(), settings)
    (result,) = explain_pairs(classifier, [image], [fixed], GradCAM(), settings)
    assert {top.index for top in plain.top_classes} == set(pair.top.classes)
    assert {top.index for top in result.top_classes} == set(recorded)
    assert len(recorded) < len(pair.top.classes), item_id


# ------------------------------------------------------------------------- bad input


def test_model_other_than_the_pairs_model_is_rejected(classifier, pairs, tmp_path) -> None:
    other = replace(pairs, model={**pairs.model, "name": "resnet50"})
    with pytest.raises(EngineInputError, match="resnet50"):
        pregenerate(classifier, other, tmp_path, GradCAM())
    other = replace(pairs, model={**pairs.model, "weights_sha256": "0" * 64})
    with pytest.raises(EngineInputError, match="SHA-256"):
        pregenerate(classifier, other, tmp_path, GradCAM())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_mixed_precision_without_cuda_is_rejected(classifier, pairs, tmp_path) -> None:
    with pytest.raises(EngineInputError, match="CUDA"):
        pregenerate(classifier, pairs, tmp_path, GradCAM(), precision="mixed")


def test_roles_option() -> None:
    assert parse_roles("training=3,attention=1") == [("training", 3), ("attention", 1)]
    for bad in ("training", "practice=2", "test=x"):
        with pytest.raises(EngineInputError, match="--roles"):
            parse_roles(bad)


NO_CUDA = "mixed precision (float16 autocast) runs on CUDA only and this machine has no GPU"


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_mixed_precision_maps_stay_within_tolerance_of_fp32(pairs: PairManifest) -> None:
    gpu = load_classifier(device="cuda")
    settings = ExplanationSettings(
        methods=method_names(), tree=LatentTree.load(pairs.tree), top_k=pairs.top_k
    )
    good = [(item_id, pair) for item_id, pair in pairs.items if item_id != BROKEN]
    images = [load_image(pairs.images_dir / pair.image) for _, pair in good]
    chosen = [pair for _, pair in good]
    fp32 = explain_pairs(gpu, images, chosen, GradCAM(), settings)
    mixed = explain_pairs(gpu, images, chosen, GradCAM(), settings, precision="mixed")
    assert map_deviation(fp32, mixed) <= MIXED_TOLERANCE


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_mixed_precision_run_records_its_check_and_falls_back_beyond_tolerance(
    pairs: PairManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpu = load_classifier(device="cuda")
    summary = pregenerate(gpu, pairs, tmp_path / "mixed", GradCAM(), precision="mixed")
    manifest = validate_stimulus_manifest(tmp_path / "mixed")
    assert summary.precision == "mixed-float16"
    assert manifest["precision"]["used"] == ["mixed-float16"]
    assert 0 <= manifest["precision"]["checked_deviation"] <= MIXED_TOLERANCE
    monkeypatch.setattr("explain_engine.pregenerate.MIXED_TOLERANCE", -1.0)
    with pytest.warns(UserWarning, match="computing in fp32"):
        summary = pregenerate(gpu, pairs, tmp_path / "fallback", GradCAM(), precision="mixed")
    assert summary.precision == "fp32"
    assert _manifest(tmp_path / "fallback")["precision"]["used"] == ["fp32"]


# ------------------------------------------------------------------------ command line


def test_command_line_pairs_then_pregenerate_with_rise(
    tmp_path: Path, pairs: PairManifest, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("chelsea-left", "chelsea-mid"):
        shutil.copy(pairs.images_dir / f"{name}.png", images)
    pairs_file = tmp_path / "pairs.json"
    argv = ["pairs", str(images), "--out", str(pairs_file), "--device", "cpu", "--limit", "1"]
    # By default only pairs of the leading cluster: the cat pair (tiger cat / tabby) sits
    # behind Egyptian cat's own cluster on these crops.
    assert main([*argv, "--per-pair", "2"]) == 0
    written = json.loads(pairs_file.read_text())
    assert written["rules"]["leading_cluster"] is True
    assert [u["reason"].split(" (")[0] for u in written["unpaired"]] == [
        "the leading confusion cluster"
    ] * 2
    assert main([*argv, "--per-pair", "2", "--any-cluster"]) == 0
    written = json.loads(pairs_file.read_text())
    assert written["rules"]["leading_cluster"] is False
    assert len(written["items"]) == 1
    assert written["unpaired"][0]["reason"] == "limit of 1 items reached"
    out = tmp_path / "stimuli"
    argv = ["pregenerate", str(pairs_file), "--out", str(out), "--device", "cpu"]
    argv += ["--explainer", "rise", "--rise-masks", "24,16", "--seed", "5", "--roles", "test=1"]
    assert main(argv) == 0
    manifest = validate_stimulus_manifest(out)
    assert manifest["seed"] == 5 and manifest["items"][0]["role"] == "test"
    assert manifest["explainer"]["parameters"]["stage1"]["num_masks"] == 24
    assert manifest["explainer"]["parameters"]["stage2"]["seed"] == 5
    assert "1 items computed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["pairs", "{tmp}", "--out", "{tmp}/p.json", "--require-truth"], "--labels"),
        (["pairs", "{tmp}", "--out", "{tmp}/p.json", "--tree", "none"], "--tree"),
        (["pairs", "{tmp}", "--out", "{tmp}/p.json", "--floor", "2"], "floor"),
        (["pregenerate", "{tmp}/missing.json", "--out", "{tmp}/s"], "missing.json"),
        (["pregenerate", "{pairs}", "--out", "{tmp}/s", "--roles", "warmup=2"], "--roles"),
        (["pregenerate", "{pairs}", "--out", "{tmp}/s", "--methods", "swox,x"], "'x'"),
    ],
)
def test_bad_options_exit_2_with_one_error_line(
    tmp_path: Path,
    pairs_file: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    named: str,
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{pairs}", str(pairs_file)) for a in argv]
    assert main([*argv, "--device", "cpu"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], lines
