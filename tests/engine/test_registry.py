"""Registries of base explainers and WOX methods: filled from their packages' modules alone,
read by every list of names, and extended by adding one module."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import explain_engine.explainers as explainers_package
import explain_engine.methods as methods_package
from explain_engine.errors import EngineInputError
from explain_engine.explainers.base import BaseExplainer
from explain_engine.registry import EXPLAINERS, METHODS, explainer_names, method_names
from explain_engine.settings import ExplainerSpec, from_json, to_json
from explain_engine.wox import WoxMethod

ENGINE = Path(explainers_package.__file__).resolve().parents[1]


def defined_in(package, base: type) -> set[type]:
    """Concrete subclasses of ``base`` defined in the modules of ``package``."""
    found = set()
    for module in pkgutil.iter_modules(package.__path__):
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if (
                issubclass(value, base)
                and not inspect.isabstract(value)
                and value.__module__ == loaded.__name__
            ):
                found.add(value)
    return found


def test_the_registries_hold_exactly_what_the_packages_define():
    assert set(EXPLAINERS.classes().values()) == defined_in(explainers_package, BaseExplainer)
    assert set(METHODS.classes().values()) == defined_in(methods_package, WoxMethod)
    assert method_names()[:4] == ("swox", "cwox-1sa", "cwox-1sb", "cwox-2s")
    assert {"gradcam", "rise"} <= set(explainer_names())


@pytest.mark.parametrize("name", explainer_names())
def test_every_explainer_declares_the_contract(name):
    cls = EXPLAINERS.get(name)
    assert cls.name == name and cls.description and isinstance(cls.needs_gradients, bool)
    settings = cls.reference_settings()
    assert isinstance(settings, cls.settings_type) and dataclasses.is_dataclass(settings)
    assert from_json(cls.settings_type, to_json(settings)) == settings
    assert ExplainerSpec(name, to_json(settings)).build().settings == settings
    assert cls.reference_wox_options.contrast == "pairwise"


def test_an_unknown_name_lists_the_registered_ones():
    with pytest.raises(EngineInputError, match="explainer 'nope': unknown .*gradcam"):
        ExplainerSpec("nope")
    with pytest.raises(EngineInputError, match="method 'nope': unknown .*cwox-2s"):
        METHODS.get("nope")


def test_settings_from_json_name_the_bad_field():
    with pytest.raises(EngineInputError, match=r"rise settings\.stage1\.num_masks: 'many'"):
        ExplainerSpec("rise", {"stage1": {"num_masks": "many"}})
    with pytest.raises(EngineInputError, match="unknown field"):
        ExplainerSpec("gradcam", {"relu": True, "colour": "red"})
    spec = ExplainerSpec("rise").with_mask_counts(64, 32)
    assert (spec.settings.stage1.num_masks, spec.settings.stage2.grid) == (64, 10)
    with pytest.raises(EngineInputError, match="has no such field"):
        ExplainerSpec("gradcam").with_mask_counts(64, 32)


EXPLAINER_PLUGIN = '''
from dataclasses import dataclass

import torch

from explain_engine.explainers.base import BaseExplainer
from explain_engine.registry import register_explainer


@dataclass(frozen=True)
class FlatSettings:
    value: float = 1.0


@register_explainer("flat")
class Flat(BaseExplainer):
    """Every map is constant."""

    settings_type = FlatSettings
    needs_gradients = False
    description = "constant maps (a test plug-in)"

    def run(self, classifier, inputs, plan):
        logits = classifier.model(inputs)
        requests = plan(logits)
        size = inputs.shape[-2:]
        return logits, [
            {r: torch.full(size, self.settings.value) for r in image} for image in requests
        ]
'''

METHOD_PLUGIN = '''
from explain_engine.registry import register_method
from explain_engine.results import Heatmap
from explain_engine.wox import WoxMethod


@register_method("first-only", order=50)
class FirstOnly(WoxMethod):
    """The plain map of the most probable class only."""

    description = "the best class's plain map (a test plug-in)"

    def requests(self, top, clusters):
        return {(1, (top[0],))}

    def combine(self, base, clusters, explainer):
        best = clusters[0][0]
        heatmap = Heatmap("class", (best,), (), base[(1, (best,))], 0)
        return self._explanation(clusters, explainer, [heatmap])
'''


def test_a_new_explainer_and_method_are_one_module_each(tmp_path):
    """A copy of the engine with one module added to explainers/ and one to methods/, and no
    other file changed, offers both by name on the command line."""
    copy = tmp_path / "explain_engine"
    shutil.copytree(ENGINE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    (copy / "explainers" / "flat.py").write_text(EXPLAINER_PLUGIN)
    (copy / "methods" / "first_only.py").write_text(METHOD_PLUGIN)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path)}
    script = (
        "import explain_engine.registry as r, explain_engine.cli.options as o\n"
        "assert 'flat' in r.explainer_names() and 'first-only' in r.method_names()\n"
        "print(o.parse_methods('first-only,swox'))\n"
        "print(r.EXPLAINERS.get('flat').__module__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["('first-only',", "'swox')", "explain_engine.explainers.flat"]
    help_text = subprocess.run(
        [sys.executable, "-m", "explain_engine", "explain", "--help"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert "flat" in help_text and "first-only" in help_text


def test_reading_the_method_registry_does_not_load_torch():
    script = (
        "import sys\n"
        "from explain_engine.wox import has_cluster_map\n"
        "from explain_engine.registry import method_names\n"
        "assert [has_cluster_map(m) for m in method_names()] == [False, False, False, True]\n"
        "sys.exit('torch' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], cwd=ENGINE.parent).returncode == 0
