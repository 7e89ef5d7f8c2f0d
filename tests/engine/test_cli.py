"""Tests of the command line ``python -m explain_engine explain ...`` (explain_engine.cli).

The end-to-end runs use the embedded EfficientNet-Lite0 on scikit-image's ``chelsea.png`` (a
tabby cat), in process through :func:`explain_engine.cli.main`, and are marked ``slow``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import skimage
import torch
from PIL import Image

from explain_engine.cli import main
from explain_engine.models import EMBEDDED_MODEL, EMBEDDED_TREE, imagenet_class_names
from explain_engine.registry import method_names
from explain_engine.tree import LatentTree

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RESNET50_TREE = SHARED_DATA / "cwox-reference" / "trees" / "ResNet50.json"
CHELSEA = Path(skimage.data.__file__).parent / "chelsea.png"
CATS = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
CROP = (224, 224)


def _read_explanation(out: Path, stem: str = "chelsea") -> dict:
    return json.loads((out / stem / "explanation.json").read_text(encoding="utf-8"))


def _assert_png(path: Path, size: tuple[int, int] | None = CROP) -> None:
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as image:
        assert image.format == "PNG"
        if size is not None:
            assert image.size == size
        image.load()


def _stderr_lines(text: str) -> list[str]:
    """Non-empty stderr lines, with progress-bar redraws (carriage returns) split off."""
    return [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]


def _error_lines(text: str) -> list[str]:
    return [line for line in _stderr_lines(text) if line.startswith("error:")]


# ------------------------------------------------------------------ Grad-CAM, all methods


@pytest.fixture(scope="module")
def gradcam_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("gradcam") / "out"
    code = main(
        [
            "explain",
            str(CHELSEA),
            "--out",
            str(out),
            "--explainer",
            "gradcam",
            "--methods",
            ",".join(method_names()),
            "--device",
            "auto",
            "--seed",
            "3",
        ]
    )
    return code, out


@pytest.mark.slow
def test_explain_succeeds_and_writes_one_folder_per_image(gradcam_run: tuple[int, Path]) -> None:
    code, out = gradcam_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["chelsea"]
    assert (out / "chelsea" / "explanation.json").is_file()
    _assert_png(out / "chelsea" / "input.png")
    assert not list((out / "chelsea").glob(".*.tmp"))  # no leftovers of atomic writes


@pytest.mark.slow
def test_explanation_json_model_and_provenance(gradcam_run: tuple[int, Path]) -> None:
    document = _read_explanation(gradcam_run[1])
    assert document["model"]["name"] == EMBEDDED_MODEL
    assert len(document["model"]["weights_sha256"]) == 64
    assert document["model"]["preprocessing"]["crop"] == 224
    assert document["image"] == str(CHELSEA)
    assert document["explainer"]["name"] == "gradcam"
    assert document["explainer"]["stage1_layer"] == "_conv_head"
    assert document["seed"] == 3
    assert document["top_k"] == {"max_k": 5, "cumulative": 0.95}
    assert document["tree"] == str(EMBEDDED_TREE)  # the embedded classifier's own tree


@pytest.mark.slow
def test_explanation_json_top_classes(gradcam_run: tuple[int, Path]) -> None:
    top = _read_explanation(gradcam_run[1])["top_classes"]
    names = imagenet_class_names()
    assert 1 <= len(top) <= 5
    assert {entry["name"] for entry in top} >= set(CATS.values())
    assert {entry["name"] for entry in top[:3]} == set(CATS.values())
    for entry in top:
        assert isinstance(entry["index"], int) and names[entry["index"]] == entry["name"]
        assert 0.0 < entry["probability"] <= 1.0
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) <= 1.0 + 1e-6
    assert len({entry["index"] for entry in top}) == len(top)


@pytest.mark.slow
def test_explanation_json_clusters_come_from_the_default_tree(
    gradcam_run: tuple[int, Path],
) -> None:
    document = _read_explanation(gradcam_run[1])
    top = [entry["index"] for entry in document["top_classes"]]
    probabilities = [entry["probability"] for entry in document["top_classes"]]
    expected = LatentTree.load(EMBEDDED_TREE).clusters(top, probabilities)
    clusters = document["clusters"]
    assert [tuple(member["index"] for member in cluster) for cluster in clusters] == expected
    assert len(clusters) < len(top)  # the tree groups some of chelsea's cats
    for cluster in clusters:
        for member in cluster:
            assert member["name"] == imagenet_class_names()[member["index"]]


@pytest.mark.slow
def test_explanation_json_methods_and_map_files(gradcam_run: tuple[int, Path]) -> None:
    out = gradcam_run[1] / "chelsea"
    document = _read_explanation(gradcam_run[1])
    top = {entry["index"] for entry in document["top_classes"]}
    assert set(document["methods"]) == set(method_names())
    files = set()
    for method, entry in document["methods"].items():
        assert entry["maps"], method
        _assert_png(out / entry["summary"], size=None)
        assert entry["summary"] == f"{method}-summary.png"
        for heatmap in entry["maps"]:
            assert heatmap["kind"] in ("cluster", "class")
            targets = {member["index"] for member in heatmap["target"]}
            foils = {member["index"] for member in heatmap["foil"]}
            assert targets and targets <= top and foils <= top and not targets & foils
            assert isinstance(heatmap["max_value"], float)
            assert heatmap["file"].startswith(f"{method}-{heatmap['kind']}-")
            _assert_png(out / heatmap["file"])
            files.add(heatmap["file"])
        class_maps = [h for h in entry["maps"] if h["kind"] == "class"]
        assert sorted(h["target"][0]["index"] for h in class_maps) == sorted(top)
        assert all(len(h["target"]) == 1 for h in class_maps)
    assert len(files) == sum(len(e["maps"]) for e in document["methods"].values())


@pytest.mark.slow
def test_swox_class_maps_are_not_empty(gradcam_run: tuple[int, Path]) -> None:
    swox = _read_explanation(gradcam_run[1])["methods"]["swox"]
    assert all(heatmap["kind"] == "class" for heatmap in swox["maps"])
    for heatmap in swox["maps"]:
        assert heatmap["foil"] == []
        assert heatmap["max_value"] > 0, heatmap["target"]


@pytest.mark.slow
def test_one_stage_contrastive_methods_contrast_with_the_other_top_classes(
    gradcam_run: tuple[int, Path],
) -> None:
    document = _read_explanation(gradcam_run[1])
    top = {entry["index"] for entry in document["top_classes"]}
    for method in ("cwox-1sa", "cwox-1sb"):
        for heatmap in document["methods"][method]["maps"]:
            target = {member["index"] for member in heatmap["target"]}
            assert {member["index"] for member in heatmap["foil"]} == top - target
    # the most probable class has positive contrastive evidence
    assert document["methods"]["cwox-1sa"]["maps"][0]["max_value"] > 0


@pytest.mark.slow
def test_cwox_2s_has_cluster_maps(gradcam_run: tuple[int, Path]) -> None:
    document = _read_explanation(gradcam_run[1])
    maps = document["methods"]["cwox-2s"]["maps"]
    cluster_maps = [h for h in maps if h["kind"] == "cluster"]
    assert len(cluster_maps) == len(document["clusters"])
    for cluster, heatmap in zip(document["clusters"], cluster_maps, strict=True):
        assert heatmap["target"] == cluster
    assert cluster_maps[0]["max_value"] > 0


# ------------------------------------------------------------------ RISE


@pytest.mark.slow
def test_explain_with_rise_and_few_masks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["explain", str(CHELSEA), "--out", str(out), "--explainer", "rise"]
    argv += ["--rise-masks", "40,30", "--methods", "cwox-2s", "--device", "cpu", "--seed", "0"]
    assert main(argv) == 0
    document = _read_explanation(out)
    assert set(document["methods"]) == {"cwox-2s"}
    assert document["explainer"]["name"] == "rise"
    assert document["explainer"]["stage1"]["num_masks"] == 40
    assert document["explainer"]["stage2"]["num_masks"] == 30
    assert {entry["name"] for entry in document["top_classes"][:3]} == set(CATS.values())
    maps = document["methods"]["cwox-2s"]["maps"]
    for heatmap in maps:
        _assert_png(out / "chelsea" / heatmap["file"])
        assert heatmap["max_value"] >= 0
    assert any(h["max_value"] > 0 for h in maps if h["kind"] == "cluster")
    assert any(h["max_value"] > 0 for h in maps if h["kind"] == "class")
    _assert_png(out / "chelsea" / "cwox-2s-summary.png", size=None)


# ------------------------------------------------------------------ published tree


@pytest.mark.slow
@pytest.mark.skipif(
    not RESNET50_TREE.is_file(), reason=f"published latent tree not available at {RESNET50_TREE}"
)
def test_published_tree_puts_the_cats_in_one_cluster(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["explain", str(CHELSEA), "--out", str(out), "--tree", str(RESNET50_TREE)]
    assert main(argv + ["--methods", "cwox-2s", "--device", "cpu"]) == 0
    document = _read_explanation(out)
    assert document["tree"] == str(RESNET50_TREE)
    clusters = [{member["index"] for member in cluster} for cluster in document["clusters"]]
    cat_clusters = [cluster for cluster in clusters if cluster & set(CATS)]
    assert len(cat_clusters) == 1 and cat_clusters[0] >= set(CATS)
    assert clusters[0] == cat_clusters[0]  # the most probable cluster comes first
    maps = document["methods"]["cwox-2s"]["maps"]
    cat_cluster_map = next(h for h in maps if h["kind"] == "cluster" and h["cluster"] == 0)
    assert {member["index"] for member in cat_cluster_map["target"]} == cat_clusters[0]
    assert cat_cluster_map["max_value"] > 0
    for heatmap in maps:
        if heatmap["kind"] == "class" and heatmap["cluster"] == 0:
            target = {member["index"] for member in heatmap["target"]}
            # a class map inside the cat cluster is contrasted with the other cats only
            assert {member["index"] for member in heatmap["foil"]} == cat_clusters[0] - target
        _assert_png(out / "chelsea" / heatmap["file"])


# ------------------------------------------------------------------ bad images in a batch


@pytest.mark.slow
def test_bad_images_do_not_stop_the_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_text("not a JPEG at all\n")
    missing = tmp_path / "missing.png"
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)
    out = tmp_path / "out"
    # batches of two: [corrupt, chelsea] and [missing, tiny], the second one with no good image
    images = [str(corrupt), str(CHELSEA), str(missing), str(tiny)]
    code = main(
        ["explain", *images, "--out", str(out), "--batch-size", "2"]
        + ["--methods", "swox", "--device", "cpu"]
    )
    captured = capsys.readouterr()
    assert code == 1
    document = _read_explanation(out)
    assert {entry["name"] for entry in document["top_classes"][:3]} == set(CATS.values())
    assert sorted(p.name for p in out.iterdir()) == ["chelsea"]
    errors = _error_lines(captured.err)
    assert len(errors) == 3, captured.err
    for bad in (corrupt, missing, tiny):
        assert sum(str(bad) in line for line in errors) == 1, (bad, errors)
    assert any("4x4" in line for line in errors)
    assert "Traceback" not in captured.err


def test_only_bad_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "gone.jpg"
    code = main(["explain", str(missing), "--out", str(tmp_path / "out"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1
    errors = _error_lines(captured.err)
    assert len(errors) == 1 and str(missing) in errors[0]
    assert not (tmp_path / "out" / "gone").exists()


# ------------------------------------------------------------------ bad options → exit 2


def _bad_tree(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "tree.json"
    path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--model", "no-such-model"], "no-such-model"),
        (["--model", "cwox_no_such_package.models:build"], "cwox_no_such_package"),
        (["--methods", "swox,nope"], "nope"),
        (["--methods", ","], "--methods"),
        (["--tree", "{tmp}/tree.json", "{not json"], "tree.json"),
        (["--tree", "{tmp}/tree.json", "[1, 2, 3]"], "tree.json"),
        (["--tree", "{tmp}/tree.json", '{"nodes": 3}'], "tree.json"),
        (["--tree", "{tmp}/no-tree.json"], "no-tree.json"),
        (["--explainer", "rise", "--rise-masks", "40"], "--rise-masks"),
        (["--model", "resnet18", "--weights", "{tmp}/missing.pth"], "missing.pth"),
        (["--device", "tpu9"], "tpu9"),
        (["--stage2-layer", "_blocks.99"], "_blocks.99"),
        (["--classes", "281,1000"], "1000"),
        (["--classes", "tabby"], "tabby"),
    ],
    ids=[
        "unknown-model",
        "unimportable-factory",
        "unknown-method",
        "no-method",
        "tree-not-json",
        "tree-not-a-tree-list",
        "tree-not-a-tree-object",
        "tree-missing",
        "rise-masks",
        "missing-weights",
        "device",
        "unknown-layer",
        "class-index-out-of-range",
        "class-not-an-index",
    ],
)
def test_bad_option_exits_2_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], named: str
) -> None:
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    if options[0] == "--tree" and len(options) == 3:
        _bad_tree(tmp_path, options.pop())
    out = tmp_path / "out"
    code = main(["explain", str(CHELSEA), "--out", str(out), *options])
    captured = capsys.readouterr()
    assert code == 2
    lines = _stderr_lines(captured.err)
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and named in lines[0]
    assert not (out / "chelsea").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available on this machine")
def test_cuda_device_without_cuda_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", str(CHELSEA), "--out", str(tmp_path), "--device", "cuda"])
    lines = _stderr_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and "cuda" in lines[0]


def test_unknown_explainer_is_rejected_by_argparse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(CHELSEA), "--out", str(tmp_path), "--explainer", "smoothgrad"])
    assert exit_info.value.code == 2
    assert "smoothgrad" in capsys.readouterr().err


# ------------------------------------------------------------------ the module entry point


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "explain_engine", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_module_help() -> None:
    result = _run_module("--help")
    assert result.returncode == 0, result.stderr
    assert "explain" in result.stdout and "demo" in result.stdout


@pytest.mark.slow
def test_tree_none_makes_every_class_its_own_cluster(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(["explain", str(CHELSEA), "--out", str(out), "--tree", "none", "--methods", "swox"])
        == 0
    )
    document = _read_explanation(out)
    top = [entry["index"] for entry in document["top_classes"]]
    assert [[m["index"] for m in cluster] for cluster in document["clusters"]] == [[c] for c in top]
    assert document["tree"] is None
