"""The project's modules import without cycles: each one imports alone in a fresh interpreter,
and the graph of module-level imports between project modules has no cycle (an import inside a
function does not count: it would only hide a cycle)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("explain_engine", "studies", "studyserver")


def project_modules() -> dict[str, Path]:
    """Dotted name → file of every importable module of the project's packages (migrations
    excluded)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "." in path.stem:  # gunicorn.conf.py: a config file
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _module_level(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements run when the module is imported: not in functions, classes' methods
    or ``if TYPE_CHECKING:`` blocks."""
    found = []
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                pending += node.body + node.orelse
        elif isinstance(node, (ast.Try, ast.With, ast.ClassDef)):
            pending += [
                *node.body,
                *getattr(node, "orelse", []),
                *getattr(node, "finalbody", []),
                *(n for handler in getattr(node, "handlers", []) for n in handler.body),
            ]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules its module-level imports name."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            edges |= {target for target in targets if target in modules and target != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path of module names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_level_import_graph_has_no_cycle():
    modules = project_modules()
    assert len(modules) > 100
    assert find_cycle(import_graph(modules)) is None


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_job_module_hides_an_import_in_a_function():
    """The job modules' imports of project modules are all at module level."""
    for name, path in project_modules().items():
        if not name.startswith("studies.jobs"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_checking = [
            node
            for block in tree.body
            if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
            for node in block.body
        ]
        top = set(map(id, [*_module_level(tree), *type_checking]))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                named = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert not (named or "").startswith(PACKAGES), f"{name}: import {named}"


#: Runs in a fresh interpreter: loads the third-party libraries once (no project module), then
#: imports each project module in a forked child of its own, so every child starts without any
#: project module loaded, as a fresh interpreter would.
ALONE = """
import json, os, sys, traceback
import django, numpy, pandas, PIL.Image, scipy.stats, torch, torchvision  # noqa: F401
failures = {}
for name in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        try:
            if name.startswith("studies") or name in ("studyserver.urls", "studyserver.celery"):
                django.setup()
            __import__(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1]:
        failures[name] = "failed (traceback above)"
print(json.dumps(failures))
"""


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = [n for n in project_modules() if n != "explain_engine.__main__"]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    run = subprocess.run(
        [sys.executable, "-c", ALONE, json.dumps(names)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1]) == {}, run.stderr[-3000:]
