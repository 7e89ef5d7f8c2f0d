"""Tests of explain_engine.wox: every WOX method against hand-computed maps, and base-map sharing.

The pure tests build the base maps by hand (2×2 tensors keyed by (stage, compound class)) and
check each method's combination against numbers worked out in the comments. The last tests run
all methods through ``explain_batch`` on a tiny classifier and a hand-made latent tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import pytest
import torch
from PIL import Image
from torch import nn

from explain_engine.errors import EngineInputError
from explain_engine.explain import ExplanationSettings, explain_batch
from explain_engine.explainers.gradcam import GradCAM
from explain_engine.explainers.rise import RISE, RiseSettings, RiseStages
from explain_engine.methods import Cwox1sA, Cwox1sB, Cwox2s, Swox
from explain_engine.models import Classifier, Preprocessing
from explain_engine.registry import method_names
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree, TreeNode
from explain_engine.wox import WoxOptions, get_method, min_max


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# Stage-1 (coarse) and stage-2 (fine) base maps of top classes 0, 1, 2 and their compounds.
BASE = {
    (1, (0,)): t([[3, 1], [0, 2]]),
    (1, (1,)): t([[1, 4], [2, 0]]),
    (1, (2,)): t([[0, 1], [5, 1]]),
    (1, (0, 1)): t([[4, 4], [1, 1]]),
    (1, (0, 2)): t([[2, 2], [4, 4]]),
    (1, (1, 2)): t([[1, 2], [0, -1]]),
    (2, (0,)): t([[2, 0], [1, 3]]),
    (2, (1,)): t([[1, 1], [2, 1]]),
    (2, (2,)): t([[4, 3], [2, 1]]),
}
TOP = (0, 1, 2)
TWO_CLUSTERS = [(0, 1), (2,)]
SINGLETONS = [(0,), (1,), (2,)]


class RecordingMaps(Mapping):
    """The base maps, remembering which keys a method reads."""

    def __init__(self, maps: Mapping) -> None:
        self.maps = dict(maps)
        self.read: set = set()

    def __getitem__(self, key):
        self.read.add(key)
        return self.maps[key]

    def __iter__(self) -> Iterator:
        return iter(self.maps)

    def __len__(self) -> int:
        return len(self.maps)


def combine_with_requested_maps_only(method, top, clusters, base=BASE, explainer="gradcam"):
    """Combine from exactly the requested maps, checking every requested map is read."""
    requested = method.requests(top, clusters)
    recording = RecordingMaps({key: base[key] for key in requested})
    explanation = method.combine(recording, clusters, explainer)
    assert recording.read == requested
    return explanation


def assert_maps(explanation, expected):
    """expected: one (kind, target, foil, cluster, values) per map, in order."""
    assert len(explanation.maps) == len(expected)
    for heatmap, (kind, target, foil, cluster, values) in zip(
        explanation.maps, expected, strict=True
    ):
        assert (heatmap.kind, heatmap.target, heatmap.foil, heatmap.cluster) == (
            kind,
            target,
            foil,
            cluster,
        )
        torch.testing.assert_close(heatmap.values, t(values), rtol=0, atol=1e-6)


# -- SWOX, CWOX-1sA, CWOX-1sB ---------------------------------------------------------------


def test_swox_returns_the_stage_one_base_map_of_every_top_class():
    method = Swox()
    assert method.requests(TOP, TWO_CLUSTERS) == {(1, (0,)), (1, (1,)), (1, (2,))}
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert explanation.method == "swox"
    assert explanation.explainer == "gradcam"
    assert explanation.clusters == ((0, 1), (2,))
    assert_maps(
        explanation,
        [
            ("class", (0,), (), 0, BASE[(1, (0,))].tolist()),
            ("class", (1,), (), 0, BASE[(1, (1,))].tolist()),
            ("class", (2,), (), 1, BASE[(1, (2,))].tolist()),
        ],
    )


def test_cwox_1sa_is_relu_of_class_map_minus_map_of_all_other_top_classes():
    # 0: H_0 − H_{1,2} = [[2, −1], [0, 3]]     → [[2, 0], [0, 3]]
    # 1: H_1 − H_{0,2} = [[−1, 2], [−2, −4]]   → [[0, 2], [0, 0]]
    # 2: H_2 − H_{0,1} = [[−4, −3], [4, 0]]    → [[0, 0], [4, 0]]
    method = Cwox1sA()
    assert method.requests(TOP, TWO_CLUSTERS) == {
        (1, (0,)),
        (1, (1,)),
        (1, (2,)),
        (1, (1, 2)),
        (1, (0, 2)),
        (1, (0, 1)),
    }
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert_maps(
        explanation,
        [
            ("class", (0,), (1, 2), 0, [[2, 0], [0, 3]]),
            ("class", (1,), (0, 2), 0, [[0, 2], [0, 0]]),
            ("class", (2,), (0, 1), 1, [[0, 0], [4, 0]]),
        ],
    )


def test_cwox_1sa_with_one_top_class_is_its_base_map():
    method = Cwox1sA()
    assert method.requests((0,), [(0,)]) == {(1, (0,))}
    explanation = combine_with_requested_maps_only(method, (0,), [(0,)])
    assert_maps(explanation, [("class", (0,), (), 0, BASE[(1, (0,))].tolist())])


def test_cwox_1sb_is_normalised_class_map_times_inverse_normalised_rest():
    # 0: norm H_0 = [[1, 1/3], [0, 2/3]], 1 − norm H_{1,2} = [[1/3, 0], [2/3, 1]]
    # 1: norm H_1 = [[1/4, 1], [1/2, 0]], 1 − norm H_{0,2} = [[1, 1], [0, 0]]
    # 2: norm H_2 = [[0, 1/5], [1, 1/5]], 1 − norm H_{0,1} = [[0, 0], [1, 1]]
    method = Cwox1sB()
    assert method.requests(TOP, TWO_CLUSTERS) == Cwox1sA().requests(TOP, TWO_CLUSTERS)
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert_maps(
        explanation,
        [
            ("class", (0,), (1, 2), 0, [[1 / 3, 0], [0, 2 / 3]]),
            ("class", (1,), (0, 2), 0, [[0.25, 1], [0, 0]]),
            ("class", (2,), (0, 1), 1, [[0, 0], [1, 0.2]]),
        ],
    )


def test_cwox_1sb_with_one_top_class_is_its_normalised_map():
    explanation = combine_with_requested_maps_only(Cwox1sB(), (0,), [(0,)])
    assert_maps(explanation, [("class", (0,), (), 0, [[1, 1 / 3], [0, 2 / 3]])])


def test_min_max_maps_to_unit_interval_and_constant_maps_to_zero():
    torch.testing.assert_close(min_max(t([[2, 4], [6, 10]])), t([[0, 0.25], [0.5, 1]]))
    assert torch.equal(min_max(t([[3, 3], [3, 3]])), torch.zeros(2, 2))


# -- CWOX-2s ---------------------------------------------------------------------------------

# Clusters (0, 1) and (2,): I = 2, J = 2 and 1.
#   Ĥ_{0,1} = ReLU(H_{0,1} − H_2) = ReLU([[4, 3], [−4, 0]]) = [[4, 3], [0, 0]]
#   supp(Ĥ_{0,1}) = [[1, 1], [0, 0]]
#   class 0: ReLU(H²_0 − H²_1) = ReLU([[1, −1], [−1, 2]]) = [[1, 0], [0, 2]] → [[1, 0], [0, 0]]
#   class 1: ReLU(H²_1 − H²_0) = [[0, 1], [1, 0]]                         → [[0, 1], [0, 0]]
#   Ĥ_2 = ReLU(H_2 − H_{0,1}) = [[0, 0], [4, 0]], supp [[0, 0], [1, 0]]
#   class 2 (J = 1): supp · H²_2 = [[0, 0], [2, 0]]
CWOX_2S_TWO_CLUSTERS = [
    ("cluster", (0, 1), (2,), 0, [[4, 3], [0, 0]]),
    ("class", (0,), (1,), 0, [[1, 0], [0, 0]]),
    ("class", (1,), (0,), 0, [[0, 1], [0, 0]]),
    ("cluster", (2,), (0, 1), 1, [[0, 0], [4, 0]]),
    ("class", (2,), (), 1, [[0, 0], [2, 0]]),
]


def test_cwox_2s_follows_equations_one_and_two_with_several_clusters():
    method = Cwox2s()
    assert method.requests(TOP, TWO_CLUSTERS) == {
        (1, (0, 1)),
        (1, (2,)),
        (2, (0,)),
        (2, (1,)),
        (2, (2,)),
    }
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert explanation.clusters == ((0, 1), (2,))
    assert_maps(explanation, CWOX_2S_TWO_CLUSTERS)
    assert explanation.cluster_maps() == (explanation.maps[0], explanation.maps[3])
    assert explanation.class_map(1) is explanation.maps[2]


def test_cwox_2s_support_threshold_epsilon_keeps_only_pixels_above_it():
    # ε = 3.5: supp(Ĥ_{0,1}) = [[1, 0], [0, 0]], supp(Ĥ_2) = [[0, 0], [1, 0]]
    explanation = combine_with_requested_maps_only(
        Cwox2s(WoxOptions(epsilon=3.5)), TOP, TWO_CLUSTERS
    )
    assert [h.values.tolist() for h in explanation.maps] == [
        [[4, 3], [0, 0]],
        [[1, 0], [0, 0]],
        [[0, 0], [0, 0]],
        [[0, 0], [4, 0]],
        [[0, 0], [2, 0]],
    ]


def test_cwox_2s_with_one_cluster_uses_the_plain_cluster_map_and_its_sign_as_support():
    # I = 1: Ĥ_{0,1} = H_{0,1} = [[2, −1], [3, 0]] (no ReLU), supp = [[1, 0], [1, 0]]
    base = dict(BASE)
    base[(1, (0, 1))] = t([[2, -1], [3, 0]])
    method = Cwox2s()
    assert method.requests((0, 1), [(0, 1)]) == {(1, (0, 1)), (2, (0,)), (2, (1,))}
    explanation = combine_with_requested_maps_only(method, (0, 1), [(0, 1)], base)
    assert_maps(
        explanation,
        [
            ("cluster", (0, 1), (), 0, [[2, -1], [3, 0]]),
            ("class", (0,), (1,), 0, [[1, 0], [0, 0]]),
            ("class", (1,), (0,), 0, [[0, 0], [1, 0]]),
        ],
    )


def test_cwox_2s_with_one_top_class_masks_its_fine_map_by_its_coarse_map():
    # I = J = 1: Ĥ_0 = H_0 = [[3, 1], [0, 2]], supp [[1, 1], [0, 1]]; class: supp · H²_0
    method = Cwox2s()
    assert method.requests((0,), [(0,)]) == {(1, (0,)), (2, (0,))}
    explanation = combine_with_requested_maps_only(method, (0,), [(0,)])
    assert_maps(
        explanation,
        [
            ("cluster", (0,), (), 0, [[3, 1], [0, 2]]),
            ("class", (0,), (), 0, [[2, 0], [0, 3]]),
        ],
    )


def test_cwox_2s_keys_cluster_maps_by_sorted_compound_whatever_the_cluster_order():
    # A tree gives clusters in probability order, e.g. (1, 0): the base map is H_{0,1} all the
    # same, and one compound is never requested twice under two spellings.
    clusters = [(1, 0), (2,)]
    requests = Cwox2s().requests(TOP, clusters)
    assert requests == Cwox2s().requests(TOP, TWO_CLUSTERS)
    assert all(classes == tuple(sorted(classes)) for _, classes in requests)
    explanation = combine_with_requested_maps_only(Cwox2s(), TOP, clusters)
    assert explanation.maps[0].target == (1, 0)  # the cluster as given
    torch.testing.assert_close(explanation.maps[0].values, t([[4, 3], [0, 0]]))
    assert [h.target for h in explanation.maps[1:3]] == [(1,), (0,)]


# -- reference-code options ------------------------------------------------------------------


def test_pairwise_contrast_is_m_minus_one_times_target_minus_sum_of_foils():
    # 1sA, class 0 of three: (H_0 − H_1) + (H_0 − H_2) = [[5, −3], [−7, 3]] → [[5, 0], [0, 3]]
    # class 1: 2H_1 − H_0 − H_2 = [[−1, 6], [−1, −3]] → [[0, 6], [0, 0]]
    # class 2: 2H_2 − H_0 − H_1 = [[−4, −3], [8, 0]]  → [[0, 0], [8, 0]]
    method = Cwox1sA(WoxOptions(contrast="pairwise"))
    assert method.requests(TOP, TWO_CLUSTERS) == {(1, (0,)), (1, (1,)), (1, (2,))}
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert [h.values.tolist() for h in explanation.maps] == [
        [[5, 0], [0, 3]],
        [[0, 6], [0, 0]],
        [[0, 0], [8, 0]],
    ]
    # before the ReLU the difference is exactly (m − 1)·H_t − Σ H_f
    difference = method._difference(BASE, 1, (0,), [(1,), (2,)])
    torch.testing.assert_close(difference, 2 * BASE[(1, (0,))] - BASE[(1, (1,))] - BASE[(1, (2,))])


def test_pairwise_contrast_of_three_singleton_clusters_in_cwox_2s():
    # Ĥ_0 = ReLU(2H_0 − H_1 − H_2) = [[5, 0], [0, 3]], supp [[1, 0], [0, 1]], class 0 = supp·H²_0
    method = Cwox2s(WoxOptions(contrast="pairwise"))
    assert method.requests(TOP, SINGLETONS) == {(s, (c,)) for s in (1, 2) for c in TOP}
    explanation = combine_with_requested_maps_only(method, TOP, SINGLETONS)
    assert_maps(
        explanation,
        [
            ("cluster", (0,), (1, 2), 0, [[5, 0], [0, 3]]),
            ("class", (0,), (), 0, [[2, 0], [0, 3]]),
            ("cluster", (1,), (0, 2), 1, [[0, 6], [0, 0]]),
            ("class", (1,), (), 1, [[0, 1], [0, 0]]),
            ("cluster", (2,), (0, 1), 2, [[0, 0], [8, 0]]),
            ("class", (2,), (), 2, [[0, 0], [2, 0]]),
        ],
    )


def test_pairwise_and_union_contrast_agree_with_two_clusters():
    union = combine_with_requested_maps_only(Cwox2s(), TOP, TWO_CLUSTERS)
    pairwise = combine_with_requested_maps_only(
        Cwox2s(WoxOptions(contrast="pairwise")), TOP, TWO_CLUSTERS
    )
    for a, b in zip(union.maps, pairwise.maps, strict=True):
        assert torch.equal(a.values, b.values)


def test_percentile_support_keeps_pixels_at_or_above_the_percentile():
    # Ĥ_{0,1} = [[4, 3], [0, 0]]: 75th percentile of [0, 0, 3, 4] = 3 + 0.25·(4 − 3) = 3.25
    #   → supp [[1, 0], [0, 0]]: class 0 = [[1, 0], [0, 0]], class 1 = 0
    # Ĥ_2 = [[0, 0], [4, 0]]: 75th percentile of [0, 0, 0, 4] = 1 → supp [[0, 0], [1, 0]]
    options = WoxOptions(support="percentile", support_percentile=75.0)
    explanation = combine_with_requested_maps_only(Cwox2s(options), TOP, TWO_CLUSTERS)
    assert [h.values.tolist() for h in explanation.maps] == [
        [[4, 3], [0, 0]],
        [[1, 0], [0, 0]],
        [[0, 0], [0, 0]],
        [[0, 0], [4, 0]],
        [[0, 0], [2, 0]],
    ]


@pytest.mark.parametrize(
    ("percentile", "support"),
    [(0.0, [[1, 1], [1, 1]]), (50.0, [[1, 1], [0, 0]]), (100.0, [[1, 0], [0, 0]])],
)
def test_percentile_support_thresholds_with_linear_interpolation(percentile, support):
    # pixels [0, 0, 3, 4]: percentile 0 → 0 (everything kept), 50 → (0 + 3)/2 = 1.5, 100 → 4
    method = Cwox2s(WoxOptions(support="percentile", support_percentile=percentile))
    assert method._support(t([[4, 3], [0, 0]])).tolist() == support


def test_normalising_base_maps_min_max_before_subtracting():
    # norm H_0 − norm H_{1,2} = [[1, 1/3], [0, 2/3]] − [[2/3, 1], [1/3, 0]] → [[1/3, 0], [0, 2/3]]
    method = Cwox1sA(WoxOptions(normalize_base_maps=True))
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    torch.testing.assert_close(explanation.maps[0].values, t([[1 / 3, 0], [0, 2 / 3]]))


def test_reference_options_for_rise_and_gradcam():
    rise = RISE.reference_wox_options
    gradcam = GradCAM.reference_wox_options
    assert (rise.contrast, rise.support, rise.support_percentile, rise.normalize_base_maps) == (
        "pairwise",
        "percentile",
        70.0,
        True,
    )
    assert (
        gradcam.contrast,
        gradcam.support,
        gradcam.support_percentile,
        gradcam.normalize_base_maps,
    ) == ("pairwise", "percentile", 50.0, False)
    assert WoxOptions() == WoxOptions(
        contrast="union", support="positive", epsilon=0.0, normalize_base_maps=False
    )


def test_reference_rise_options_change_cwox_2s_maps_as_computed_by_hand():
    # norm H_{0,1} − norm H_2 = [[1, 1], [0, 0]] − [[0, 0.2], [1, 0.2]] → ReLU [[1, 0.8], [0, 0]]
    #   70th percentile of [0, 0, 0.8, 1] = 0.8 + 0.1·0.2 = 0.82 → supp [[1, 0], [0, 0]]
    #   class 0: ReLU(norm H²_0 − norm H²_1) = ReLU([[2/3, 0], [−2/3, 1]]) → [[2/3, 0], [0, 0]]
    #   class 1: ReLU([[−2/3, 0], [2/3, −1]]) masked → 0
    # norm H_2 − norm H_{0,1} = [[−1, −0.8], [1, 0.2]] → [[0, 0], [1, 0.2]]
    method = Cwox2s(RISE.reference_wox_options)
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS, explainer="rise")
    expected = [[[1, 0.8], [0, 0]], [[2 / 3, 0], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [1, 0.2]]]
    for heatmap, values in zip(explanation.maps[:4], expected, strict=True):
        torch.testing.assert_close(heatmap.values, t(values), rtol=0, atol=1e-6)
    assert explanation.parameters["normalize_base_maps"] is True
    assert explanation.explainer == "rise"


def test_reference_gradcam_options_change_cwox_2s_maps_as_computed_by_hand():
    # No normalisation: Ĥ_{0,1} = [[4, 3], [0, 0]], median of [0, 0, 3, 4] = 1.5 → [[1, 1], [0, 0]]
    # Ĥ_2 = [[0, 0], [4, 0]], median of [0, 0, 0, 4] = 0 → every pixel is ≥ 0: supp all ones
    method = Cwox2s(GradCAM.reference_wox_options)
    explanation = combine_with_requested_maps_only(method, TOP, TWO_CLUSTERS)
    assert [h.values.tolist() for h in explanation.maps] == [
        [[4, 3], [0, 0]],
        [[1, 0], [0, 0]],
        [[0, 1], [0, 0]],
        [[0, 0], [4, 0]],
        [[4, 3], [2, 1]],
    ]


# -- registry and validation -----------------------------------------------------------------


def test_every_method_name_maps_to_its_class_with_the_given_options():
    options = WoxOptions(epsilon=0.5)
    for name, cls in zip(method_names(), (Swox, Cwox1sA, Cwox1sB, Cwox2s), strict=True):
        method = get_method(name, options)
        assert type(method) is cls
        assert method.name == name
        assert method.options is options


@pytest.mark.parametrize("name", ["cwox-3s", "SWOX", "", "gradcam"])
def test_unknown_method_name_raises_engine_input_error(name):
    with pytest.raises(EngineInputError, match="method"):
        get_method(name)
    with pytest.raises(EngineInputError):
        ExplanationSettings(methods=["swox", name]).wox_methods()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"contrast": "difference"},
        {"support": "median"},
        {"support_percentile": -1.0},
        {"support_percentile": 100.5},
    ],
)
def test_invalid_options_raise_engine_input_error(kwargs):
    with pytest.raises(EngineInputError):
        WoxOptions(**kwargs)


# -- all methods through explain_batch share the base work -----------------------------------

NUM_CLASSES = 6
# Probabilities ≈ [0.141, 0.384, 0.347, 0.128, 0.0003, 0.0003]: K = min(5, Cum(0.95)) = 4, top
# classes 1, 2, 0, 3. The tree groups {0, 1} and {2, 3}: clusters (1, 0) and (2, 3).
BIAS = [1.0, 2.0, 1.9, 0.9, -5.0, -5.0]
TREE = LatentTree(
    [
        TreeNode("Z4", 2),
        TreeNode("Z1", 1, "Z4"),
        TreeNode("Z2", 1, "Z4"),
        TreeNode("Z3", 1, "Z4"),
        TreeNode("c0", 0, "Z1", 0),
        TreeNode("c1", 0, "Z1", 1),
        TreeNode("c2", 0, "Z2", 2),
        TreeNode("c3", 0, "Z2", 3),
        TreeNode("c4", 0, "Z3", 4),
        TreeNode("c5", 0, "Z3", 5),
    ]
)


@pytest.fixture
def classifier() -> Classifier:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),  # 1: stage 2, 8×8
        nn.Conv2d(4, 5, 3, stride=2, padding=1),
        nn.Tanh(),  # 3: stage 1, 4×4
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, NUM_CLASSES),
    )
    with torch.no_grad():
        model[-1].weight.mul_(0.01)  # the bias fixes the class order for every image
        model[-1].bias.copy_(torch.tensor(BIAS))
    model.eval().requires_grad_(False)
    return Classifier(
        name="tiny",
        model=model,
        preprocessing=Preprocessing(resize=8, crop=8, mean=(0.5,) * 3, std=(0.25,) * 3),
        class_names=tuple(f"c{i}" for i in range(NUM_CLASSES)),
        stage1_layer="3",
        stage2_layer="1",
        device=torch.device("cpu"),
    )


def images(count: int = 2) -> list[Image.Image]:
    generator = torch.Generator().manual_seed(21)
    return [
        Image.fromarray(
            torch.randint(0, 256, (8, 8, 3), generator=generator, dtype=torch.uint8).numpy()
        )
        for _ in range(count)
    ]


@pytest.fixture
def costs(monkeypatch, classifier):
    """Counts model forward calls, torch.autograd.grad calls and the explainer's requests."""
    counts = {"forward": 0, "grad": 0, "requests": []}
    original_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        counts["grad"] += 1
        return original_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    for explainer_type in (GradCAM, RISE):
        original_run = explainer_type.run

        def recording_run(self, classifier, inputs, plan, original_run=original_run):
            def recording_plan(logits):
                requests = plan(logits)
                counts["requests"].append(requests)
                return requests

            return original_run(self, classifier, inputs, recording_plan)

        monkeypatch.setattr(explainer_type, "run", recording_run)

    def count_forward(_module, _inputs):
        counts["forward"] += 1

    handle = classifier.model.register_forward_pre_hook(count_forward)
    yield counts
    handle.remove()


