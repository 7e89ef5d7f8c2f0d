"""Typed settings as JSON: frozen dataclasses in, plain JSON values out, and back, checked.

:func:`to_json` turns a settings dataclass (nested dataclasses, tuples, paths) into JSON
values; :func:`from_json` rebuilds it from them, refusing unknown and mistyped fields with an
:class:`~explain_engine.errors.EngineInputError` that names the field, and running each
dataclass's own ``__post_init__`` checks. Background jobs store settings this way, so that what
a worker loads is exactly what was validated when the job was created.

:class:`ExplainerSpec` is the choice of a registered base explainer with its typed settings,
and :func:`override` changes settings fields by dotted name (``stage1.num_masks``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

from explain_engine.errors import EngineInputError
from explain_engine.registry import EXPLAINERS

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """JSON values of ``value``: dataclasses → dicts, tuples → lists, paths → strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def from_json(cls: type[T], data: Any, where: str = "") -> T:
    """The dataclass ``cls`` rebuilt from :func:`to_json` output (EngineInputError if bad)."""
    return _convert(cls, data, where or cls.__name__)


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except EngineInputError as error:
                errors.append(str(error))
        raise EngineInputError(errors[0] if len(errors) == 1 else f"{where}: {value!r} is invalid")
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise EngineInputError(f"{where}: {value!r} (expected one of {typing.get_args(kind)})")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise EngineInputError(f"{where}: {value!r} (expected a list)")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise EngineInputError(f"{where}: {value!r} (expected {len(args)} values)")
        return tuple(
            _convert(a, v, f"{where}[{i}]")
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (dict, Mapping) or kind is dict:
        if not isinstance(value, Mapping):
            raise EngineInputError(f"{where}: {value!r} (expected an object)")
        return dict(value)
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, where)
    if kind is Path:
        if not isinstance(value, (str, Path)):
            raise EngineInputError(f"{where}: {value!r} (expected a path)")
        return Path(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(kind, type) and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        raise EngineInputError(f"{where}: {value!r} (expected {kind.__name__})")
    return value


def _dataclass(cls: type, value: Any, where: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise EngineInputError(f"{where}: {value!r} (expected an object)")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if unknown := sorted(set(value) - set(fields)):
        raise EngineInputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    arguments = {
        name: _convert(hints[name], value[name], f"{where}.{name}")
        for name in fields
        if name in value
    }
    try:
        return cls(**arguments)
    except TypeError as error:
        raise EngineInputError(f"{where}: {error}") from None


def override(settings: T, assignments: Mapping[str, Any]) -> T:
    """``settings`` with fields replaced by dotted name, e.g. ``{"stage1.num_masks": 64}``;
    values are converted to the field's type (EngineInputError for an unknown field)."""
    data = to_json(settings)
    for path, value in assignments.items():
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise EngineInputError(f"setting {path!r}: {type(settings).__name__} has no such field")
        node[leaf] = to_json(value)
    return from_json(type(settings), data)


def field_paths(settings: Any, name: str) -> list[str]:
    """Dotted paths of every field called ``name`` in ``settings`` (nested dataclasses too)."""
    found = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == name:
            found.append(f.name)
        elif dataclasses.is_dataclass(value):
            found += [f"{f.name}.{path}" for path in field_paths(value, name)]
    return found


@dataclasses.dataclass(frozen=True)
class ExplainerSpec:
    """A registered base explainer and its settings (None: the explainer's defaults).

    ``settings`` is an instance of the explainer's ``settings_type``; a mapping (from JSON) is
    converted and checked. :meth:`build` makes the explainer.
    """

    name: str = "gradcam"
    settings: Any = None

    def __post_init__(self) -> None:
        cls = EXPLAINERS.get(self.name)
        settings = self.settings
        if settings is None:
            settings = cls.settings_type()
        elif isinstance(settings, Mapping):
            settings = from_json(cls.settings_type, settings, f"{self.name} settings")
        elif not isinstance(settings, cls.settings_type):
            raise EngineInputError(
                f"{self.name} settings: expected {cls.settings_type.__name__}, "
                f"not {type(settings).__name__}"
            )
        object.__setattr__(self, "settings", settings)

    @classmethod
    def reference(cls, name: str) -> ExplainerSpec:
        """Explainer ``name`` with the public reference code's settings."""
        return cls(name, EXPLAINERS.get(name).reference_settings())

    def build(self, chunk_size: int | None = None) -> Any:
        """The :class:`~explain_engine.explainers.base.BaseExplainer` of this choice."""
        return EXPLAINERS.get(self.name)(self.settings, chunk_size=chunk_size)

    def with_overrides(self, assignments: Mapping[str, Any]) -> ExplainerSpec:
        """The same explainer with settings fields replaced (see :func:`override`)."""
        if not assignments:
            return self
        try:
            return ExplainerSpec(self.name, override(self.settings, assignments))
        except EngineInputError as error:
            raise EngineInputError(f"explainer {self.name}: {error}") from None

    def with_seed(self, seed: int) -> ExplainerSpec:
        """Every ``seed`` field of the settings set to ``seed`` (none: unchanged)."""
        return self.with_overrides({path: seed for path in field_paths(self.settings, "seed")})

    def has_mask_counts(self) -> bool:
        """Whether the settings have mask counts per stage (RISE's)."""
        paths = field_paths(self.settings, "num_masks")
        return {"stage1.num_masks", "stage2.num_masks"} <= set(paths)

    def with_mask_counts(self, stage1: int, stage2: int) -> ExplainerSpec:
        """Mask counts per stage (``stage1.num_masks``, ``stage2.num_masks``); EngineInputError
        for an explainer whose settings have none (see :meth:`has_mask_counts`)."""
        return self.with_overrides({"stage1.num_masks": stage1, "stage2.num_masks": stage2})


def choose_explainer(
    name: str,
    *,
    reference: bool = False,
    seed: int | None = None,
    masks: str | None = None,
    assignments: Mapping[str, Any] | None = None,
) -> ExplainerSpec:
    """Explainer ``name`` as the command line and the study server's commands ask for it:
    ``reference`` starts from the reference code's settings, ``seed`` sets every seed field,
    ``masks`` (``"5000,3000"``) the mask counts of the explainers that have them (the others
    ignore it), ``assignments`` any field by dotted name."""
    spec = ExplainerSpec.reference(name) if reference else ExplainerSpec(name)
    if seed is not None:
        spec = spec.with_seed(seed)
    if masks and spec.has_mask_counts():
        spec = spec.with_mask_counts(*parse_mask_counts(masks))
    return spec.with_overrides(assignments or {})


def parse_mask_counts(text: str) -> tuple[int, int]:
    """``"5000,3000"`` → (5000, 3000): masks for stage 1, stage 2 (EngineInputError)."""
    try:
        stage1, stage2 = (int(n) for n in text.split(","))
    except ValueError:
        raise EngineInputError(
            f"--rise-masks {text!r}: expected two integers like 5000,3000"
        ) from None
    return stage1, stage2
