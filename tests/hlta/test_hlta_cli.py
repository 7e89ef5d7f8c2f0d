"""``python -m explain_engine build-tree``: outputs, settings in the metadata, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Planted

from explain_engine.cli import main
from explain_engine.hlta import read_bif
from explain_engine.hlta.compare import adjusted_rand_index, class_partition
from explain_engine.tree import LatentTree


@pytest.fixture(scope="module")
def documents_file(tmp_path_factory: pytest.TempPathFactory, planted: Planted) -> Path:
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl"
    lines = [
        json.dumps({"image": f"img{i}.jpg", "view": 0, "classes": labels})
        for i, labels in enumerate(planted.documents)
        if labels
    ]
    lines.append(json.dumps({"image": "broken.jpg", "error": "not an image"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _build(documents: Path, out: Path, planted: Planted, *options: str) -> int:
    return main(
        [
            "build-tree",
            str(documents),
            "--out",
            str(out),
            "--classes",
            str(planted.num_classes),
            *options,
        ]
    )


def test_build_tree_writes_all_three_formats(documents_file, planted, tmp_path, capsys):
    out, nodes, bif = tmp_path / "tree.json", tmp_path / "tree.nodes.json", tmp_path / "tree.bif"
    code = _build(
        documents_file, out, planted, "--hlta-json", str(nodes), "--bif", str(bif), "--seed", "4"
    )
    assert code == 0
    tree = LatentTree.load(out)
    assert tree.metadata["settings"]["seed"] == 4
    assert tree.metadata["settings"]["max_island"] == 10
    assert tree.metadata["documents"] == str(documents_file)
    partition = class_partition(tree)
    seen = sorted(partition)
    planted_groups = [planted.group[c] for c in seen]
    assert adjusted_rand_index([partition[c] for c in seen], planted_groups) >= 0.9
    assert class_partition(LatentTree.load(nodes)) == partition
    model = read_bif(bif)
    assert {f"c{c}" for c in seen} <= set(model.names)
    assert "latents per level" in capsys.readouterr().out


def test_same_documents_and_seed_give_the_same_file(documents_file, planted, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _build(documents_file, first, planted, "--seed", "2") == 0
    assert _build(documents_file, second, planted, "--seed", "2") == 0
    assert first.read_bytes() == second.read_bytes()


def test_options_reach_the_learner(documents_file, planted, tmp_path):
    out = tmp_path / "tree.json"
    options = [
        "--batch-bic",
        "off",
        "--ct-threshold",
        "off",
        "--sample",
        "off",
        "--max-island",
        "6",
        "--max-top",
        "8",
        "--restarts",
        "4",
        "--em-steps",
        "50",
    ]
    assert _build(documents_file, out, planted, *options) == 0
    settings = LatentTree.load(out).metadata["settings"]
    assert settings["bic_batch_size"] is None and settings["ct_threshold"] is None
    assert settings["struct_sample_size"] is None
    assert (settings["max_island"], settings["max_top"]) == (6, 8)
    assert (settings["em_restarts"], settings["em_max_steps"]) == (4, 50)
    sizes = [len(cluster) for cluster in _level1_groups(LatentTree.load(out))]
    assert max(sizes) <= 6


def _level1_groups(tree: LatentTree) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for class_index, parent in class_partition(tree).items():
        groups.setdefault(parent, []).append(class_index)
    return list(groups.values())


def test_malformed_documents_exit_2_naming_the_line(tmp_path, capsys):
    documents = tmp_path / "docs.jsonl"
    documents.write_text('{"image": "a", "classes": [1, 2]}\n{"image": "b", "classes": [7, 99]}\n')
    code = main(
        ["build-tree", str(documents), "--out", str(tmp_path / "t.json"), "--classes", "50"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{documents}:2" in err and "99" in err
    assert not (tmp_path / "t.json").exists()


def test_bad_setting_exits_2(documents_file, tmp_path, capsys):
    code = main(
        ["build-tree", str(documents_file), "--out", str(tmp_path / "t.json"), "--max-island", "2"]
    )
    assert code == 2
    assert "max_island" in capsys.readouterr().err
