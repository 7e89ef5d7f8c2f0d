"""The latent tree over classifier classes: load/save, HLTA import/export, restrict and cut.

A tree has nodes with a string id and a level: level 0 nodes are observed classes (they carry a
class index and usually a name), levels 1, 2, ... are latent variables. Every node has at most
one parent, whose level is strictly higher than its own; nodes without a parent are roots.
Levels may be skipped (a level-3 node may have level-1 children).

Project JSON format (``LatentTree.save`` / ``LatentTree.load``), version 1::

    {
      "format": "cwox-latent-tree",
      "version": 1,
      "metadata": {...},                      # free-form dict about the whole tree
      "nodes": [
        {"id": "Z20", "level": 2, "parent": null, "class_index": null, "name": null},
        {"id": "Z1", "level": 1, "parent": "Z20", "class_index": null, "name": null,
         "metadata": {"percentage": 0.13}},
        {"id": "c486", "level": 0, "parent": "Z1", "class_index": 486, "name": "cello"},
        ...
      ]
    }

Node fields: ``id`` (unique non-empty string), ``level`` (int >= 0), ``parent`` (an id or
null), ``class_index`` (int >= 0 on level-0 nodes, null on latents; each class at most once),
``name`` (string or null) and ``metadata`` (optional dict, default ``{}``). The order of
``nodes`` gives the order of each node's children.

HLTA topic-tree format (``from_hlta_topic_tree`` / ``to_hlta_topic_tree``), as published with
CWOX: a JSON list of root latents ``{"id", "text", "data": {"name", "level", "percentage"},
"children": [...]}``. Classes are not child nodes: a level-1 latent has ``"children": []`` and
its classes in ``text`` as ``c<idx>-<name> <number>`` pairs. On import, class nodes get ids
``c<idx>``, a latent's ``data.percentage`` goes to its metadata as ``"percentage"`` and the
number after a class token to the class node's metadata as ``"p0"``; text of higher latents is
ignored. Export writes those two values (0.0 when absent) and nothing else of the metadata,
latent names are not kept (``data.name`` is the id) and whitespace in class names becomes ``_``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explain_engine.errors import EngineInputError
from explain_engine.files import write_json_atomically

FORMAT_NAME = "cwox-latent-tree"
FORMAT_VERSION = 1

Probabilities = Mapping[int, float] | Sequence[float]

_CLASS_TOKEN = re.compile(r"c(\d+)(?:-(\S+))?")


@dataclass(frozen=True)
class TreeNode:
    """One node: a class (level 0, ``class_index`` set) or a latent (level >= 1, no index)."""

    id: str
    level: int
    parent: str | None = None
    class_index: int | None = None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class LatentTree:
    """A latent tree, validated and indexed once at construction (see the module docstring).

    Raises ``EngineInputError`` when the nodes do not form a valid tree: duplicate ids or
    classes, a parent that does not exist, a parent cycle, a child whose level is not below
    its parent's, or a class/latent whose level or class index disagree.
    """

    def __init__(self, nodes: Iterable[TreeNode], metadata: Mapping[str, Any] | None = None):
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._nodes: dict[str, TreeNode] = {}
        self._class_node: dict[int, str] = {}
        for node in nodes:
            self._add(node)
        self._children: dict[str, list[str]] = {node_id: [] for node_id in self._nodes}
        for node in self._nodes.values():
            if node.parent is None:
                continue
            if node.parent not in self._nodes:
                raise EngineInputError(
                    f"node {node.id} has parent {node.parent}, which is not a node; "
                    "expected every parent to be listed"
                )
            self._children[node.parent].append(node.id)
        self._check_acyclic()
        for node in self._nodes.values():
            if node.parent is not None and self._nodes[node.parent].level <= node.level:
                raise EngineInputError(
                    f"node {node.id} (level {node.level}) has parent {node.parent} "
                    f"(level {self._nodes[node.parent].level}); "
                    "expected a parent level above the child level"
                )

    def _add(self, node: TreeNode) -> None:
        if node.level == 0 and node.class_index is None:
            raise EngineInputError(f"level-0 node {node.id} has no class index; expected one")
        if node.level > 0 and node.class_index is not None:
            raise EngineInputError(
                f"latent node {node.id} (level {node.level}) has class index "
                f"{node.class_index}; expected class nodes at level 0"
            )
        if node.class_index is not None:
            if node.class_index in self._class_node:
                raise EngineInputError(
                    f"class {node.class_index} is listed twice (nodes "
                    f"{self._class_node[node.class_index]} and {node.id}); expected each class once"
                )
            self._class_node[node.class_index] = node.id
        if node.id in self._nodes:
            raise EngineInputError(f"node id {node.id} is listed twice; expected unique ids")
        self._nodes[node.id] = node

    def _check_acyclic(self) -> None:
        done: set[str] = set()
        for start in self._nodes:
            path: list[str] = []
            on_path: set[str] = set()
            node_id: str | None = start
            while node_id is not None and node_id not in done:
                if node_id in on_path:
                    raise EngineInputError(
                        f"parent links form a cycle through node {node_id}; expected a tree"
                    )
                path.append(node_id)
                on_path.add(node_id)
                node_id = self._nodes[node_id].parent
            done.update(path)

    # ----------------------------------------------------------------------------- queries

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatentTree):
            return NotImplemented
        return self._nodes == other._nodes and self.metadata == other.metadata

    def __repr__(self) -> str:
        return (
            f"LatentTree({len(self._class_node)} classes, "
            f"{len(self._nodes) - len(self._class_node)} latents, max level {self.max_level})"
        )

    @property
    def nodes(self) -> tuple[TreeNode, ...]:
        """All nodes, in insertion order."""
        return tuple(self._nodes.values())

    @property
    def roots(self) -> tuple[str, ...]:
        """Ids of the nodes without a parent."""
        return tuple(node.id for node in self._nodes.values() if node.parent is None)

    @property
    def class_indices(self) -> tuple[int, ...]:
        """The class indices of the tree's level-0 nodes, sorted."""
        return tuple(sorted(self._class_node))

    @property
    def levels(self) -> tuple[int, ...]:
        """The distinct levels present in the tree, ascending."""
        return tuple(sorted({node.level for node in self._nodes.values()}))

    @property
    def max_level(self) -> int:
        """The highest level in the tree (0 for a tree of classes only or an empty tree)."""
        return max(self.levels, default=0)

    def node(self, node_id: str) -> TreeNode:
        """The node with this id; ``EngineInputError`` if there is none."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise EngineInputError(f"no node {node_id!r} in the latent tree") from None

    def class_node(self, class_index: int) -> TreeNode:
        """The level-0 node of this class; ``EngineInputError`` if the class is not in the tree."""
        try:
            return self._nodes[self._class_node[class_index]]
        except KeyError:
            raise EngineInputError(f"class {class_index} is not in the latent tree") from None

    def parent(self, node_id: str) -> str | None:
        """The id of the node's parent, or None for a root."""
        return self.node(node_id).parent

    def children(self, node_id: str) -> tuple[str, ...]:
        """The ids of the node's children, in node order."""
        self.node(node_id)
        return tuple(self._children[node_id])

    def ancestor_at_level(self, class_index: int, level: int) -> str:
        """The id of the class's highest ancestor (or itself) whose level is at most ``level``.

        This is the class's ancestor at ``level`` when there is one; when the path skips that
        level it is the ancestor just below it, and when the path ends below it (a shallower
        branch) it is the topmost ancestor. Level 0 gives the class node itself.
        """
        if level < 0:
            raise ValueError(f"level must be >= 0, got {level}")
        node = self.class_node(class_index)
        while node.parent is not None and self._nodes[node.parent].level <= level:
            node = self._nodes[node.parent]
        return node.id

    def level1_parent(self, class_index: int) -> str | None:
        """The id of the class's parent if that parent is a level-1 latent, else None."""
        parent = self.class_node(class_index).parent
        return parent if parent is not None and self._nodes[parent].level == 1 else None

    # ---------------------------------------------------------------------------- clusters

    def clusters(
        self,
        classes: Sequence[int],
        probabilities: Probabilities | None = None,
        level: int = 1,
    ) -> list[tuple[int, ...]]:
        """Group ``classes`` by their ancestor at ``level`` (see ``ancestor_at_level``).

        ``probabilities`` is a mapping class index -> probability or a sequence aligned with
        ``classes``. With probabilities, clusters are ordered by their best class's probability
        and classes within a cluster by probability, both descending (ties keep input order);
        without, both follow the order of ``classes``. A class that is not in the tree becomes
        its own cluster, with a warning unless the tree's metadata says ``"partial": true`` (a
        tree made for a few classes on purpose).
        """

        if level < 0:
            raise ValueError(f"level must be >= 0, got {level}")

        def key(class_index: int) -> Hashable:
            if class_index in self._class_node:
                return self.ancestor_at_level(class_index, level)
            if self.metadata.get("partial") is True:
                return ("missing", class_index)
            warnings.warn(
                f"class {class_index} is not in the latent tree; it becomes its own cluster",
                stacklevel=4,
            )
            return ("missing", class_index)

        return _group(classes, probabilities, key)

    # ------------------------------------------------------------------------ project JSON

    def to_dict(self) -> dict[str, Any]:
        """The tree in the project JSON format (see the module docstring)."""
        nodes = []
        for node in self._nodes.values():
            entry: dict[str, Any] = {
                "id": node.id,
                "level": node.level,
                "parent": node.parent,
                "class_index": node.class_index,
                "name": node.name,
            }
            if node.metadata:
                entry["metadata"] = node.metadata
            nodes.append(entry)
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "metadata": self.metadata,
            "nodes": nodes,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LatentTree:
        """Build a tree from the project JSON format; ``EngineInputError`` if malformed."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise EngineInputError(f'expected a JSON object with "format": "{FORMAT_NAME}"')
        if data.get("version") != FORMAT_VERSION:
            raise EngineInputError(
                f"unsupported {FORMAT_NAME} version {data.get('version')!r}; "
                f"expected {FORMAT_VERSION}"
            )
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise EngineInputError('"metadata" is not an object; expected a JSON object')
        entries = data.get("nodes")
        if not isinstance(entries, list):
            raise EngineInputError('"nodes" is missing or not a list; expected a list of nodes')
        return cls((_node_from_dict(entry, i) for i, entry in enumerate(entries)), metadata)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tree in the project JSON format, atomically (a partial file never stays)."""
        write_json_atomically(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatentTree:
        """Read a tree file in the project format or the HLTA topic-tree format (auto-detected).

        Raises ``EngineInputError`` naming the file when it cannot be read, is not JSON or is
        not a valid tree in either format.
        """
        data = _read_json(path)
        with _naming(path):
            if isinstance(data, list):
                return cls.from_hlta_topic_tree(data)
            if isinstance(data, dict):
                return cls.from_dict(data)
            raise EngineInputError(
                f"top level is a JSON {type(data).__name__}; expected a {FORMAT_NAME} object "
                "or an HLTA topic-tree list"
            )

    # ------------------------------------------------------------------ HLTA topic tree

    @classmethod
    def from_hlta_topic_tree(cls, source: str | os.PathLike[str] | list[Any]) -> LatentTree:
        """Import an HLTA topic tree: a file path or the already parsed JSON list.

        Raises ``EngineInputError`` (naming the file when given a path) if it is malformed.
        """
        if not isinstance(source, list):
            data = _read_json(source)
            with _naming(source):
                if not isinstance(data, list):
                    raise EngineInputError("not an HLTA topic tree; expected a JSON list of nodes")
                return cls.from_hlta_topic_tree(data)
        nodes: list[TreeNode] = []
        stack = [(entry, None) for entry in reversed(source)]
        while stack:
            entry, parent = stack.pop()
            node = _hlta_latent(entry, parent)
            nodes.append(node)
            if node.level == 1:
                if entry["children"]:
                    raise EngineInputError(
                        f"level-1 node {node.id} has child nodes; expected its classes in text"
                    )
                nodes.extend(_hlta_classes(entry, node.id))
            stack.extend((child, node.id) for child in reversed(entry["children"]))
        return cls(nodes)

    def to_hlta_topic_tree(self) -> list[dict[str, Any]]:
        """The tree as an HLTA topic tree (a JSON-ready list of root latents).

        Raises ``ValueError`` if the tree cannot be written in that shape: a class whose parent
        is not a level-1 latent.
        """
        for class_index, node_id in self._class_node.items():
            if self.level1_parent(class_index) is None:
                raise ValueError(
                    f"class {class_index} (node {node_id}) has no level-1 parent; "
                    "an HLTA topic tree holds classes only in level-1 latents"
                )

        def tokens(node_id: str) -> list[str]:
            node = self._nodes[node_id]
            if node.level == 0:
                name = "" if node.name is None else "-" + re.sub(r"\s+", "_", node.name)
                p0 = float(node.metadata.get("p0", 0.0))
                return [f"c{node.class_index:03d}{name}", repr(p0)]
            return [token for child in self._children[node_id] for token in tokens(child)]

        def export(node_id: str) -> dict[str, Any]:
            node = self._nodes[node_id]
            return {
                "id": node.id,
                "text": " ".join(tokens(node_id)),
                "data": {
                    "name": node.id,
                    "level": node.level,
                    "percentage": float(node.metadata.get("percentage", 0.0)),
                },
                "children": [
                    export(child) for child in self._children[node_id] if self._nodes[child].level
                ],
            }

        return [export(root) for root in self.roots]


def singleton_clusters(
    classes: Sequence[int], probabilities: Probabilities | None = None
) -> list[tuple[int, ...]]:
    """Each class its own cluster (used without a tree); ordered as ``LatentTree.clusters``."""
    return _group(classes, probabilities, lambda class_index: class_index)


def _group(
    classes: Sequence[int],
    probabilities: Probabilities | None,
    key: Callable[[int], Hashable],
) -> list[tuple[int, ...]]:
    """Group classes by ``key`` and order groups and members as ``LatentTree.clusters`` says."""
    try:
        indices = [operator.index(c) for c in classes]
    except TypeError:
        raise EngineInputError(f"classes {classes!r} are not all integers") from None
    if len(set(indices)) != len(indices):
        raise EngineInputError(f"classes {indices} contain a repeat; expected distinct classes")
    probability = _probability_of(indices, probabilities)
    groups: dict[Hashable, list[int]] = {}
    for class_index in indices:
        groups.setdefault(key(class_index), []).append(class_index)
    clusters = [sorted(members, key=lambda c: -probability[c]) for members in groups.values()]
    clusters.sort(key=lambda members: -probability[members[0]])
    return [tuple(members) for members in clusters]


def _probability_of(indices: list[int], probabilities: Probabilities | None) -> dict[int, float]:
    """Class index -> probability (all 0 without probabilities, so sorting keeps input order)."""
    if probabilities is None:
        return dict.fromkeys(indices, 0.0)
    if isinstance(probabilities, Mapping):
        missing = [c for c in indices if c not in probabilities]
        if missing:
            raise EngineInputError(f"no probability given for classes {missing}")
        return {c: float(probabilities[c]) for c in indices}
    values = [float(p) for p in probabilities]
    if len(values) != len(indices):
        raise EngineInputError(
            f"{len(values)} probabilities for {len(indices)} classes; expected one per class"
        )
    return dict(zip(indices, values, strict=True))


def _node_from_dict(entry: Any, position: int) -> TreeNode:
    """One project-format node entry; ``EngineInputError`` naming it when a field is wrong."""
    where = f"node {position}"
    if not isinstance(entry, dict):
        raise EngineInputError(f"{where} is not an object; expected a JSON object")
    node_id = entry.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise EngineInputError(f"{where} has id {node_id!r}; expected a non-empty string")
    where = f"node {node_id}"
    level = entry.get("level")
    if not _is_natural(level):
        raise EngineInputError(f"{where} has level {level!r}; expected an integer >= 0")
    parent = entry.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise EngineInputError(f"{where} has parent {parent!r}; expected a node id or null")
    class_index = entry.get("class_index")
    if class_index is not None and not _is_natural(class_index):
        raise EngineInputError(
            f"{where} has class_index {class_index!r}; expected an integer >= 0 or null"
        )
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise EngineInputError(f"{where} has name {name!r}; expected a string or null")
    metadata = entry.get("metadata", {})
    if not isinstance(metadata, dict):
        raise EngineInputError(f"{where} has metadata {metadata!r}; expected a JSON object")
    return TreeNode(node_id, level, parent, class_index, name, metadata)


def _hlta_latent(entry: Any, parent: str | None) -> TreeNode:
    """The latent node of one HLTA topic-tree entry (its fields checked)."""
    if not isinstance(entry, dict):
        raise EngineInputError(f"topic-tree entry {entry!r:.60} is not an object; expected one")
    node_id = entry.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise EngineInputError(f"topic-tree entry has id {node_id!r}; expected a string")
    data = entry.get("data")
    if not isinstance(data, dict):
        raise EngineInputError(f'node {node_id} has no "data" object; expected one')
    level = data.get("level")
    if not _is_natural(level) or level < 1:
        raise EngineInputError(f"node {node_id} has level {level!r}; expected an integer >= 1")
    if not isinstance(entry.get("children"), list):
        raise EngineInputError(f'node {node_id} has no "children" list; expected one')
    metadata = {}
    if "percentage" in data:
        percentage = data["percentage"]
        if not _is_number(percentage):
            raise EngineInputError(
                f"node {node_id} has percentage {percentage!r}; expected a number"
            )
        metadata["percentage"] = float(percentage)
    return TreeNode(node_id, level, parent, metadata=metadata)


def _hlta_classes(entry: dict[str, Any], parent: str) -> list[TreeNode]:
    """The class nodes listed in a level-1 entry's text: ``c<idx>-<name> [<number>]`` tokens."""
    text = entry.get("text")
    if not isinstance(text, str):
        raise EngineInputError(f"level-1 node {parent} has text {text!r}; expected a string")
    parsed: list[tuple[int, str | None, dict[str, float]]] = []
    for token in text.split():
        match = _CLASS_TOKEN.fullmatch(token)
        if match:
            parsed.append((int(match.group(1)), match.group(2), {}))
        elif parsed and not parsed[-1][2] and _parses_as_number(token):
            parsed[-1][2]["p0"] = float(token)
        else:
            raise EngineInputError(
                f"level-1 node {parent} has token {token!r} in its text; "
                'expected "c<idx>-<name> <number>" pairs'
            )
    return [TreeNode(f"c{index}", 0, parent, index, name, p0) for index, name, p0 in parsed]


def _is_natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parses_as_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def _read_json(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of a tree file; ``EngineInputError`` naming it if unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineInputError(
            f"{path}: cannot read the file ({exc}); expected a latent tree JSON file"
        ) from None
    except json.JSONDecodeError as exc:
        raise EngineInputError(
            f"{path}: not valid JSON ({exc}); expected a latent tree JSON file"
        ) from None


@contextmanager
def _naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Prefix the message of an ``EngineInputError`` raised inside with the file's path."""
    try:
        yield
    except EngineInputError as exc:
        raise EngineInputError(f"{path}: {exc}") from None
