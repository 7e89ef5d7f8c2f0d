"""Registries of the engine's extension points: base explainers and WOX methods.

A plug-in is one module with a class decorator, as Zennit registers composites::

    @register_explainer("gradcam")            # in explain_engine/explainers/gradcam.py
    class GradCAM(BaseExplainer): ...

    @register_method("cwox-2s", order=3)      # in explain_engine/methods/cwox_2s.py
    class Cwox2s(WoxMethod): ...

Nothing else lists their names: every list of names (CLI ``choices``, the study server's known
methods, form choices) is read from here. Discovery is automatic: a registry imports its
package (:data:`EXPLAINERS` → ``explain_engine.explainers``, :data:`METHODS` →
``explain_engine.methods``) on its first lookup, and each package's ``__init__`` imports every
module in it (:func:`import_submodules`), so a new module is registered by existing.

What a registered class declares is described by its base class
(:class:`explain_engine.explainers.base.BaseExplainer`, :class:`explain_engine.wox.WoxMethod`).
The decorator sets the class's ``name``. This module imports neither torch nor the plug-ins.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from explain_engine.errors import EngineInputError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Named classes of one kind, filled by :meth:`register` when ``package`` is imported."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, tuple[int, T]] = {}

    def register(self, name: str, *, order: int = 100) -> Callable[[T], T]:
        """Class decorator: register the class under ``name`` (listed by ``order``, then name).

        Raises ValueError when another class already holds ``name``.
        """

        def decorate(cls: T) -> T:
            held = self._entries.get(name)
            if held is not None and held[1].__qualname__ != cls.__qualname__:
                raise ValueError(f"{self.kind} {name!r} is already registered by {held[1]}")
            cls.name = name
            self._entries[name] = (order, cls)
            return cls

        return decorate

    def names(self) -> tuple[str, ...]:
        """Every registered name, in declared order."""
        self._discover()
        return tuple(sorted(self._entries, key=lambda name: (self._entries[name][0], name)))

    def get(self, name: str) -> T:
        """The class registered as ``name``; EngineInputError listing the known names if none."""
        self._discover()
        try:
            return self._entries[name][1]
        except KeyError:
            raise EngineInputError(
                f"{self.kind} {name!r}: unknown (expected one of {', '.join(self.names())})"
            ) from None

    def classes(self) -> dict[str, T]:
        """Name → class, in declared order."""
        return {name: self._entries[name][1] for name in self.names()}

    def _discover(self) -> None:
        importlib.import_module(self.package)


def import_submodules(package: str, path: Any) -> None:
    """Import every module of ``package`` (its ``__path__``): what registers its plug-ins."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")


#: A placebo arm's name is this prefix and a method's (``placebo-cwox-2s``; see
#: :mod:`explain_engine.placebo`); kept here, where torch-free callers can read it.
PLACEBO_PREFIX = "placebo-"

EXPLAINERS: Registry[type] = Registry("explainer", "explain_engine.explainers")
METHODS: Registry[type] = Registry("method", "explain_engine.methods")

#: ``@register_explainer("name")``: see :class:`explain_engine.explainers.base.BaseExplainer`.
register_explainer = EXPLAINERS.register
#: ``@register_method("name", order=N)``: see :class:`explain_engine.wox.WoxMethod`.
register_method = METHODS.register


def explainer_names() -> tuple[str, ...]:
    """Names of the registered base explainers."""
    return EXPLAINERS.names()


def method_names() -> tuple[str, ...]:
    """Names of the registered WOX methods (SWOX, CWOX-1sA, CWOX-1sB, CWOX-2s first)."""
    return METHODS.names()
