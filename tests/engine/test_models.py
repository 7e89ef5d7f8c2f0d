"""Tests of explain_engine.models (classifier registry) and explain_engine.targets (top classes).

Nothing here downloads anything: every torchvision weights file is a random state dict written
into ``tmp_path``, the torch hub directory points into ``tmp_path``, and any attempt to fetch a
URL or open a socket fails the test.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import skimage
import torch
import torchvision
from PIL import Image

from explain_engine.errors import EngineInputError
from explain_engine.models import (
    EMBEDDED_MODEL,
    Classifier,
    Preprocessing,
    find_pivot_layers,
    load_classifier,
    resolve_device,
)
from explain_engine.targets import TopKRule, check_classes, compound, compound_logits

CHELSEA = Path(skimage.data.__file__).parent / "chelsea.png"
CAT_NAMES = {"tiger cat", "Egyptian cat", "tabby"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any download or outgoing connection."""

    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail(f"network access attempted: {args!r}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(torch.hub, "download_url_to_file", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> Path:
    """An empty torch hub directory (the weights cache the loader looks in)."""
    directory = tmp_path / "hub"
    directory.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(directory))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return directory


@pytest.fixture(scope="module")
def embedded() -> Classifier:
    return load_classifier(EMBEDDED_MODEL, device="cpu")


