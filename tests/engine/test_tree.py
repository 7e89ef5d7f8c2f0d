"""The latent tree: published HLTA trees, cuts, ordering, round trips and malformed files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from explain_engine.errors import EngineInputError
from explain_engine.tree import LatentTree, TreeNode, singleton_clusters

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TOP_CLASSES = [486, 889, 402, 420, 546]  # cello, violin, acoustic guitar, banjo, electric guitar


@pytest.fixture(scope="module")
def trees_dir() -> Path:
    folder = DATA_DIR / "cwox-reference" / "trees"
    if not folder.is_dir():
        pytest.skip(f"published CWOX trees not found at {folder} (shared data folder absent)")
    return folder


def small_tree(metadata: dict | None = None) -> LatentTree:
    """Z9 (3) -> Z5 (2) -> Z1 {7, 8}, Z2 {1}; Z9 -> Z6 (2) -> Z3 {100, 99}; Z4 (1, root) {2, 3}."""
    latents = [
        ("Z9", 3, None),
        ("Z5", 2, "Z9"),
        ("Z6", 2, "Z9"),
        ("Z1", 1, "Z5"),
        ("Z2", 1, "Z5"),
        ("Z3", 1, "Z6"),
        ("Z4", 1, None),
    ]
    classes = [
        (7, "cock", "Z1"),
        (8, "hen", "Z1"),
        (1, "goldfish", "Z2"),
        (100, "black_swan", "Z3"),
        (99, "goose", "Z3"),
        (2, "great_white_shark", "Z4"),
        (3, "tiger_shark", "Z4"),
    ]
    return LatentTree(
        [
            TreeNode(i, level, parent, metadata={"percentage": 0.25 * level})
            for i, level, parent in latents
        ]
        + [TreeNode(f"c{c}", 0, parent, c, name, {"p0": c / 1000}) for c, name, parent in classes],
        metadata,
    )


def project_dict(nodes: list[dict]) -> dict:
    return {"format": "cwox-latent-tree", "version": 1, "metadata": {}, "nodes": nodes}


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------------- published trees


def test_resnet50_tree_cut_groups_cello_with_violin(trees_dir: Path) -> None:
    tree = LatentTree.load(trees_dir / "ResNet50.json")
    assert tree.clusters(TOP_CLASSES) == [(486, 889), (402, 420, 546)]


def test_googlenet_tree_cut_separates_banjo_from_guitars(trees_dir: Path) -> None:
    tree = LatentTree.load(trees_dir / "GoogleNet.json")
    assert tree.clusters(TOP_CLASSES) == [(486, 889), (402, 546), (420,)]


@pytest.mark.parametrize("name", ["ResNet50.json", "GoogleNet.json"])
def test_published_tree_gives_every_class_exactly_one_level1_parent(
    trees_dir: Path, name: str
) -> None:
    tree = LatentTree.load(trees_dir / name)
    assert tree.class_indices == tuple(range(1000))
    parents = [tree.level1_parent(c) for c in range(1000)]
    assert all(parent is not None and tree.node(parent).level == 1 for parent in parents)
    level1 = [node.id for node in tree.nodes if node.level == 1]
    assert sum(len(tree.children(z)) for z in level1) == 1000


def test_resnet50_tree_has_published_shape_and_names(trees_dir: Path) -> None:
    tree = LatentTree.load(trees_dir / "ResNet50.json")
    counts = {level: sum(n.level == level for n in tree.nodes) for level in tree.levels}
    assert counts == {0: 1000, 1: 287, 2: 77, 3: 18, 4: 6}
    assert tree.max_level == 4
    assert tree.class_node(607).name == "jack-o'-lantern"
    assert tree.level1_parent(486) == tree.level1_parent(889)


def test_resnet50_tree_survives_hlta_export_and_import(trees_dir: Path, tmp_path: Path) -> None:
    tree = LatentTree.load(trees_dir / "ResNet50.json")
    exported = write(tmp_path / "export.json", tree.to_hlta_topic_tree())
    assert LatentTree.from_hlta_topic_tree(exported) == tree


def test_resnet50_hlta_export_reproduces_published_level1_text(trees_dir: Path) -> None:
    original = json.loads((trees_dir / "ResNet50.json").read_text(encoding="utf-8"))
    exported = LatentTree.load(trees_dir / "ResNet50.json").to_hlta_topic_tree()

    def level1_text(roots: list[dict]) -> dict[str, str]:
        found: dict[str, str] = {}
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node["data"]["level"] == 1:
                found[node["id"]] = node["text"]
            stack.extend(node["children"])
        return found

    assert level1_text(exported) == level1_text(original)


# --------------------------------------------------------------------------- queries, cuts


def test_small_tree_answers_parent_and_ancestor_queries() -> None:
    tree = small_tree()
    assert tree.parent("c7") == "Z1" and tree.parent("Z9") is None
    assert tree.children("Z5") == ("Z1", "Z2")
    assert tree.roots == ("Z9", "Z4")
    assert tree.class_indices == (1, 2, 3, 7, 8, 99, 100)
    assert tree.levels == (0, 1, 2, 3) and tree.max_level == 3
    assert tree.level1_parent(8) == "Z1"
    assert [tree.ancestor_at_level(7, level) for level in range(5)] == [
        "c7",
        "Z1",
        "Z5",
        "Z9",
        "Z9",
    ]


def test_ancestor_at_level_stops_at_top_of_shallow_branch() -> None:
    assert small_tree().ancestor_at_level(2, 3) == "Z4"


def test_cut_at_level1_groups_siblings_in_input_order() -> None:
    tree = small_tree()
    assert tree.clusters([1, 99, 8, 2, 7, 100]) == [(1,), (99, 100), (8, 7), (2,)]


def test_cut_at_level2_merges_level1_clusters() -> None:
    tree = small_tree()
    classes = [7, 100, 1, 2]
    assert tree.clusters(classes) == [(7,), (100,), (1,), (2,)]
    assert tree.clusters(classes, level=2) == [(7, 1), (100,), (2,)]
    assert tree.clusters(classes, level=3) == [(7, 100, 1), (2,)]


def test_clusters_ordered_by_best_class_probability_then_within_by_probability() -> None:
    tree = small_tree()
    classes = [7, 8, 100, 99, 2]
    probabilities = [0.05, 0.2, 0.1, 0.4, 0.25]
    expected = [(99, 100), (2,), (8, 7)]
    assert tree.clusters(classes, probabilities) == expected
    assert tree.clusters(classes, dict(zip(classes, probabilities, strict=True))) == expected


def test_probability_ties_keep_input_order() -> None:
    assert small_tree().clusters([8, 7, 2], [0.3, 0.3, 0.3]) == [(8, 7), (2,)]


def test_class_missing_from_tree_becomes_singleton_with_warning() -> None:
    with pytest.warns(UserWarning, match="class 555 is not in the latent tree"):
        clusters = small_tree().clusters([7, 555, 8], {7: 0.2, 555: 0.5, 8: 0.3})
    assert clusters == [(555,), (8, 7)]


def test_a_partial_tree_makes_missing_classes_singletons_quietly() -> None:
    partial = small_tree({"partial": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert partial.clusters([7, 555, 8], {7: 0.2, 555: 0.5, 8: 0.3}) == [(555,), (8, 7)]


def test_singleton_clusters_without_tree() -> None:
    assert singleton_clusters([5, 3, 9]) == [(5,), (3,), (9,)]
    assert singleton_clusters([5, 3, 9], [0.1, 0.6, 0.3]) == [(3,), (9,), (5,)]


def test_clusters_reject_repeated_classes_and_misaligned_probabilities() -> None:
    tree = small_tree()
    with pytest.raises(EngineInputError, match="repeat"):
        tree.clusters([7, 7])
    with pytest.raises(EngineInputError, match="2 probabilities for 3 classes"):
        tree.clusters([7, 8, 1], [0.5, 0.5])
    with pytest.raises(EngineInputError, match=r"no probability given for classes \[8\]"):
        tree.clusters([7, 8], {7: 0.5})


def test_unknown_class_or_node_lookup_raises_engine_input_error() -> None:
    tree = small_tree()
    with pytest.raises(EngineInputError, match="class 5 is not in the latent tree"):
        tree.level1_parent(5)
    with pytest.raises(EngineInputError, match="no node 'Z77'"):
        tree.parent("Z77")


# ------------------------------------------------------------------------------ round trips


def test_project_json_save_load_round_trip(tmp_path: Path) -> None:
    tree = small_tree({"learner": "hlta", "documents": 1200, "settings": {"delta": 3}})
    path = tmp_path / "tree.json"
    tree.save(path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == "cwox-latent-tree" and saved["version"] == 1
    assert {
        "id": "c7",
        "level": 0,
        "parent": "Z1",
        "class_index": 7,
        "name": "cock",
        "metadata": {"p0": 0.007},
    } in saved["nodes"]
    loaded = LatentTree.load(path)
    assert loaded == tree
    assert loaded.metadata["settings"] == {"delta": 3}
    assert [tmp.name for tmp in tmp_path.iterdir()] == ["tree.json"]


def test_hlta_export_import_round_trip_of_small_tree(tmp_path: Path) -> None:
    tree = small_tree()
    exported = tree.to_hlta_topic_tree()
    assert LatentTree.from_hlta_topic_tree(exported) == tree
    path = write(tmp_path / "small.nodes.json", exported)
    assert LatentTree.load(path) == tree  # auto-detected as an HLTA topic tree


def test_hlta_export_writes_published_shape_with_zero_for_unknown_numbers() -> None:
    tree = LatentTree(
        [
            TreeNode("Z1", 1),
            TreeNode("c7", 0, "Z1", 7, "cock"),
            TreeNode("c8", 0, "Z1", 8, "black swan"),
        ]
    )
    assert tree.to_hlta_topic_tree() == [
        {
            "id": "Z1",
            "text": "c007-cock 0.0 c008-black_swan 0.0",
            "data": {"name": "Z1", "level": 1, "percentage": 0.0},
            "children": [],
        }
    ]


def test_hlta_export_refuses_class_without_level1_parent() -> None:
    tree = LatentTree([TreeNode("Z2", 2), TreeNode("c7", 0, "Z2", 7, "cock")])
    with pytest.raises(ValueError, match="class 7 .* no level-1 parent"):
        tree.to_hlta_topic_tree()


# ------------------------------------------------------------------------- malformed files

CLASS_7 = {"id": "c7", "level": 0, "parent": "Z1", "class_index": 7, "name": "cock"}
Z1 = {"id": "Z1", "level": 1, "parent": None, "class_index": None, "name": None}

MALFORMED = {
    "invalid_json": ('{"format": "cwox-latent-tree", "nodes": [', "not valid JSON"),
    "top_level_string": ('"a tree"', "top level is a JSON str"),
    "wrong_format_name": ({"format": "other", "nodes": []}, '"format": "cwox-latent-tree"'),
    "unsupported_version": ({**project_dict([]), "version": 7}, "version 7"),
    "nodes_not_list": ({**project_dict([]), "nodes": {"Z1": 1}}, '"nodes"'),
    "class_listed_twice": (
        project_dict([Z1, CLASS_7, {**CLASS_7, "id": "c7b"}]),
        "class 7 is listed twice",
    ),
    "duplicate_node_id": (project_dict([Z1, Z1]), "node id Z1 is listed twice"),
    "dangling_parent": (
        project_dict([{**CLASS_7, "parent": "Z404"}]),
        "parent Z404, which is not a node",
    ),
    "parent_cycle": (
        project_dict([{**Z1, "parent": "Z2"}, {**Z1, "id": "Z2", "level": 2, "parent": "Z1"}]),
        "cycle",
    ),
    "child_level_not_below_parent": (
        project_dict([Z1, {**Z1, "id": "Z2", "parent": "Z1"}]),
        "expected a parent level above the child level",
    ),
    "non_integer_class_index": (
        project_dict([Z1, {**CLASS_7, "class_index": "7"}]),
        "class_index '7'",
    ),
    "latent_with_class_index": (
        project_dict([{**Z1, "class_index": 3}]),
        "latent node Z1 (level 1) has class index 3",
    ),
    "hlta_class_twice": (
        [
            {
                "id": "Z1",
                "text": "c7-cock 0.0 c7-cock 0.1",
                "data": {"name": "Z1", "level": 1, "percentage": 0.5},
                "children": [],
            }
        ],
        "class 7 is listed twice",
    ),
    "hlta_node_not_object": ([["Z1"]], "is not an object"),
    "hlta_bad_token": (
        [
            {
                "id": "Z1",
                "text": "c7-cock 0.0 0.1",
                "data": {"name": "Z1", "level": 1, "percentage": 0.5},
                "children": [],
            }
        ],
        "token '0.1'",
    ),
    "hlta_missing_data": ([{"id": "Z1", "text": "", "children": []}], '"data"'),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_tree_file_raises_engine_input_error_naming_file(
    tmp_path: Path, case: str
) -> None:
    content, expected = MALFORMED[case]
    path = write(tmp_path / f"{case}.json", content)
    with pytest.raises(EngineInputError) as caught:
        LatentTree.load(path)
    message = str(caught.value)
    assert str(path) in message and expected in message and "\n" not in message


def test_missing_tree_file_raises_engine_input_error(tmp_path: Path) -> None:
    with pytest.raises(EngineInputError, match="absent.json: cannot read"):
        LatentTree.load(tmp_path / "absent.json")


def test_hlta_importer_rejects_project_format_file(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    small_tree().save(path)
    with pytest.raises(EngineInputError, match="project.json: not an HLTA topic tree"):
        LatentTree.from_hlta_topic_tree(path)
