"""The whole learner on planted clusters (spec tests 6, 7 and 9) and its input handling."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from explain_engine.errors import EngineInputError
from explain_engine.hlta import HltaSettings, learn_model, learn_tree
from explain_engine.hlta.compare import adjusted_rand_index, class_partition
from explain_engine.tree import LatentTree


def test_level_one_recovers_the_planted_groups(planted, planted_result):
    partition = class_partition(planted_result.tree, level=1)
    classes = sorted(partition)
    assert classes == list(range(planted.num_classes))
    ari = adjusted_rand_index([partition[c] for c in classes], planted.group[classes])
    assert ari >= 0.9


def test_level_two_groups_the_planted_super_groups(planted, planted_result):
    tree = planted_result.tree
    level1 = collections.defaultdict(list)
    for c, latent in class_partition(tree, level=1).items():
        level1[latent].append(planted.group[c])
    group_of = {z: collections.Counter(g).most_common(1)[0][0] for z, g in level1.items()}
    super_groups = collections.defaultdict(list)  # level-2 latent -> super-groups of children
    for z, g in group_of.items():
        super_groups[tree.parent(z)].append(planted.super_group[planted.group == g][0])
    purity = sum(collections.Counter(s).most_common(1)[0][1] for s in super_groups.values()) / len(
        group_of
    )
    assert purity >= 0.8
    for s in np.unique(planted.super_group):  # most of every super-group under one latent
        n_groups = len(np.unique(planted.group[planted.super_group == s]))
        assert max(children.count(s) for children in super_groups.values()) > n_groups / 2


def test_every_class_has_exactly_one_level_one_parent(planted, planted_result):
    tree = planted_result.tree
    class_nodes = [node for node in tree.nodes if node.level == 0]
    assert sorted(node.class_index for node in class_nodes) == list(range(planted.num_classes))
    assert all(tree.level1_parent(node.class_index) == node.parent for node in class_nodes)


def test_level_loop_stops_at_max_top_with_consistent_levels(planted_result):
    tree, settings = planted_result.tree, HltaSettings()
    counts = tree.metadata["latents_per_level"]
    assert counts[-1] <= settings.max_top < min(counts[:-1], default=settings.max_top + 1)
    top = len(counts)
    assert sorted(tree.node(r).level for r in tree.roots) == [top] * counts[-1]
    for node in tree.nodes:
        if node.parent is not None:
            assert tree.node(node.parent).level == node.level + 1
    per_level = collections.Counter(node.level for node in tree.nodes if node.level)
    assert [per_level[level] for level in range(1, top + 1)] == counts
    # the model's bridge edges among the top latents are kept as metadata
    bridged = [r for r in tree.roots if "bridge_parent" in tree.node(r).metadata]
    assert len(bridged) == counts[-1] - 1


def test_islands_respect_the_cap_except_for_the_leftover_rule(planted_result):
    max_island = HltaSettings().max_island
    tree = planted_result.tree
    for level in range(1, tree.max_level + 1):
        sizes = [len(tree.children(n.id)) for n in tree.nodes if n.level == level]
        too_big = [s for s in sizes if s > max_island]
        assert len(too_big) <= 1 and all(s <= max_island + 2 for s in too_big)


def test_latents_are_named_by_level_and_states_ordered_topic_last(planted_result):
    tree = planted_result.tree
    for level in range(1, tree.max_level + 1):
        ids = [n.id for n in tree.nodes if n.level == level]
        assert sorted(ids) == sorted(f"Z{level}{k}" for k in range(1, len(ids) + 1))
    model = planted_result.model
    index = {name: i for i, name in enumerate(model.names)}
    for node in tree.nodes:
        if node.level == 1:
            first = index[tree.children(node.id)[0]]  # the class with the largest MI
            assert model.cpt[first, 1, 1] > model.cpt[first, 0, 1]
            assert 0 < node.metadata["percentage"] < 0.5


def test_learned_tree_exports_to_the_hlta_topic_tree_and_back(planted_result, tmp_path):
    tree = planted_result.tree
    exported = json.loads(json.dumps(tree.to_hlta_topic_tree()))
    reread = LatentTree.from_hlta_topic_tree(exported)
    assert class_partition(reread, 1) == class_partition(tree, 1)
    assert class_partition(reread, 2) == class_partition(tree, 2)
    for node in tree.nodes:
        again = reread.node(node.id)
        assert again.level == node.level
        if node.level:
            assert again.metadata["percentage"] == node.metadata["percentage"]
        else:
            assert again.metadata["p0"] == node.metadata["p0"]
    tree.save(tmp_path / "tree.json")
    assert LatentTree.load(tmp_path / "tree.json") == tree


def test_metadata_records_settings_and_data(planted, planted_result):
    metadata = planted_result.tree.metadata
    assert metadata["settings"] == {**vars(HltaSettings()), "seed": 5}
    assert metadata["num_documents"] == len(planted.documents)
    assert metadata["num_documents_used"] == sum(len(d) >= 2 for d in planted.documents)
    assert metadata["unseen_classes"] == []


def test_same_documents_and_seed_give_the_identical_tree(planted):
    documents = planted.documents[:4000]
    runs = [
        learn_model(documents, planted.num_classes, settings=HltaSettings(seed=11), progress=False)
        for _ in range(2)
    ]
    assert runs[0].tree == runs[1].tree
    assert runs[0].model.cpt.tobytes() == runs[1].model.cpt.tobytes()


def test_single_label_documents_are_dropped_unless_kept_and_unseen_classes_listed():
    rng = np.random.default_rng(0)
    groups = [[0, 1, 2], [3, 4, 5]]
    documents = [sorted(rng.choice(g, size=2, replace=False).tolist()) for g in groups * 50]
    documents += [[7], [7, 7]]
    dropped = learn_tree(documents, 10, settings=HltaSettings(seed=1), progress=False)
    assert dropped.metadata["unseen_classes"] == [6, 7, 8, 9]
    assert dropped.class_indices == tuple(range(6))
    kept = learn_tree(
        documents,
        10,
        settings=HltaSettings(seed=1, keep_single_label_documents=True),
        progress=False,
    )
    assert kept.metadata["unseen_classes"] == [6, 8, 9]
    assert kept.level1_parent(7) is not None


def test_class_names_are_used_for_class_nodes():
    documents = [[0, 1], [1, 2], [0, 2], [0, 1, 2]] * 10
    tree = learn_tree(documents, 3, class_names=["a b", "c", "d"], progress=False)
    assert tree.class_node(0).name == "a b"
    assert "c000-a_b" in json.dumps(tree.to_hlta_topic_tree())


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([[0, 1], [2, 3]], "document 1 has class index 3"),
        ([[0], [1]], "no document has 2 or more labels"),
    ],
)
def test_unusable_documents_raise_engine_input_error(documents, message):
    with pytest.raises(EngineInputError, match=message):
        learn_tree(documents, 3, progress=False)


@pytest.mark.parametrize(
    "settings", [{"max_island": 2}, {"em_restarts": 0}, {"bridge_edges": "mst"}]
)
def test_invalid_settings_raise_engine_input_error(settings):
    with pytest.raises(EngineInputError, match="HLTA setting"):
        HltaSettings(**settings)
