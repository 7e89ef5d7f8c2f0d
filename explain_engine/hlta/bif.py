"""BIF files of tree models, as latlab writes them (spec §5, BayesNet.saveAsBif).

A ``network`` block, one ``variable`` block per node (binary, states "s0" "s1"), then one
``probability`` block per node. In a conditional table the child is the most significant
index: ``table P(c=0|p=0) P(c=0|p=1) P(c=1|p=0) P(c=1|p=1);``; the root's block has no
parent and lists P(root=0) P(root=1).

BIF stores no levels: ``read_bif`` makes leaves observed (level 0) and gives each latent the
smallest level of its children plus one, which restores HLTA levels (every latent has a
child exactly one level below; bridged top-level latents share their level).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from explain_engine.errors import EngineInputError
from explain_engine.files import write_atomically
from explain_engine.hlta.ltm import TreeModel

_VARIABLE = re.compile(r'variable\s+"([^"]+)"\s*\{\s*type\s+discrete\s*\[\s*2\s*\]')
_PROBABILITY = re.compile(
    r'probability\s*\(\s*"([^"]+)"\s*(?:\|\s*"([^"]+)"\s*)?\)\s*\{\s*table\s+([^;]*);\s*\}'
)


def bif_text(model: TreeModel, network: str = "HLTA") -> str:
    """The model as BIF text (module docstring)."""
    lines = [f'network "{network}" {{', "}", ""]
    for name in model.names:
        lines += [f'variable "{name}" {{', '\ttype discrete[2] { "s0" "s1" };', "}", ""]
    for node, name in enumerate(model.names):
        parent = model.parent[node]
        if parent < 0:
            header, cells = f'probability ( "{name}" ) {{', model.cpt[node, 0]
        else:
            header = f'probability ( "{name}" | "{model.names[parent]}" ) {{'
            cells = model.cpt[node].T.ravel()  # [x, s]: child most significant
        table = " ".join(repr(float(c)) for c in cells)
        lines += [header, f"\ttable {table};", "}", ""]
    return "\n".join(lines)


def write_bif(model: TreeModel, path: str | os.PathLike[str], network: str = "HLTA") -> None:
    """Write the model to a BIF file."""
    payload = bif_text(model, network).encode("utf-8")
    write_atomically(path, lambda stream: stream.write(payload))


def read_bif(path: str | os.PathLike[str]) -> TreeModel:
    """Read a binary tree-shaped BIF file; ``EngineInputError`` naming it if it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineInputError(
            f"{path}: cannot read the file ({exc}); expected a BIF file"
        ) from None
    try:
        return parse_bif(text)
    except EngineInputError as exc:
        raise EngineInputError(f"{path}: {exc}") from None


def parse_bif(text: str) -> TreeModel:
    """The model in BIF text; ``EngineInputError`` if it is not a binary tree model."""
    names = _VARIABLE.findall(text)
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise EngineInputError("a variable is declared twice; expected unique names")
    parent = np.full(len(names), -2)
    cpt = np.empty((len(names), 2, 2))
    for child, parent_name, table in _PROBABILITY.findall(text):
        if child not in index or (parent_name and parent_name not in index):
            raise EngineInputError(f"probability block for {child!r} names an undeclared variable")
        cells = np.array([float(c) for c in table.replace(",", " ").split()])
        node = index[child]
        if parent_name:
            if cells.size != 4:
                raise EngineInputError(f"table of {child!r} has {cells.size} cells; expected 4")
            parent[node], cpt[node] = index[parent_name], cells.reshape(2, 2).T
        else:
            if cells.size != 2:
                raise EngineInputError(
                    f"table of root {child!r} has {cells.size} cells; expected 2"
                )
            parent[node], cpt[node] = -1, cells
    missing = [names[i] for i in np.flatnonzero(parent == -2)]
    if missing:
        raise EngineInputError(
            f"no probability block for {missing[0]!r}; expected one per variable"
        )
    try:
        return TreeModel(tuple(names), parent, _levels(parent), cpt)
    except ValueError as exc:
        raise EngineInputError(f"not a latent tree model: {exc}") from None


def _levels(parent: np.ndarray) -> np.ndarray:
    """Leaves 0; a latent 1 + the smallest level among its children (hlta-xai levels)."""
    n = len(parent)
    children: list[list[int]] = [[] for _ in range(n)]
    for node, p in enumerate(parent):
        if p >= 0:
            children[p].append(node)
    order = [int(node) for node in np.flatnonzero(parent < 0)]
    for node in order:  # breadth-first: the list grows while it is walked
        order.extend(children[node])
    if len(order) != n:
        raise EngineInputError("some variables are not below a root; expected a tree")
    level = np.zeros(n, dtype=int)
    for node in reversed(order):
        if children[node]:
            level[node] = 1 + min(level[c] for c in children[node])
    return level
