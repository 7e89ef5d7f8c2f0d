"""Confusing pairs (explain_engine.pairs): pure selection on a hand-built tree, labels, manifest.

The hand-built tree (levels in brackets)::

    R1 [3]                               R2 [3]
    ├── A [2]                            └── C [2]
    │   ├── A1 [1]: classes 0, 1, 2          └── C1 [1]: classes 7, 8
    │   └── A2 [1]: classes 3, 4
    └── B [2]
        └── B1 [1]: classes 5, 6
    class 9: a root of its own (no latent above it)

Every expected answer below was worked out by hand from the rules in the module docstring.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.models import Classifier, Preprocessing
from explain_engine.pairs import (
    PairRules,
    TopKOutput,
    classify_images,
    item_ids,
    read_labels,
    read_pair_manifest,
    select_pairs,
    write_pair_manifest,
)
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree, TreeNode

NAMES = tuple(f"class{i}" for i in range(10))


@pytest.fixture(scope="module")
def tree() -> LatentTree:
    latents = [
        TreeNode("R1", 3),
        TreeNode("R2", 3),
        TreeNode("A", 2, "R1"),
        TreeNode("B", 2, "R1"),
        TreeNode("C", 2, "R2"),
        TreeNode("A1", 1, "A"),
        TreeNode("A2", 1, "A"),
        TreeNode("B1", 1, "B"),
        TreeNode("C1", 1, "C"),
    ]
    parents = {0: "A1", 1: "A1", 2: "A1", 3: "A2", 4: "A2", 5: "B1", 6: "B1", 7: "C1", 8: "C1"}
    classes = [TreeNode(f"c{i}", 0, parents.get(i), i, NAMES[i]) for i in range(10)]
    return LatentTree(latents + classes)


def out(image: str, top: dict[int, float], truth: int | None = None) -> TopKOutput:
    ranked = sorted(top.items(), key=lambda item: -item[1])
    return TopKOutput(image, tuple(c for c, _ in ranked), tuple(p for _, p in ranked), truth)


def pairs_of(selection) -> dict[str, tuple[int, int]]:
    return {pair.image: (pair.a, pair.b) for pair in selection.chosen}


def reasons_of(selection) -> dict[str, str]:
    return {entry.image: entry.reason for entry in selection.unpaired}


# ------------------------------------------------------------------------- the floor


def test_pair_is_two_classes_of_one_cluster_above_the_floor(tree: LatentTree) -> None:
    image = out("x.png", {0: 0.5, 1: 0.3, 2: 0.04, 5: 0.1, 9: 0.06})
    selection = select_pairs([image], tree)
    (pair,) = selection.chosen
    assert (pair.a, pair.b) == (0, 1)  # class 2 is below the floor, 5 is alone in B1
    assert pair.cluster == "A1"
    assert pair.cluster_classes == (0, 1, 2)  # the image's top classes in A1, by probability
    assert pair.ancestors == ("A", "R1")
    assert pair.branch == ("R1", "A", "A1")
    assert pair.reason == "same level-1 cluster A1; both p >= 0.05"
    assert pair.top == image
    assert selection.unpaired == ()


def test_leading_cluster_rule_keeps_only_pairs_of_the_most_probable_class_cluster(
    tree: LatentTree,
) -> None:
    # Class 5 (B1) is the most probable; the only pair, (7, 8), sits in the later cluster C1.
    behind = out("behind.png", {5: 0.5, 7: 0.25, 8: 0.2})
    # Class 7 leads, and its own cluster C1 holds the pair (7, 8); A1's (0, 1) is behind it.
    leading = out("leading.png", {7: 0.4, 8: 0.2, 0: 0.15, 1: 0.14})
    paper = select_pairs([behind, leading], tree, PairRules(per_pair=2))
    assert pairs_of(paper)["behind.png"] == (7, 8)
    assert set(pairs_of(paper)) == {"behind.png", "leading.png"}
    rule = PairRules(per_pair=2, leading_cluster=True)
    chosen = select_pairs([behind, leading], tree, rule)
    assert pairs_of(chosen) == {"leading.png": (7, 8)}
    assert reasons_of(chosen) == {
        "behind.png": "the leading confusion cluster (of the most probable class, 5) has no "
        "two top classes of p >= 0.05"
    }
    # Among the leading image's candidates, A1's pair is not offered even when C1's is full.
    full = select_pairs(
        [leading, out("again.png", {7: 0.5, 8: 0.3, 0: 0.1, 1: 0.09})],
        tree,
        PairRules(leading_cluster=True),
    )
    assert len(full.chosen) == 1 and "pair quota reached" in full.unpaired[0].reason


def test_lower_floor_admits_more_pairs_and_the_most_confusing_wins(tree: LatentTree) -> None:
    image = out("x.png", {0: 0.5, 1: 0.3, 2: 0.04, 5: 0.1, 9: 0.06})
    assert pairs_of(select_pairs([image], tree, PairRules(floor=0.03))) == {"x.png": (0, 1)}
    # with 1 gone, the candidates are (0, 2) only
    image = out("y.png", {0: 0.5, 2: 0.04, 5: 0.1})
    assert pairs_of(select_pairs([image], tree, PairRules(floor=0.03))) == {"y.png": (0, 2)}
    assert "p >= 0.03" in select_pairs([image], tree, PairRules(floor=0.03)).chosen[0].reason
    assert pairs_of(select_pairs([image], tree)) == {}


def test_candidates_within_an_image_prefer_the_higher_second_probability(tree: LatentTree) -> None:
    # A1 offers (0, 1) with p_b = 0.1; C1 offers (7, 8) with p_b = 0.2
    image = out("x.png", {0: 0.4, 7: 0.25, 8: 0.2, 1: 0.1})
    assert pairs_of(select_pairs([image], tree)) == {"x.png": (7, 8)}


def test_a_is_the_more_probable_class(tree: LatentTree) -> None:
    image = TopKOutput("x.png", (1, 0), (0.3, 0.6))  # not sorted by probability
    (pair,) = select_pairs([image], tree).chosen
    assert (pair.a, pair.b) == (0, 1)


def test_no_pair_reasons(tree: LatentTree) -> None:
    images = [
        out("split.png", {0: 0.6, 3: 0.3, 7: 0.1}),  # three different clusters
        out("single.png", {9: 0.99}),
        out("low.png", {5: 0.9, 6: 0.04}),  # 6 below the floor
        TopKOutput("broken.png", error="broken.png: truncated or corrupt image"),
    ]
    reasons = reasons_of(select_pairs(images, tree))
    none = "no confusion cluster with two top classes of p >= 0.05"
    assert reasons == {
        "split.png": none,
        "single.png": none,
        "low.png": none,
        "broken.png": "unreadable image: broken.png: truncated or corrupt image",
    }


def test_a_class_missing_from_the_tree_is_its_own_cluster(tree: LatentTree) -> None:
    image = out("x.png", {42: 0.5, 0: 0.3, 1: 0.2})
    with pytest.warns(UserWarning, match="class 42"):
        selection = select_pairs([image], tree)
    assert pairs_of(selection) == {"x.png": (0, 1)}


def test_cluster_level_two_joins_sibling_clusters(tree: LatentTree) -> None:
    image = out("x.png", {0: 0.6, 3: 0.3, 7: 0.1})
    (pair,) = select_pairs([image], tree, PairRules(cluster_level=2)).chosen
    assert (pair.a, pair.b, pair.cluster, pair.ancestors) == (0, 3, "A", ("R1",))
    assert pair.reason == "same level-2 cluster A; both p >= 0.05"


# --------------------------------------------------------------------- ground truth


def test_ground_truth_required(tree: LatentTree) -> None:
    top = {0: 0.5, 1: 0.3, 3: 0.1, 4: 0.08}
    images = [
        out("in-second-pair.png", top, truth=3),
        out("nowhere.png", top, truth=7),
        out("unknown.png", top),
    ]
    selection = select_pairs(images, tree, PairRules(require_truth=True))
    assert pairs_of(selection) == {"in-second-pair.png": (3, 4)}
    assert selection.chosen[0].reason == (
        "same level-1 cluster A2; both p >= 0.05; ground truth in pair"
    )
    assert reasons_of(selection) == {
        "nowhere.png": "ground truth not in any pair: class 7",
        "unknown.png": "no ground-truth label for this image (required)",
    }


def test_known_ground_truth_is_preferred_but_not_required_by_default(tree: LatentTree) -> None:
    top = {0: 0.5, 1: 0.3, 3: 0.1, 4: 0.08}
    selection = select_pairs([out("x.png", top, truth=3), out("y.png", top, truth=7)], tree)
    chosen = {pair.image: pair for pair in selection.chosen}
    assert (chosen["x.png"].a, chosen["x.png"].b) == (3, 4)  # truth first, despite p_b
    assert chosen["x.png"].reason.endswith("; ground truth in pair")
    assert (chosen["y.png"].a, chosen["y.png"].b) == (0, 1)
    assert chosen["y.png"].reason.endswith("; ground truth not in pair")


# ------------------------------------------------------------------ quota and limit


def test_per_pair_quota(tree: LatentTree) -> None:
    images = [out(f"x{i}.png", {0: 0.6, 1: 0.3 - i / 100}) for i in range(3)]
    selection = select_pairs(images, tree)
    assert len(selection.chosen) == 1
    assert sorted(reasons_of(selection).values()) == ["pair quota reached (1 per pair): 0/1"] * 2
    selection = select_pairs(images, tree, PairRules(per_pair=2))
    assert len(selection.chosen) == 2
    assert list(reasons_of(selection).values()) == ["pair quota reached (2 per pair): 0/1"]


def test_an_image_falls_back_to_its_next_candidate_when_the_best_pair_is_full(
    tree: LatentTree,
) -> None:
    first = out("first.png", {0: 0.6, 1: 0.3})
    second = out("second.png", {0: 0.5, 1: 0.3, 7: 0.1, 8: 0.08})  # best (0, 1), then (7, 8)
    assert pairs_of(select_pairs([first, second], tree)) == {
        "first.png": (0, 1),
        "second.png": (7, 8),
    }


SPREAD = {
    "x0.png": {0: 0.5, 1: 0.4},  # A1
    "x1.png": {0: 0.5, 2: 0.4},  # A1
    "x2.png": {1: 0.5, 2: 0.4},  # A1
    "y.png": {3: 0.5, 4: 0.4},  # A2
    "z.png": {5: 0.5, 6: 0.4},  # B1
    "w.png": {7: 0.5, 8: 0.4},  # C1
}


@pytest.mark.parametrize("seed", range(12))
def test_round_robin_over_branches(tree: LatentTree, seed: int) -> None:
    images = [out(name, top) for name, top in SPREAD.items()]
    selection = select_pairs(images, tree, PairRules(limit=4, seed=seed))
    # root R2 (only w) is taken within the first two picks; then B (z) before a second item
    # of A; then A2 (y) before a second item of A1: whatever the seed, one cluster each
    clusters = [pair.cluster for pair in selection.chosen]
    assert sorted(clusters) == ["A1", "A2", "B1", "C1"]
    assert "C1" in clusters[:2]
    reasons = reasons_of(selection)
    assert len(reasons) == 2 and set(reasons) < {"x0.png", "x1.png", "x2.png"}
    assert set(reasons.values()) == {"limit of 4 items reached"}


def test_without_a_limit_every_distinct_pair_is_chosen_spread_first(tree: LatentTree) -> None:
    images = [out(name, top) for name, top in SPREAD.items()]
    selection = select_pairs(images, tree)
    assert len(selection.chosen) == 6 and selection.unpaired == ()
    assert sorted(pair.cluster for pair in selection.chosen[:4]) == ["A1", "A2", "B1", "C1"]


def test_selection_is_seeded_and_reproducible(tree: LatentTree) -> None:
    images = [out(name, top) for name, top in SPREAD.items()]

    def picked(seed: int) -> list[str]:
        return [pair.image for pair in select_pairs(images, tree, PairRules(seed=seed)).chosen]

    assert picked(3) == picked(3)
    assert select_pairs(images, tree, PairRules(seed=3)) == select_pairs(
        images, tree, PairRules(seed=3)
    )
    first_a1 = {next(i for i in picked(seed) if i.startswith("x")) for seed in range(12)}
    assert len(first_a1) > 1  # the seed decides between equally good images


def _brute_force(outputs: list[TopKOutput], tree: LatentTree, rules: PairRules) -> list:
    """Reference: at each step rank every open option of every image from scratch."""
    options = []  # (image index, rank, image, a, b, branch)
    for i, output in enumerate(outputs):
        p = dict(zip(output.classes, output.probabilities, strict=True))
        found = [
            (a, b) if p[a] >= p[b] else (b, a)
            for a, b in itertools.combinations(output.classes, 2)
            if min(p[a], p[b]) >= rules.floor
            and tree.level1_parent(a) is not None
            and tree.level1_parent(a) == tree.level1_parent(b)
        ]
        found.sort(key=lambda ab: (-p[ab[1]], -p[ab[0]]))
        for rank, (a, b) in enumerate(found):
            node, branch = tree.level1_parent(a), []
            while node is not None:
                branch.insert(0, node)
                node = tree.parent(node)
            options.append((i, rank, output.image, a, b, tuple(branch)))
    priority = list(range(len(outputs)))
    random.Random(rules.seed).shuffle(priority)
    node_uses, pair_uses, chosen = Counter(), Counter(), []
    while rules.limit is None or len(chosen) < rules.limit:
        taken = {option[0] for option in chosen}
        open_options = [
            o
            for o in options
            if o[0] not in taken and pair_uses[frozenset(o[3:5])] < rules.per_pair
        ]
        if not open_options:
            break
        best = min(
            open_options,
            key=lambda o: (
                tuple(node_uses[n] for n in o[5]),
                pair_uses[frozenset(o[3:5])],
                priority[o[0]],
                o[1],
            ),
        )
        chosen.append(best)
        node_uses.update(best[5])
        pair_uses[frozenset(best[3:5])] += 1
    return [(image, a, b) for _, _, image, a, b, _ in chosen]


@pytest.mark.parametrize("seed", range(6))
def test_selection_equals_a_brute_force_reference(tree: LatentTree, seed: int) -> None:
    rng = random.Random(100 + seed)
    outputs = []
    for n in range(60):
        classes = rng.sample(range(10), rng.randint(1, 5))
        weights = sorted((rng.random() for _ in classes), reverse=True)
        outputs.append(
            out(f"{n}.png", {c: w / sum(weights) for c, w in zip(classes, weights, strict=True)})
        )
    rules = PairRules(per_pair=rng.randint(1, 4), seed=seed, limit=rng.choice([None, 7, 20]))
    selection = select_pairs(outputs, tree, rules)
    assert [(p.image, p.a, p.b) for p in selection.chosen] == _brute_force(outputs, tree, rules)


def test_repeated_image_is_rejected(tree: LatentTree) -> None:
    with pytest.raises(EngineInputError, match="x.png"):
        select_pairs([out("x.png", {0: 0.5, 1: 0.4})] * 2, tree)


@pytest.mark.parametrize(
    "rules",
    [{"floor": 1.5}, {"floor": -0.1}, {"per_pair": 0}, {"limit": 0}, {"cluster_level": 0}],
)
def test_bad_rules_are_rejected(rules: dict) -> None:
    with pytest.raises(EngineInputError):
        PairRules(**rules)


# ------------------------------------------------------------------------------ labels


def test_item_ids_are_file_name_safe_and_unique() -> None:
    assert item_ids(["a/x.png", "b/x.png", "c/x y.jpg", "d/%%.png", "x.jpeg"]) == [
        "x",
        "x-2",
        "x-y",
        "image",
        "x-3",
    ]


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (200, 20, 20)).save(path)


def test_labels_from_folder_names(tmp_path: Path) -> None:
    for name in ("3/a.png", "class5/b.png", "Class_7/c.png", "root.png"):
        _image(tmp_path / name)
    names = ("zero", "one", "two", "three", "four", "class5", "six", "class 7")
    assert read_labels("folder", tmp_path, names) == {
        "3/a.png": 3,
        "class5/b.png": 5,
        "Class_7/c.png": 7,
    }


@pytest.mark.parametrize(("folder", "named"), [("crane", "[0, 1]"), ("nope", "nope"), ("99", "99")])
def test_bad_folder_label_is_an_error(tmp_path: Path, folder: str, named: str) -> None:
    _image(tmp_path / folder / "a.png")
    with pytest.raises(EngineInputError, match=re.escape(named)) as error:
        read_labels("folder", tmp_path, ("crane", "crane", "two"))
    assert f"folder '{folder}'" in str(error.value)


def test_labels_from_csv(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("file,wnid,class_index,class_name\na.png,n0,2,two\nsub/b.png,n1,0,zero\n")
    assert read_labels(labels, tmp_path, ("zero", "one", "two")) == {"a.png": 2, "sub/b.png": 0}


@pytest.mark.parametrize(
    ("content", "named"),
    [("file,label\na.png,1\n", "class_index"), ("file,class_index\na.png,7\n", "labels.csv:2")],
)
def test_bad_csv_is_an_error(tmp_path: Path, content: str, named: str) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(EngineInputError, match=named):
        read_labels(labels, tmp_path, ("zero", "one", "two"))


# ---------------------------------------------------------- running a (tiny) classifier


class ColourModel(nn.Module):
    """Logits from the mean colour: a red image → classes 0 and 1 (red, reddish) on top."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, g, b = x.mean(dim=(-2, -1)).unbind(-1)
        return torch.stack([4 * r, 3.5 * r, 4 * g, 3.5 * g, 4 * b, 0 * b], dim=-1)


