"""Evaluation harness: pairs, skips, resume, bad images, tables and tests."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats
from torch import nn

from explain_engine.cli import main
from explain_engine.errors import EngineInputError
from explain_engine.evaluation import (
    PAIR_COLUMNS,
    evaluate_folder,
    read_pairs,
    sample_images,
    summarize,
    write_tables,
)
from explain_engine.evaluation.tables import cell
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE, RiseSettings, RiseStages
from explain_engine.intervals import t_interval
from explain_engine.metrics import MetricSettings
from explain_engine.models import Classifier, Preprocessing
from explain_engine.registry import method_names
from explain_engine.tree import LatentTree, TreeNode

# Tree clusters {0, 1}, {2, 3}, {4, 5}.
TREE = LatentTree(
    [
        TreeNode("Z4", 2),
        TreeNode("Z1", 1, "Z4"),
        TreeNode("Z2", 1, "Z4"),
        TreeNode("Z3", 1, "Z4"),
        *[TreeNode(f"c{i}", 0, f"Z{i // 2 + 1}", i) for i in range(6)],
    ]
)
# Logits by dominant colour: red → 0 and 1 (one cluster, 2 pairs); green → class 2 alone
# (K = 1); blue → 2 and 4 (two singleton clusters).
COLOUR_LOGITS = torch.tensor([[6.0, 5.8, 0, 0, 0, 0], [0, 0, 9.0, 0, 0, 0], [0, 0, 6.0, 0, 5.8, 0]])
SIGNS = torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1]]) * 0.8


class ColourNet(nn.Module):
    """Convolutions for Grad-CAM plus a colour term that fixes the top classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stage2 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.stage1 = nn.Sequential(nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.Tanh())
        self.head = nn.Linear(5, 6)
        self.register_buffer("colour", torch.linalg.solve(SIGNS, COLOUR_LOGITS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stage1(self.stage2(x)).mean(dim=(-2, -1))
        return 0.5 * self.head(features) + x.mean(dim=(-2, -1)) @ self.colour


@pytest.fixture
def classifier() -> Classifier:
    model = ColourNet().eval().requires_grad_(False)
    return Classifier(
        name="colour-net",
        model=model,
        preprocessing=Preprocessing(resize=36, crop=32, mean=(0.5,) * 3, std=(0.5,) * 3),
        class_names=tuple(f"c{i}" for i in range(6)),
        stage1_layer="stage1",
        stage2_layer="stage2",
        device=torch.device("cpu"),
    )


def _image(channel: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 50, (40, 40, 3)).astype(np.uint8)
    pixels[..., channel] += 200
    return Image.fromarray(pixels)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    _image(0, 1).save(root / "a_red.png")
    _image(1, 2).save(root / "b_green.png")
    _image(2, 3).save(root / "c_blue.png")
    _image(0, 4).save(root / "d_red.png")
    return root


EXPLAINERS = [
    GradCAM(),
    RISE(RiseStages(RiseSettings(num_masks=16, grid=4), RiseSettings(num_masks=16, grid=4))),
]
METRIC = MetricSettings(step=64)


def run(classifier, folder, out, **kwargs):
    options = {"tree": TREE, "metric": METRIC, "progress": False, **kwargs}
    return evaluate_folder(classifier, folder, out, EXPLAINERS, **options)


def test_rows_for_every_pair_method_and_explainer_and_skips_with_reasons(
    classifier, folder, tmp_path
):
    out = tmp_path / "out"
    summary = run(classifier, folder, out)
    pairs = read_pairs(out / "pairs.csv")
    assert tuple(pairs.columns) == PAIR_COLUMNS
    expected = {
        (image, explainer, method, target, foil)
        for image in ("a_red.png", "d_red.png")
        for explainer in ("gradcam", "rise")
        for method in method_names()
        for target, foil in ((0, "1"), (1, "0"))
    }
    got = set(
        zip(*(pairs[c] for c in ("image", "explainer", "method", "target", "foil")), strict=True)
    )
    assert got == expected and len(pairs) == len(expected) == 32
    assert summary.rows == 32 and summary.evaluated == 4 and not summary.failed
    assert summary.skipped["b_green.png"].startswith("K = 1")
    assert summary.skipped["c_blue.png"].startswith("only singleton clusters")
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    skipped = {p["image"]: p["reason"] for p in progress if p["status"] == "skipped"}
    assert skipped == summary.skipped
    # CAUC of one pair uses the minimum n_δ over the methods compared.
    for _, group in pairs.groupby(["image", "explainer", "target"]):
        live = group[~group["degenerate"]]
        assert (live["cauc_pixels"] == live["n_delta"].min()).all()
    settings = json.loads((out / "settings.json").read_text())
    assert settings["model"] == "colour-net" and settings["metric"]["step"] == 64
    assert set(settings["explainers"]) == {"gradcam", "rise"}


def test_rerun_adds_nothing_and_an_interrupted_run_completes_without_duplicates(
    classifier, folder, tmp_path
):
    out = tmp_path / "out"
    run(classifier, folder, out)
    first = (out / "pairs.csv").read_text()
    again = run(classifier, folder, out)
    assert (out / "pairs.csv").read_text() == first
    assert again.evaluated == 0 and again.rows == 0 and again.resumed == 8

    # Interrupted: the last progress line is cut in half and a row is half written.
    lines = (out / "progress.jsonl").read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    (out / "progress.jsonl").write_text("".join(lines[:-1]) + lines[-1][:10])
    with open(out / "pairs.csv", "a") as handle:
        handle.write("d_red.png,gradcam,sw")
    resumed = run(classifier, folder, out)
    assert resumed.evaluated == 1 and resumed.rows == 8
    pairs = read_pairs(out / "pairs.csv")
    keys = ["image", "explainer", "method", "target", "foil"]
    assert not pairs.duplicated(keys).any() and len(pairs) == 32
    assert (last["image"], last["explainer"]) in set(
        zip(pairs["image"], pairs["explainer"], strict=True)
    )
    assert pd.read_csv(out / "pairs.csv").equals(pd.read_csv(io.StringIO(first)))


def test_corrupt_image_is_reported_skipped_and_others_still_evaluated(
    classifier, folder, tmp_path, capsys
):
    (folder / "broken.png").write_bytes(b"not a png")
    summary = run(classifier, folder, tmp_path / "out")
    assert list(summary.failed) == ["broken.png"]
    assert "error:" in capsys.readouterr().err
    assert summary.rows == 32
    progress = (tmp_path / "out" / "progress.jsonl").read_text()
    assert '"status": "error"' in progress


def test_tables_are_means_with_t_intervals_and_paired_wilcoxon(classifier, folder, tmp_path):
    out = tmp_path / "out"
    run(classifier, folder, out)
    text = write_tables(out)
    pairs = read_pairs(out / "pairs.csv")
    tables = summarize(pairs)
    valid = pairs[~pairs["degenerate"]]
    for table, column in ((tables.table1, "cauc"), (tables.table2, "cdrop")):
        assert set(table["method"]) == set(method_names())
        for row in table.itertuples():
            values = valid[(valid["method"] == row.method) & (valid["explainer"] == row.explainer)]
            values = values[column].to_numpy()
            values = values[np.isfinite(values)]
            assert row.n == len(values)
            if len(values):
                assert row.mean == pytest.approx(values.mean())
    t3 = tables.table3.set_index(["explainer", "quantity"])
    for explainer in ("gradcam", "rise"):
        ours = valid[(valid["method"] == "cwox-2s") & (valid["explainer"] == explainer)]
        for quantity in ("n_delta", "cauc", "cdrop"):
            assert t3.loc[(explainer, quantity), "mean"] == pytest.approx(ours[quantity].mean())
    # Written files.
    for name in ("table1.csv", "table2.csv", "table3.csv", "tests.csv", "tables.tex"):
        assert (out / name).is_file()
    assert (out / "tables.md").read_text() == text
    assert "Table 1" in text and " ± " in text and "(n=" in text
    assert "\\begin{tabular}" in (out / "tables.tex").read_text()
    assert pd.read_csv(out / "table1.csv")["mean"].tolist() == pytest.approx(
        tables.table1["mean"].tolist(), nan_ok=True
    )


def test_t_interval_matches_scipy_and_skips_nan():
    values = [0.1, 0.4, 0.35, math.nan, 0.2, 0.8]
    interval = t_interval(values)
    finite = np.array([0.1, 0.4, 0.35, 0.2, 0.8])
    low, high = stats.t.interval(0.95, 4, loc=finite.mean(), scale=stats.sem(finite))
    half = stats.t.ppf(0.975, 4) * finite.std(ddof=1) / math.sqrt(5)
    assert interval.n == 5 and interval.estimate == pytest.approx(finite.mean())
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.half_width == pytest.approx(half)
    assert cell(interval) == f"{finite.mean():.2e} ± {half:.1e} (n=5)"
    assert cell(t_interval([2.0])) == "2.00e+00 (n=1)"
    assert t_interval([]).n == 0


def _synthetic_pairs() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for i in range(12):
        for method, shift in (("cwox-2s", -0.01), ("swox", 0.0)):
            cauc = 0.05 + shift + rng.normal(0, 0.004)
            cdrop = 0.2 - 5 * shift + rng.normal(0, 0.01)
            degenerate = method == "swox" and i == 0
            rows.append(
                {
                    "image": f"im{i}.png",
                    "explainer": "gradcam",
                    "method": method,
                    "target": 3,
                    "foil": "4",
                    "n_delta": 0 if degenerate else 100 + i,
                    "cauc_pixels": 0 if degenerate else 100,
                    "cauc": math.nan if degenerate else cauc,
                    "cdrop": math.nan if degenerate else cdrop,
                    "degenerate": degenerate,
                }
            )
    return pd.DataFrame(rows)


def test_wilcoxon_on_shared_finite_pairs_with_declared_direction():
    pairs = _synthetic_pairs()
    tests = summarize(pairs).tests.set_index(["metric", "other"])
    ours = pairs[pairs["method"] == "cwox-2s"].set_index("image")
    theirs = pairs[pairs["method"] == "swox"].set_index("image")
    shared = theirs.index[~theirs["degenerate"]]
    for metric in ("cauc", "cdrop"):
        a, b = ours.loc[shared, metric].to_numpy(), theirs.loc[shared, metric].to_numpy()
        expected = stats.wilcoxon(a, b)
        row = tests.loc[(metric, "swox")]
        assert row["n"] == 11
        assert row["p_value"] == pytest.approx(expected.pvalue)
        assert row["statistic"] == pytest.approx(expected.statistic)
        assert row["median_difference"] == pytest.approx(np.median(a - b))
        assert row["better"] == "cwox-2s"  # lower CAUC and higher CDROP


def test_an_explainer_is_added_to_a_folder_but_keeps_its_parameters(classifier, folder, tmp_path):
    out = tmp_path / "out"
    gradcam, rise = EXPLAINERS
    options = {"tree": TREE, "metric": METRIC, "progress": False, "limit": 1}
    evaluate_folder(classifier, folder, out, [rise], **options)
    evaluate_folder(classifier, folder, out, [gradcam], **options)  # adding one is fine
    assert set(json.loads((out / "settings.json").read_text())["explainers"]) == {
        "gradcam",
        "rise",
    }
    more_masks = RISE(
        RiseStages(RiseSettings(num_masks=32, grid=4), RiseSettings(num_masks=16, grid=4))
    )
    with pytest.raises(EngineInputError, match="rise parameters"):
        evaluate_folder(classifier, folder, out, [more_masks], **options)
    # nothing was evaluated with the refused settings
    assert set(read_pairs(out / "pairs.csv")["explainer"]) <= {"gradcam", "rise"}
    assert json.loads((out / "settings.json").read_text())["explainers"]["rise"] == (
        rise.parameters(classifier)
    )


def test_sample_is_seeded_sorted_and_a_larger_one_extends_a_smaller_one():
    images = [Path(f"img{i:03d}.png") for i in range(50)]
    small, large = sample_images(images, 10, 3), sample_images(images, 25, 3)
    assert small == sample_images(images, 10, 3) and small == sorted(small)
    assert len(set(small)) == 10 and set(small) < set(large)
    assert sample_images(images, 10, 4) != small
    assert sample_images(images, 80, 3) == images


def cli_argv(classifier, folder, out, tmp_path, monkeypatch) -> list[str]:
    """``evaluate`` arguments on the test tree and classifier (Grad-CAM, step 128)."""
    tree_file = tmp_path / "tree.json"
    tree_file.write_text(json.dumps(TREE.to_dict()))
    monkeypatch.setattr("explain_engine.offline_jobs.load_classifier", lambda *a: classifier)
    argv = ["evaluate", str(folder), "--out", str(out), "--tree", str(tree_file)]
    return [*argv, "--explainers", "gradcam", "--step", "128"]


def test_cli_samples_images_and_rejects_bad_counts(classifier, folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = cli_argv(classifier, folder, out, tmp_path, monkeypatch)
    for bad in (["--sample", "0"], ["--batch-size", "0"], ["--limit", "-1"]):
        assert main([*argv, *bad]) == 2
    assert main([*argv, "--sample", "1", "--batch-size", "5"]) == 0
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert len({entry["image"] for entry in progress}) == 1
    settings = json.loads((out / "settings.json").read_text())
    assert settings["batch_size"] == 5 and "batch_size" not in settings["metric"]
    # another batch size resumes in the same folder (it changes no score)
    assert main([*argv, "--sample", "1", "--batch-size", "7"]) == 0


def test_cli_reports_corrupt_image_with_exit_status_one(
    classifier, folder, tmp_path, monkeypatch, capsys
):
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    argv = cli_argv(classifier, folder, out, tmp_path, monkeypatch)
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "error:" in captured.err and "Table 1" in captured.out
    assert len(read_pairs(out / "pairs.csv")) == 16
    assert json.loads((out / "settings.json").read_text())["options"]["step"] == 128
    # Another metric step in the same folder is refused (results would be mixed).
    assert main([*argv[:-1], "32"]) == 2


@pytest.mark.slow
def test_embedded_model_end_to_end(tmp_path):
    import skimage

    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(Path(skimage.data.__file__).parent / "chelsea.png", folder)
    out = tmp_path / "out"
    argv = ["evaluate", str(folder), "--out", str(out), "--limit", "1", "--step", "256"]
    assert main([*argv, "--explainers", "gradcam"]) == 0
    assert (out / "tables.md").is_file()
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert len(progress) == 1 and progress[0]["status"] in ("done", "skipped")