def _assert_one_line(error: pytest.ExceptionInfo[EngineInputError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


# ------------------------------------------------------------------ embedded model


def test_embedded_model_loads_offline_frozen_in_eval_mode(embedded: Classifier) -> None:
    assert embedded.name == EMBEDDED_MODEL
    assert not embedded.model.training
    assert all(not module.training for module in embedded.model.modules())
    parameters = list(embedded.model.parameters())
    assert parameters and all(not p.requires_grad for p in parameters)
    assert embedded.num_classes == len(embedded.class_names) == 1000
    assert embedded.class_names[281] == "tabby"
    assert embedded.device == torch.device("cpu")
    assert embedded.preprocessing.mean == (0.5, 0.5, 0.5)
    assert embedded.preprocessing.std == (0.5, 0.5, 0.5)
    assert embedded.preprocessing.crop == 224
    assert (embedded.stage1_layer, embedded.stage2_layer) == ("_conv_head", "_blocks.10")
    assert isinstance(embedded.layer("_conv_head"), torch.nn.Module)
    assert isinstance(embedded.layer("_blocks.10"), torch.nn.Module)
    assert embedded.weights_file is not None and embedded.weights_file.is_file()
    assert len(embedded.weights_sha256 or "") == 64


def test_embedded_model_pivot_shapes(embedded: Classifier) -> None:
    shapes = {}
    handles = [
        embedded.layer(name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
        for name in ("_conv_head", "_blocks.10")
    ]
    try:
        with torch.no_grad():
            logits = embedded.model(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    assert logits.shape == (1, 1000)
    assert shapes == {"_conv_head": (1, 1280, 7, 7), "_blocks.10": (1, 112, 14, 14)}


def test_embedded_model_classifies_chelsea_as_a_cat(embedded: Classifier) -> None:
    with Image.open(CHELSEA) as opened:
        image = opened.convert("RGB")
    unit, inputs = embedded.prepare([image])
    assert unit.shape == (1, 3, 224, 224) and unit.min() >= 0.0 and unit.max() <= 1.0
    assert torch.allclose(inputs, unit * 2 - 1, atol=1e-6)  # mean 0.5, std 0.5
    with torch.no_grad():
        probabilities = embedded.model(inputs).softmax(dim=-1)[0]
    top3 = probabilities.topk(3).indices.tolist()
    assert {embedded.class_names[i] for i in top3} == CAT_NAMES


def test_auto_device_resolves_to_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_device_for_a_loaded_model(embedded: Classifier) -> None:
    classifier = load_classifier(EMBEDDED_MODEL, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert classifier.device.type == expected
    assert next(classifier.model.parameters()).device.type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available on this machine")
def test_cuda_device_without_cuda_is_an_input_error() -> None:
    with pytest.raises(EngineInputError, match="cuda") as error:
        load_classifier(EMBEDDED_MODEL, device="cuda")
    _assert_one_line(error)


def test_malformed_device_name_is_an_input_error() -> None:
    with pytest.raises(EngineInputError, match="tpu9") as error:
        resolve_device("tpu9")
    _assert_one_line(error)


def test_embedded_model_with_missing_weights_file(tmp_path: Path) -> None:
    missing = tmp_path / "lite0.pth"
    with pytest.raises(EngineInputError, match="no such file") as error:
        load_classifier(EMBEDDED_MODEL, weights=missing, device="cpu")
    assert str(missing) in _assert_one_line(error)


# ------------------------------------------------------------------ unknown names and layers


def test_unknown_model_name() -> None:
    with pytest.raises(EngineInputError, match="no-such-net") as error:
        load_classifier("no-such-net", device="cpu")
    assert "expected" in _assert_one_line(error)


def test_unknown_stage1_layer_lists_candidates() -> None:
    with pytest.raises(EngineInputError) as error:
        load_classifier(EMBEDDED_MODEL, device="cpu", stage1_layer="nope")
    message = _assert_one_line(error)
    assert "'nope'" in message and "expected one of" in message
    assert "_conv_stem" in message  # the candidates are real module names


def test_unknown_stage2_layer_lists_close_names(embedded: Classifier) -> None:
    with pytest.raises(EngineInputError) as error:
        load_classifier(EMBEDDED_MODEL, device="cpu", stage2_layer="_blocks.99")
    message = _assert_one_line(error)
    assert "'_blocks.99'" in message and "_blocks.0" in message


def test_layer_overrides_are_used() -> None:
    classifier = load_classifier(
        EMBEDDED_MODEL, device="cpu", stage1_layer="_blocks.15", stage2_layer="_blocks.12"
    )
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("_blocks.15", "_blocks.12")


# ------------------------------------------------------------------ torchvision models


def _default_weights_file(name: str) -> str:
    return Path(torchvision.models.get_model_weights(name).DEFAULT.url).name


def test_resnet50_without_weights_says_where_to_put_them(hub_dir: Path) -> None:
    expected = hub_dir / "checkpoints" / _default_weights_file("resnet50")
    with pytest.raises(EngineInputError) as error:
        load_classifier("resnet50", device="cpu")
    message = _assert_one_line(error)
    assert str(expected) in message
    assert "--weights" in message
    assert not expected.exists()


def test_googlenet_without_weights_says_where_to_put_them(hub_dir: Path) -> None:
    expected = hub_dir / "checkpoints" / _default_weights_file("googlenet")
    with pytest.raises(EngineInputError) as error:
        load_classifier("googlenet", device="cpu")
    assert str(expected) in _assert_one_line(error)


def test_resnet50_with_missing_weights_path(tmp_path: Path, no_network: None) -> None:
    missing = tmp_path / "missing.pth"
    with pytest.raises(EngineInputError) as error:
        load_classifier("resnet50", weights=missing, device="cpu")
    message = _assert_one_line(error)
    assert str(missing) in message and "no such file" in message


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resnet18") / "resnet18-random.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.get_model("resnet18", weights=None).state_dict(), path)
    return path


def test_torchvision_model_from_a_weights_file(resnet18_weights: Path, no_network: None) -> None:
    classifier = load_classifier("resnet18", weights=resnet18_weights, device="cpu")
    assert classifier.name == "resnet18"
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("layer4", "layer3")
    assert classifier.weights_file == resnet18_weights
    assert classifier.num_classes == 1000 and classifier.class_names[282] == "tiger cat"
    assert classifier.preprocessing.crop == 224
    assert classifier.preprocessing.mean == (0.485, 0.456, 0.406)
    assert not classifier.model.training
    assert all(not p.requires_grad for p in classifier.model.parameters())
    expected = torch.load(resnet18_weights, weights_only=True)["fc.weight"]
    assert torch.equal(classifier.model.fc.weight, expected)


def test_torchvision_model_from_the_hub_cache(resnet18_weights: Path, hub_dir: Path) -> None:
    cached = hub_dir / "checkpoints" / _default_weights_file("resnet18")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(resnet18_weights.read_bytes())
    classifier = load_classifier("resnet18", device="cpu")
    assert classifier.weights_file == cached


def test_resnet50_finds_an_older_weights_version_in_the_cache(hub_dir: Path) -> None:
    v1 = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    cached = hub_dir / "checkpoints" / Path(v1.url).name
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.get_model("resnet50", weights=None).state_dict(), cached)
    classifier = load_classifier("resnet50", device="cpu")
    assert classifier.weights_file == cached
    assert classifier.preprocessing.resize == v1.transforms().resize_size[0] == 256
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("layer4", "layer3")


def test_weights_of_another_architecture_do_not_fit(
    resnet18_weights: Path, no_network: None
) -> None:
    with pytest.raises(EngineInputError, match="do not fit resnet34") as error:
        load_classifier("resnet34", weights=resnet18_weights, device="cpu")
    assert str(resnet18_weights) in _assert_one_line(error)


def test_weights_with_other_shapes_do_not_fit(tmp_path: Path, no_network: None) -> None:
    path = tmp_path / "resnet18-10-classes.pth"
    torch.save(
        torchvision.models.get_model("resnet18", weights=None, num_classes=10).state_dict(), path
    )
    with pytest.raises(EngineInputError, match="do not fit resnet18") as error:
        load_classifier("resnet18", weights=path, device="cpu")
    assert str(path) in _assert_one_line(error)


@pytest.mark.parametrize(
    "content",
    [b"this is not a checkpoint", None],
    ids=["text-file", "tensor-not-a-dict"],
)
def test_weights_file_that_is_not_a_state_dict(
    tmp_path: Path, no_network: None, content: bytes | None
) -> None:
    path = tmp_path / "weights.pth"
    if content is None:
        torch.save(torch.zeros(3), path)
    else:
        path.write_bytes(content)
    with pytest.raises(EngineInputError) as error:
        load_classifier("resnet18", weights=path, device="cpu")
    assert str(path) in _assert_one_line(error)


def test_googlenet_with_aux_heads_in_its_weights(tmp_path: Path, no_network: None) -> None:
    path = tmp_path / "googlenet-random.pth"
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    state = model.state_dict()
    assert any(key.startswith("aux") for key in state)
    torch.save(state, path)
    classifier = load_classifier("googlenet", weights=path, device="cpu")
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("inception5b", "inception4e")
    assert all(not p.requires_grad for p in classifier.model.parameters())
    with torch.no_grad():
        logits = classifier.model(torch.zeros(1, 3, 224, 224))
    assert logits.shape == (1, 1000)


def test_find_pivot_layers_on_a_torchvision_architecture() -> None:
    resnet = torchvision.models.get_model("resnet18", weights=None)
    assert find_pivot_layers(resnet, 224) == ("layer4", "layer3")


# ------------------------------------------------------------------ package.module:factory

FACTORY_SOURCE = """
import torch
from torch import nn

from explain_engine.models import Classifier, Preprocessing


class Tiny(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def build():
    return Tiny()


def build_seven():
    return Tiny(7)


def build_number():
    return 42


def build_classifier():
    return Classifier(
        "mine", Tiny(3), Preprocessing(), ("a", "b", "c"), "features.2", "features.0",
        torch.device("cpu"),
    )
"""


@pytest.fixture
def factory_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module with model factories, importable under a unique name for this test."""
    name = f"cwox_test_factory_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(FACTORY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_factory_model_gets_class_names_and_pivots(factory_module: str) -> None:
    spec = f"{factory_module}:build"
    classifier = load_classifier(spec, device="cpu")
    assert classifier.name == spec
    assert classifier.class_names == tuple(f"class {i}" for i in range(10))
    assert classifier.class_names[0] == "class 0"
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("features", "features.1")
    assert classifier.preprocessing == Preprocessing()
    assert classifier.weights_file is None and classifier.weights_sha256 is None
    assert not classifier.model.training
    assert all(not p.requires_grad for p in classifier.model.parameters())


def test_factory_model_with_weights(factory_module: str, tmp_path: Path) -> None:
    module = __import__(factory_module)
    path = tmp_path / "tiny.pth"
    torch.manual_seed(1)
    state = module.Tiny().state_dict()
    torch.save(state, path)
    classifier = load_classifier(f"{factory_module}:build", weights=path, device="cpu")
    assert classifier.weights_file == path
    assert torch.equal(classifier.model.fc.weight, state["fc.weight"])


def test_factory_model_with_weights_that_do_not_fit(factory_module: str, tmp_path: Path) -> None:
    module = __import__(factory_module)
    path = tmp_path / "seven.pth"
    torch.save(module.Tiny(7).state_dict(), path)
    with pytest.raises(EngineInputError, match="do not fit") as error:
        load_classifier(f"{factory_module}:build", weights=path, device="cpu")
    assert str(path) in _assert_one_line(error)


def test_factory_returning_a_classifier_is_used_as_is(factory_module: str) -> None:
    classifier = load_classifier(f"{factory_module}:build_classifier", device="cpu")
    assert classifier.name == "mine" and classifier.class_names == ("a", "b", "c")
    assert (classifier.stage1_layer, classifier.stage2_layer) == ("features.2", "features.0")
    assert all(not p.requires_grad for p in classifier.model.parameters())


@pytest.mark.parametrize(
    "spec",
    ["cwox_no_such_package.models:build", "{module}:no_such_factory"],
    ids=["missing-module", "missing-attribute"],
)
def test_factory_that_cannot_be_imported(factory_module: str, spec: str) -> None:
    spec = spec.format(module=factory_module)
    with pytest.raises(EngineInputError, match="cannot import") as error:
        load_classifier(spec, device="cpu")
    assert spec in _assert_one_line(error)


def test_factory_returning_a_non_module(factory_module: str) -> None:
    spec = f"{factory_module}:build_number"
    with pytest.raises(EngineInputError, match="int") as error:
        load_classifier(spec, device="cpu")
    assert spec in _assert_one_line(error)


# ------------------------------------------------------------------ top classes


@pytest.mark.parametrize(
    ("probabilities", "expected_k"),
    [
        ([0.96, 0.02, 0.01, 0.01], 1),  # Cum(0.95) = 1
        ([0.02, 0.96, 0.01, 0.01], 1),  # order of the input does not matter
        ([0.6, 0.3, 0.04, 0.03, 0.02, 0.01], 4),  # 0.6, 0.9, 0.94, 0.97 → Cum = 4
        ([0.4, 0.3, 0.2, 0.06, 0.04], 4),  # 0.4, 0.7, 0.9, 0.96 → Cum = 4
        ([0.5, 0.3, 0.1, 0.04, 0.03, 0.03], 5),  # 0.5, 0.8, 0.9, 0.94, 0.97 → Cum = 5
        ([0.3, 0.25, 0.2, 0.1, 0.05, 0.05, 0.05], 5),  # Cum = 6 → capped at max_k = 5
        ([0.1] * 10, 5),  # uniform: Cum = 10 → 5
        ([0.7, 0.3], 2),  # fewer classes than max_k
    ],
)
def test_top_k_rule_default(probabilities: list[float], expected_k: int) -> None:
    values = torch.tensor(probabilities)
    indices, kept = TopKRule().select(values)
    assert len(indices) == len(kept) == expected_k
    assert kept == pytest.approx(sorted(probabilities, reverse=True)[:expected_k])
    assert [probabilities[i] for i in indices] == pytest.approx(kept)
    assert len(set(indices)) == expected_k
    assert all(isinstance(i, int) for i in indices)


def test_top_k_rule_cumulative_is_strict() -> None:
    # Cum(q) counts classes until the cumulative probability *exceeds* q.
    values = torch.tensor([0.5, 0.375, 0.125], dtype=torch.float64)  # exact in float32
    assert TopKRule(max_k=5, cumulative=0.5).select(values)[0] == [0, 1]
    assert TopKRule(max_k=5, cumulative=0.49).select(values)[0] == [0]
    assert TopKRule(max_k=5, cumulative=1.0).select(values)[0] == [0, 1, 2]


def test_top_k_rule_fixed_k() -> None:
    values = torch.tensor([0.96, 0.02, 0.01, 0.005, 0.005])
    indices, kept = TopKRule(max_k=3, cumulative=None).select(values)
    assert indices == [0, 1, 2]
    assert kept == pytest.approx([0.96, 0.02, 0.01])
    assert TopKRule(max_k=10, cumulative=None).select(values)[0] == [0, 1, 2, 3, 4]
    assert TopKRule(max_k=1, cumulative=None).select(values)[0] == [0]


def test_top_k_rule_accepts_a_tensor_that_requires_grad() -> None:
    logits = torch.tensor([2.0, 1.0, 0.0], requires_grad=True)
    indices, kept = TopKRule(max_k=2, cumulative=None).select(logits.softmax(-1))
    assert indices == [0, 1] and len(kept) == 2


@pytest.mark.parametrize(
    ("max_k", "cumulative"),
    [(0, 0.95), (-1, None), (5, 0.0), (5, -0.1), (5, 1.5)],
)
def test_top_k_rule_invalid_parameters(max_k: int, cumulative: float | None) -> None:
    with pytest.raises(EngineInputError, match="top-k") as error:
        TopKRule(max_k=max_k, cumulative=cumulative)
    _assert_one_line(error)


def test_compound_logits_is_logsumexp() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 10, dtype=torch.float64) * 5
    classes = (1, 4, 7)
    expected = torch.log(torch.exp(logits[:, list(classes)]).sum(dim=-1))
    assert torch.allclose(compound_logits(logits, classes), expected)
    assert torch.allclose(compound_logits(logits, (4,)), logits[:, 4])
    assert torch.allclose(compound_logits(logits[0], classes), expected[0])
    # the compound's probability is the sum of its members' probabilities
    probabilities = logits.softmax(dim=-1)
    compound_probability = (compound_logits(logits, classes) - logits.logsumexp(-1)).exp()
    assert torch.allclose(compound_probability, probabilities[:, list(classes)].sum(-1))


def test_compound_logits_is_stable_for_large_logits() -> None:
    logits = torch.tensor([1000.0, 1000.0, -1000.0])
    value = compound_logits(logits, (0, 1))
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(1000.0 + torch.log(torch.tensor(2.0)).item())


def test_compound_and_check_classes() -> None:
    assert compound([7, 3, 3, 5]) == (3, 5, 7)
    assert check_classes([2, 0], 3) == (0, 2)
    with pytest.raises(EngineInputError, match="1000") as error:
        check_classes([1000], 1000)
    _assert_one_line(error)
    with pytest.raises(EngineInputError):
        check_classes([-1], 1000)
    with pytest.raises(EngineInputError, match="empty"):
        check_classes([], 1000)


def test_embedded_model_ships_its_own_learned_tree(embedded: Classifier) -> None:
    from explain_engine.tree import LatentTree

    assert embedded.default_tree is not None and embedded.default_tree.is_file()
    tree = LatentTree.load(embedded.default_tree)
    assert tree.metadata["learner"] == "explain_engine.hlta"
    assert tree.metadata["unseen_classes"] == []
    assert all(tree.level1_parent(c) is not None for c in range(1000))