@pytest.fixture
def colour_classifier() -> Classifier:
    return Classifier(
        name="colour",
        model=ColourModel().eval(),
        preprocessing=Preprocessing(resize=32, crop=32, mean=(0.5,) * 3, std=(0.5,) * 3),
        class_names=("red", "reddish", "green", "greenish", "blue", "none"),
        stage1_layer="",
        stage2_layer="",
        device=torch.device("cpu"),
    )


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for name, colour in (
        ("0/r.png", (250, 0, 0)),
        ("2/g.png", (0, 250, 0)),
        ("b.png", (0, 0, 250)),
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), colour).save(root / name)
    (root / "a-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def test_classify_images_batches_equal_single_images(colour_classifier, colour_folder) -> None:
    labels = read_labels("folder", colour_folder, colour_classifier.class_names)
    rule = TopKRule(max_k=2, cumulative=None)
    batched = classify_images(
        colour_classifier, colour_folder, top_k=rule, labels=labels, batch_size=3, progress=False
    )
    single = classify_images(
        colour_classifier, colour_folder, top_k=rule, labels=labels, batch_size=1, progress=False
    )
    assert [o.image for o in batched] == ["0/r.png", "2/g.png", "a-broken.png", "b.png"]
    assert [(o.image, o.classes, o.truth) for o in batched] == [
        (o.image, o.classes, o.truth) for o in single
    ]
    red, green, broken, blue = batched
    assert (red.classes, red.truth) == ((0, 1), 0)
    assert (green.classes, green.truth) == ((2, 3), 2)
    assert blue.classes[0] == 4 and blue.truth is None
    np.testing.assert_allclose(red.probabilities, single[0].probabilities, rtol=1e-5)
    assert broken.error is not None and "a-broken.png" in broken.error and broken.classes == ()


# ------------------------------------------------------------------------ the manifest


def _write(tmp_path: Path, classifier: Classifier, tree: LatentTree, selection) -> Path:
    tree_file = tmp_path / "tree.json"
    tree.save(tree_file)
    return write_pair_manifest(
        tmp_path / "pairs.json",
        selection,
        classifier=classifier,
        images_dir=tmp_path,
        tree_file=tree_file,
        top_k=TopKRule(),
        rules=PairRules(per_pair=2),
        labels=None,
    )


def test_manifest_round_trip(tmp_path: Path, tree: LatentTree, colour_classifier) -> None:
    names = ("red", "reddish", "green", "greenish", "blue", "none", "c6", "c7", "c8", "c9")
    classifier = replace(colour_classifier, class_names=names)
    images = [out(name, top, truth=3 if name == "y.png" else None) for name, top in SPREAD.items()]
    images.append(out("lonely.png", {9: 0.9}))
    selection = select_pairs(images, tree, PairRules(per_pair=2))
    path = _write(tmp_path, classifier, tree, selection)
    document = json.loads(path.read_text())
    assert document["format"] == "cwox-pairs" and document["version"] == 1
    first = document["items"][0]
    assert first["classes"][0]["probability"] >= first["classes"][1]["probability"]
    assert first["classes"][0]["name"] == names[first["classes"][0]["index"]]
    assert document["unpaired"] == [
        {"image": "lonely.png", "reason": "no confusion cluster with two top classes of p >= 0.05"}
    ]
    manifest = read_pair_manifest(path)
    assert [pair for _, pair in manifest.items] == list(selection.chosen)
    assert [item_id for item_id, _ in manifest.items] == [p.image[:-4] for p in selection.chosen]
    assert manifest.unpaired == selection.unpaired
    assert manifest.rules == PairRules(per_pair=2)
    assert manifest.tree == tmp_path / "tree.json" and manifest.images_dir == tmp_path


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d.update(format="other"), "cwox-pairs"),
        (lambda d: d.update(version=9), "version"),
        (lambda d: d["items"][0].pop("classes"), "classes"),
        (lambda d: d["items"][0]["classes"].pop(), "classes"),
        (lambda d: d["items"][0].update(id="../evil"), "id"),
        (lambda d: d["items"][1].update(id=d["items"][0]["id"]), "repeat"),
        (lambda d: d["rules"].update(floor=3), "floor"),
        (lambda d: d["items"][0]["top_classes"][0].update(probability="high"), "probability"),
    ],
)
def test_malformed_manifest_is_rejected_naming_the_field(
    tmp_path: Path, tree: LatentTree, colour_classifier, edit, named: str
) -> None:
    names = tuple(f"c{i}" for i in range(10))
    classifier = replace(colour_classifier, class_names=names)
    images = [out(name, top) for name, top in SPREAD.items()]
    path = _write(tmp_path, classifier, tree, select_pairs(images, tree))
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    with pytest.raises(EngineInputError, match=named) as error:
        read_pair_manifest(path)
    assert str(path) in str(error.value)
