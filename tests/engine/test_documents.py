"""Documents of the offline phase: building (views, resume, bad images) and reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from explain_engine.cli import main
from explain_engine.documents import build_documents, find_images, read_documents, view_of
from explain_engine.errors import EngineInputError
from explain_engine.models import Classifier, Preprocessing


class MeanColourModel(nn.Module):
    """Logits from the mean colour: images of different colours get different top classes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(-2, -1))  # (B, 3)
        return torch.cat([mean * 8, -mean * 8, torch.zeros(len(x), 4)], dim=1)  # 10 classes


@pytest.fixture
def classifier() -> Classifier:
    return Classifier(
        name="mean-colour",
        model=MeanColourModel().eval(),
        preprocessing=Preprocessing(resize=36, crop=32, mean=(0.5,) * 3, std=(0.5,) * 3),
        class_names=tuple(f"c{i}" for i in range(10)),
        stage1_layer="",
        stage2_layer="",
        device=torch.device("cpu"),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "nested").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index, name in enumerate(["a.png", "b.jpg", "nested/c.png"]):
        pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        pixels[..., index] = 255
        Image.fromarray(pixels).save(root / name)
    (root / "notes.txt").write_text("not an image")
    return root


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_document_per_view_of_every_image_found_recursively(classifier, folder, tmp_path):
    out = tmp_path / "docs.jsonl"
    written, failed = build_documents(classifier, folder, out, views=3, progress=False)
    assert (written, failed) == (12, 0)
    records = _lines(out)
    keys = {(r["image"], r["view"]) for r in records}
    assert keys == {(i, v) for i in ("a.png", "b.jpg", "nested/c.png") for v in range(4)}
    for record in records:
        assert 1 <= len(record["classes"]) <= 5
        assert record["single_label"] == (len(record["classes"]) == 1)
        assert record["probabilities"] == sorted(record["probabilities"], reverse=True)


def test_views_are_seeded_and_independent_of_call_order(classifier, folder):
    image = Image.open(folder / "a.png").convert("RGB")
    first = [np.asarray(view_of(image, classifier, v, 7, "a.png")) for v in (1, 2, 3)]
    again = [np.asarray(view_of(image, classifier, v, 7, "a.png")) for v in (3, 2, 1)][::-1]
    other_seed = np.asarray(view_of(image, classifier, 1, 8, "a.png"))
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other_seed)
    assert view_of(image, classifier, 0, 7, "a.png") is image


def test_rerun_resumes_and_discards_a_partly_written_line(classifier, folder, tmp_path):
    out = tmp_path / "docs.jsonl"
    build_documents(classifier, folder, out, views=2, progress=False)
    complete = _lines(out)
    kept = out.read_text().splitlines()[:4]
    out.write_text("\n".join(kept) + "\n" + '{"image": "b.jpg", "vi')
    written, _ = build_documents(classifier, folder, out, views=2, progress=False)
    assert written == len(complete) - 4
    resumed = _lines(out)
    assert sorted(map(json.dumps, resumed)) == sorted(map(json.dumps, complete))


def test_unreadable_image_is_reported_once_and_skipped(classifier, folder, tmp_path, capsys):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "docs.jsonl"
    written, failed = build_documents(classifier, folder, out, views=1, progress=False)
    assert (written, failed) == (6, 1)
    assert "broken.jpg" in capsys.readouterr().err
    errors = [r for r in _lines(out) if "error" in r]
    assert [r["image"] for r in errors] == ["broken.jpg"]
    assert build_documents(classifier, folder, out, views=1, progress=False) == (0, 0)
    assert len(read_documents(out, num_classes=10)) == 6


def test_find_images_rejects_a_missing_folder(tmp_path):
    with pytest.raises(EngineInputError, match="not a folder"):
        find_images(tmp_path / "missing")


def test_reads_the_reference_format(tmp_path):
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"val/1.JPEG": [486, 889], "val/2.JPEG": [3]}))
    documents = read_documents(path)
    assert [(d.image, d.classes, d.single_label) for d in documents] == [
        ("val/1.JPEG", (486, 889), False),
        ("val/2.JPEG", (3,), True),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"image": "a", "classes": [1, 2]}\n{"image": "b", "classes": [1000]}\n',
            ":2: class index 1000",
        ),
        ('{"image": "a", "classes": [1]}\n\n{"image": "b", "classes": [2]}\n', ":2: empty line"),
        ('{"image": "a", "classes": [1]}\nnot json\n', ":2: not JSON"),
        ('{"image": "a"}\n', ":1: no classes"),
        ('{"image": "a", "classes": ["x"]}\n', ":1: class 'x' is not an integer"),
        ("[1, 2]\n", ":1: expected an object"),
    ],
)
def test_malformed_documents_name_the_line(tmp_path, content, message):
    path = tmp_path / "docs.jsonl"
    path.write_text(content)
    with pytest.raises(EngineInputError, match=message.replace("(", r"\(")) as error:
        read_documents(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_reference_format_with_unknown_class_names_the_image(tmp_path):
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"val/1.JPEG": [-1]}))
    with pytest.raises(EngineInputError, match="val/1.JPEG.*class index -1"):
        read_documents(path)


@pytest.mark.slow
def test_build_documents_command_on_the_embedded_model(folder, tmp_path, capsys):
    out = tmp_path / "docs.jsonl"
    assert main(["build-documents", str(folder), "--out", str(out), "--views", "1"]) == 0
    assert len(read_documents(out)) == 6
    assert "6 documents written" in capsys.readouterr().out
