"""The README's Python example runs as written and explains one photograph with every method."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from explain_engine.registry import method_names

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.slow


def library_example() -> str:
    """The first ```python block under the README's "Library use" heading."""
    section = README.read_text(encoding="utf-8").split("## Library use", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_example_explains_one_image_with_all_four_methods():
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the test owns its process; the engine does not
        exec(compile(library_example(), str(README), "exec"), namespace)
    explanation = namespace["explanation"]
    assert set(explanation.methods) == set(method_names()) and len(method_names()) >= 4
    assert {top.name for top in explanation.top_classes[:3]} == {
        "tiger cat",
        "Egyptian cat",
        "tabby",
    }
    assert explanation.methods["cwox-2s"].cluster_maps()
    for wox in explanation.methods.values():
        assert {h.target for h in wox.maps if h.kind == "class"} == {
            (top.index,) for top in explanation.top_classes
        }
    assert printed.getvalue().count("\n") == 1 + len(explanation.methods)