def settings_for(methods) -> ExplanationSettings:
    return ExplanationSettings(methods=methods, top_k=TopKRule(5, 0.95), tree=TREE)


def test_explain_batch_finds_top_classes_and_tree_clusters(classifier):
    results = explain_batch(classifier, images(), GradCAM(), settings_for(method_names()))
    for result in results:
        assert [top.index for top in result.top_classes] == [1, 2, 0, 3]
        assert result.clusters == ((1, 0), (2, 3))
        assert set(result.methods) == set(method_names())
        assert result.input_image.shape == (3, 8, 8)


def test_all_methods_request_the_union_of_their_base_maps_once(classifier, costs):
    results = explain_batch(classifier, images(), GradCAM(), settings_for(method_names()))
    (requests,) = costs["requests"]
    clusters = [(1, 0), (2, 3)]
    union = set().union(*(get_method(m).requests((1, 2, 0, 3), clusters) for m in method_names()))
    for image_requests, result in zip(requests, results, strict=True):
        assert len(image_requests) == len(set(image_requests))  # no duplicates
        assert set(image_requests) == union
        assert all(classes == tuple(sorted(classes)) for _, classes in image_requests)
        for method in method_names():
            assert result.methods[method].explainer == "gradcam"
    assert costs["forward"] == 1
    assert costs["grad"] == 1


def test_cwox_2s_alone_costs_one_forward_and_one_backward_like_all_four(classifier, costs):
    explain_batch(classifier, images(), GradCAM(), settings_for(["cwox-2s"]))
    assert (costs["forward"], costs["grad"]) == (1, 1)
    explain_batch(classifier, images(), GradCAM(), settings_for(method_names()))
    assert (costs["forward"], costs["grad"]) == (2, 2)
    alone, together = costs["requests"]
    assert set(alone[0]) <= set(together[0])


def test_methods_computed_together_equal_methods_computed_alone(classifier):
    together = explain_batch(classifier, images(), GradCAM(), settings_for(method_names()))
    for method in method_names():
        alone = explain_batch(classifier, images(), GradCAM(), settings_for([method]))
        for a, b in zip(alone, together, strict=True):
            for heatmap, shared in zip(a.methods[method].maps, b.methods[method].maps, strict=True):
                assert (heatmap.kind, heatmap.target, heatmap.foil) == (
                    shared.kind,
                    shared.target,
                    shared.foil,
                )
                torch.testing.assert_close(heatmap.values, shared.values, rtol=0, atol=1e-6)


def test_explain_batch_combines_the_explainers_base_maps(classifier):
    clusters = [(1, 0), (2, 3)]
    results = explain_batch(classifier, images(), GradCAM(), settings_for(["cwox-2s"]))
    _, inputs = classifier.prepare(images())
    method = Cwox2s()
    requests = sorted(method.requests((1, 2, 0, 3), clusters))
    base = GradCAM().saliency(classifier, inputs, [requests] * len(inputs))
    for b, result in enumerate(results):
        expected = method.combine(base[b], clusters, "gradcam")
        for heatmap, reference in zip(result.methods["cwox-2s"].maps, expected.maps, strict=True):
            torch.testing.assert_close(heatmap.values, reference.values, rtol=0, atol=1e-6)
    # the cluster map really contrasts: ReLU(H_{0,1} − H_{2,3})
    cluster_map = results[0].methods["cwox-2s"].maps[0]
    manual = (base[0][(1, (0, 1))] - base[0][(1, (2, 3))]).clamp_min(0)
    torch.testing.assert_close(cluster_map.values, manual, rtol=0, atol=1e-6)


def test_rise_masked_passes_are_shared_by_all_methods(classifier, costs):
    stage1 = RiseSettings(num_masks=20, grid=2, keep_probability=0.5, seed=1)
    stage2 = RiseSettings(num_masks=12, grid=3, keep_probability=0.3, seed=2)
    explainer = RISE(RiseStages(stage1, stage2), chunk_size=8)
    per_image = math.ceil(20 / 8) + math.ceil(12 / 8)
    explain_batch(classifier, images(), explainer, settings_for(["cwox-2s"]))
    assert costs["forward"] == 1 + 2 * per_image
    costs["forward"] = 0
    results = explain_batch(classifier, images(), explainer, settings_for(method_names()))
    assert costs["forward"] == 1 + 2 * per_image
    assert costs["grad"] == 0
    for result in results:
        assert set(result.methods) == set(method_names())
        assert all(m.explainer == "rise" for m in result.methods.values())


def test_without_a_tree_cwox_2s_cluster_maps_are_the_cwox_1sa_maps():
    two_stage = combine_with_requested_maps_only(Cwox2s(), TOP, SINGLETONS)
    one_stage = combine_with_requested_maps_only(Cwox1sA(), TOP, SINGLETONS)
    clusters = two_stage.cluster_maps()
    assert [h.target for h in clusters] == [h.target for h in one_stage.maps]
    for cluster_map, class_map in zip(clusters, one_stage.maps, strict=True):
        assert torch.equal(cluster_map.values, class_map.values)
        assert cluster_map.foil == class_map.foil
