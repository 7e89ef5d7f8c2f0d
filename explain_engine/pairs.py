"""Confusing pairs for a user study (paper Section 5.2): two top classes of one confusion cluster.

For each image: its top-K classes (:class:`TopKOutput`) → confusion clusters (the latent tree cut
at ``PairRules.cluster_level``, 1 in the paper) → candidate pairs = two classes of one cluster,
both with P(c|x) >= ``floor``, ordered ``a`` = more probable first. :func:`select_pairs` picks at
most one pair per image; it is a pure function of the top-K outputs, the tree and the rules.
:func:`classify_images` is the thin part that runs a classifier over an image folder.

Selection (:func:`select_pairs`), greedy round-robin over tree branches:

1. Candidates of an image: every pair of classes of one cluster with both probabilities >=
   ``floor`` (with ``leading_cluster``, of the leading cluster only: the one holding the most
   probable class); with ``require_truth``, only pairs that contain the image's ground-truth
   class.
   Within an image, candidates are ranked: ground truth in the pair first, then the higher
   probability of the less probable class (the more confusing pair), then the higher one of ``a``.
2. A pair's *branch* is the path of tree nodes from the root down to its cluster node. Each step
   takes the candidate whose branch is least used by the items chosen so far, compared from the
   root down (so an unused top-level branch wins, then an unused subtree below it, ..., then an
   unused cluster), then the least used class pair, then a seeded random order of the images
   (``seed``), then the image's own candidate rank.
3. A class pair (unordered) is used by at most ``per_pair`` items; selection stops after
   ``limit`` items (None: no limit).

Every image that gets no pair is listed with the reason: unreadable image, no confusion cluster
with two classes above the floor, no ground-truth label / ground truth not in any pair (with
``require_truth``), pair quota reached, or the item limit reached.

Pair manifest (format ``cwox-pairs``, version 1), written by :func:`write_pair_manifest` and read
back by :func:`read_pair_manifest`; ``pregenerate`` turns it into study stimuli::

    {
      "format": "cwox-pairs", "version": 1, "created": "2026-11-26T10:00:00+00:00",
      "images_dir": "/abs/path/images",          # item images are relative to it (*)
      "model": {"name": "efficientnet-lite0", "weights_sha256": "…", "preprocessing": {…}},
      "tree": "/abs/path/tree.json",
      "top_k": {"max_k": 5, "cumulative": 0.95},
      "labels": "folder",                         # "folder", a CSV path, or null
      "rules": {"floor": 0.05, "per_pair": 1, "require_truth": false, "limit": null,
                "seed": 0, "cluster_level": 1, "leading_cluster": false},
      "items": [
        {"id": "chelsea-crop0", "image": "cats/chelsea-crop0.png", "truth": null,
         "classes": [{"index": 282, "name": "tiger cat", "probability": 0.30},
                     {"index": 281, "name": "tabby", "probability": 0.15}],
         "cluster": {"node": "Z1177", "classes": [282, 281]},
         "ancestors": ["Z258", "Z320", "Z47"],
         "top_classes": [{"index": 285, "name": "Egyptian cat", "probability": 0.45}, …],
         "reason": "same level-1 cluster Z1177; both p >= 0.05"}
      ],
      "unpaired": [{"image": "coffee.png", "reason": "no confusion cluster with two top
                    classes of p >= 0.05"}]
    }

(*) written as absolute paths; a relative ``images_dir`` or ``tree`` is read relative to the
manifest's folder. ``items`` are in selection order (the first items are spread over the most
branches); ``cluster.classes`` are the image's top classes in the pair's cluster (the
confusion cluster C_i that CWOX-2s explains), most probable first; ``ancestors`` are the cluster
node's ancestors, parent first; ``id`` is the image's file stem made file-name safe and unique.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from explain_engine.documents import find_images
from explain_engine.errors import EngineInputError
from explain_engine.files import write_json_atomically
from explain_engine.images import load_image
from explain_engine.models import Classifier
from explain_engine.targets import TopKRule
from explain_engine.tree import LatentTree

PAIRS_FORMAT = "cwox-pairs"
PAIRS_VERSION = 1


@dataclass(frozen=True)
class TopKOutput:
    """A classifier's top-K output for one image (or why the image could not be classified).

    Attributes:
        image: the image's key, its path relative to the image folder with ``/``.
        classes: top class indices, most probable first (empty when ``error`` is set).
        probabilities: P(c|x) in [0, 1] of ``classes``, aligned with it.
        truth: the ground-truth class index when labels are known, else None.
        error: why the image could not be read; None for a classified image.
    """

    image: str
    classes: tuple[int, ...] = ()
    probabilities: tuple[float, ...] = ()
    truth: int | None = None
    error: str | None = None

    def probability(self, class_index: int) -> float:
        """P(c|x) of one of the top classes (KeyError if it is not one)."""
        try:
            return self.probabilities[self.classes.index(class_index)]
        except ValueError:
            raise KeyError(f"class {class_index} is not a top class of {self.image}") from None


@dataclass(frozen=True)
class PairRules:
    """Which pairs qualify and how many are chosen (see the module docstring).

    Attributes:
        floor: both classes of a pair need P(c|x) >= floor (in [0, 1]).
        per_pair: at most this many items per unordered class pair (>= 1).
        require_truth: only pairs containing the image's ground-truth class.
        limit: at most this many items in all (None: no limit).
        seed: seed of the random order in which equally good images are taken.
        cluster_level: tree level at which clusters are cut (1 in the paper).
        leading_cluster: only pairs of the image's leading confusion cluster, the one that
            holds its most probable class. A pair in a later cluster is contrasted in CWOX-2s'
            stage 1 against a more probable cluster, usually on the same object (Egyptian cat
            against tiger cat / tabby on one cat), so its cluster map — and with it both class
            maps — is often empty everywhere (``docs/stimulus-quality.md``). The rule reads only
            the classifier's probabilities and the tree, never a heatmap, so it favours no
            explanation method. False (here) is the paper's selection, any cluster; the
            study-facing commands turn the rule on.
    """

    floor: float = 0.05
    per_pair: int = 1
    require_truth: bool = False
    limit: int | None = None
    seed: int = 0
    cluster_level: int = 1
    leading_cluster: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor <= 1.0:
            raise EngineInputError(f"floor {self.floor}: expected a probability in [0, 1]")
        if self.per_pair < 1:
            raise EngineInputError(f"per-pair quota {self.per_pair}: expected at least 1")
        if self.limit is not None and self.limit < 1:
            raise EngineInputError(f"limit {self.limit}: expected at least 1 (or no limit)")
        if self.cluster_level < 1:
            raise EngineInputError(f"cluster level {self.cluster_level}: expected at least 1")


STUDY_PAIR_RULES = PairRules(leading_cluster=True)
"""The rules the study-facing entry points start from (``pairs``, ``pregenerate_stimuli``,
``create_demo_study``, the admin's pregeneration): the paper's, plus the leading-cluster rule
(see :class:`PairRules`); ``--any-cluster`` restores the paper's selection."""


@dataclass(frozen=True)
class ChosenPair:
    """The confusing pair chosen for one image.

    Attributes:
        top: the image's top-K output.
        a / b: the two class indices, P(a|x) >= P(b|x).
        cluster: id of the tree node whose classes form the confusion cluster.
        cluster_classes: the image's top classes in that cluster, most probable first.
        ancestors: ids of the cluster node's ancestors, parent first, root last.
        reason: why the pair was chosen, e.g. ``"same level-1 cluster Z1_12; both p >= 0.05"``.
    """

    top: TopKOutput
    a: int
    b: int
    cluster: str
    cluster_classes: tuple[int, ...]
    ancestors: tuple[str, ...]
    reason: str

    @property
    def image(self) -> str:
        return self.top.image

    @property
    def branch(self) -> tuple[str, ...]:
        """Tree nodes from the root down to the cluster node."""
        return (*reversed(self.ancestors), self.cluster)

    @property
    def class_pair(self) -> tuple[int, int]:
        """The pair as an unordered key (smaller index first)."""
        return (min(self.a, self.b), max(self.a, self.b))


@dataclass(frozen=True)
class Unpaired:
    """An image without a pair and the reason."""

    image: str
    reason: str


@dataclass(frozen=True)
class PairSelection:
    """Result of :func:`select_pairs`: chosen pairs in selection order, the rest in input order."""

    chosen: tuple[ChosenPair, ...]
    unpaired: tuple[Unpaired, ...]


# ------------------------------------------------------------------------- pure selection


def select_pairs(
    outputs: Sequence[TopKOutput], tree: LatentTree, rules: PairRules | None = None
) -> PairSelection:
    """Choose at most one confusing pair per image (see the module docstring for the rules).

    Deterministic: the same outputs, tree and rules give the same selection. Raises
    ``EngineInputError`` if two outputs share an image key.
    """
    rules = rules or PairRules()
    images = [output.image for output in outputs]
    if len(set(images)) != len(images):
        repeated = next(image for image, n in Counter(images).items() if n > 1)
        raise EngineInputError(f"image {repeated!r} appears twice; expected one output per image")
    reasons: dict[int, str] = {}
    candidates: dict[int, list[ChosenPair]] = {}
    for i, output in enumerate(outputs):
        found = _candidates(output, tree, rules)
        if isinstance(found, str):
            reasons[i] = found
        else:
            candidates[i] = found

    priority = list(range(len(outputs)))
    random.Random(rules.seed).shuffle(priority)
    chosen, pair_uses = _round_robin(candidates, priority, rules)
    for i, found in candidates.items():
        if i in chosen:
            continue
        full = [p for p in found if pair_uses[p.class_pair] >= rules.per_pair]
        if len(full) == len(found):
            listed = ", ".join(sorted({f"{p.a}/{p.b}" for p in full}))
            reasons[i] = f"pair quota reached ({rules.per_pair} per pair): {listed}"
        else:
            reasons[i] = f"limit of {rules.limit} items reached"
    return PairSelection(
        chosen=tuple(chosen.values()),
        unpaired=tuple(Unpaired(images[i], reasons[i]) for i in sorted(reasons)),
    )


def _round_robin(
    candidates: Mapping[int, Sequence[ChosenPair]], priority: Sequence[int], rules: PairRules
) -> tuple[dict[int, ChosenPair], Counter[tuple[int, int]]]:
    """Greedy selection (module docstring, step 2): returns the chosen pair of each chosen
    image, in selection order, and how often each class pair was used.

    The option taken at each step minimises, over all open options, the nested key
    (uses(root), (uses(child), ... (uses(cluster), (uses(class pair), priority, rank)))).
    Instead of re-ranking every option after each pick, the best key under every tree node is
    cached; a pick changes only the counts on its branch and the open options of its image,
    so only the nodes above those are recomputed.
    """
    queues: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    pairs_at: dict[str, set[tuple[int, int]]] = {}
    children: dict[str | None, set[str]] = {}
    for i, found in candidates.items():
        for rank, pair in enumerate(found):
            queues.setdefault(pair.class_pair, []).append((priority[i], rank, i))
            pairs_at.setdefault(pair.cluster, set()).add(pair.class_pair)
            for above, node in zip((None, *pair.branch), pair.branch, strict=False):
                children.setdefault(above, set()).add(node)
    for queue in queues.values():
        queue.sort(reverse=True)  # the best option last
    node_uses: Counter[str] = Counter()
    pair_uses: Counter[tuple[int, int]] = Counter()
    chosen: dict[int, ChosenPair] = {}
    best_under: dict[str | None, tuple | None] = {}

    def head(class_pair: tuple[int, int]) -> tuple[int, int, int] | None:
        """The best open option of a class pair: (priority, rank, image)."""
        queue = queues[class_pair]
        while queue and queue[-1][2] in chosen:
            queue.pop()
        return queue[-1] if queue and pair_uses[class_pair] < rules.per_pair else None

    def best(node: str | None) -> tuple | None:
        """(key, class pair) of the best open option under ``node`` (None: the whole tree)."""
        if node not in best_under:
            if node in pairs_at:
                options = [
                    ((pair_uses[p], *option), p) for p in pairs_at[node] if (option := head(p))
                ]
            else:
                options = [
                    ((node_uses[child], below[0]), below[1])
                    for child in children.get(node, ())
                    if (below := best(child))
                ]
            best_under[node] = min(options, default=None)
        return best_under[node]

    while rules.limit is None or len(chosen) < rules.limit:
        top = best(None)
        if top is None:
            break
        _, rank, i = head(top[1])
        pair = candidates[i][rank]
        chosen[i] = pair
        node_uses.update(pair.branch)
        pair_uses[pair.class_pair] += 1
        for changed in candidates[i]:  # this branch's counts, and the image's other options
            for node in changed.branch:
                best_under.pop(node, None)
        best_under.pop(None, None)
    return chosen, pair_uses


def _candidates(output: TopKOutput, tree: LatentTree, rules: PairRules) -> list[ChosenPair] | str:
    """The image's candidate pairs, best first, or the reason it has none."""
    if output.error is not None:
        return f"unreadable image: {output.error}"
    if rules.require_truth and output.truth is None:
        return "no ground-truth label for this image (required)"
    floor = f"p >= {rules.floor:g}"
    level = rules.cluster_level
    found = []
    clusters = tree.clusters(output.classes, output.probabilities, level=level)
    for cluster in clusters[:1] if rules.leading_cluster else clusters:
        above = [c for c in cluster if output.probability(c) >= rules.floor]
        if len(above) < 2:
            continue
        node = tree.ancestor_at_level(cluster[0], level)  # a latent: it holds two classes
        for a, b in itertools.combinations(above, 2):
            reason = f"same level-{level} cluster {node}; both {floor}"
            if output.truth is not None:
                in_pair = output.truth in (a, b)
                reason += "; ground truth in pair" if in_pair else "; ground truth not in pair"
            found.append(
                ChosenPair(output, a, b, node, tuple(cluster), _ancestors(tree, node), reason)
            )
    if not found and rules.leading_cluster:
        return (
            f"the leading confusion cluster (of the most probable class, {output.classes[0]}) "
            f"has no two top classes of {floor}"
        )
    if not found:
        return f"no confusion cluster with two top classes of {floor}"
    if rules.require_truth:
        found = [pair for pair in found if output.truth in (pair.a, pair.b)]
        if not found:
            return f"ground truth not in any pair: class {output.truth}"
    found.sort(
        key=lambda p: (
            output.truth not in (p.a, p.b),
            -output.probability(p.b),
            -output.probability(p.a),
        )
    )
    return found


def _ancestors(tree: LatentTree, node: str) -> tuple[str, ...]:
    path = []
    parent = tree.parent(node)
    while parent is not None:
        path.append(parent)
        parent = tree.parent(parent)
    return tuple(path)


# ------------------------------------------------------------------- running the model


def classify_images(
    classifier: Classifier,
    folder: Path,
    *,
    top_k: TopKRule | None = None,
    labels: Mapping[str, int] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> list[TopKOutput]:
    """The top-K output of every image under ``folder`` (recursively, sorted by path).

    Images go through the model in batches of ``batch_size`` under ``torch.inference_mode``.
    An unreadable image gives an output with ``error`` set (its message is printed too).
    ``labels`` maps image keys (paths relative to ``folder``, with ``/``) to ground truth.
    """
    if batch_size < 1:
        raise EngineInputError(f"batch size {batch_size}: expected at least 1")
    top_k = top_k or TopKRule()
    labels = labels or {}
    paths = find_images(folder)
    outputs = []
    with tqdm(total=len(paths), unit="image", desc="classify", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):
            loaded = []
            for path in paths[start : start + batch_size]:
                key = path.relative_to(folder).as_posix()
                try:
                    loaded.append((key, load_image(path)))
                except EngineInputError as error:
                    tqdm.write(f"error: {error}", file=sys.stderr)
                    outputs.append(TopKOutput(key, truth=labels.get(key), error=str(error)))
            if loaded:
                _, inputs = classifier.prepare([image for _, image in loaded])
                with torch.inference_mode():
                    probabilities = classifier.model(inputs).float().softmax(dim=-1).cpu()
                for (key, _), row in zip(loaded, probabilities, strict=True):
                    classes, values = top_k.select(row)
                    outputs.append(TopKOutput(key, tuple(classes), tuple(values), labels.get(key)))
            bar.update(min(batch_size, len(paths) - start))
    order = {path.relative_to(folder).as_posix(): i for i, path in enumerate(paths)}
    return sorted(outputs, key=lambda output: order[output.image])


def read_labels(source: str | Path, folder: Path, class_names: Sequence[str]) -> dict[str, int]:
    """Ground-truth labels of the images under ``folder``, by image key.

    ``source`` is ``"folder"``: an image's label is the name of the folder it is in, either a
    class index (``285``) or a class name (``Egyptian cat``, case-insensitive, ``_`` for
    spaces); images directly in ``folder`` have no label. Otherwise ``source`` is a CSV file
    with columns ``file`` (path relative to ``folder``) and ``class_index``; other columns are
    ignored. Raises ``EngineInputError`` naming the folder, file or line for an unknown or
    ambiguous label.
    """
    num_classes = len(class_names)
    if str(source) == "folder":
        by_name: dict[str, list[int]] = {}
        for index, name in enumerate(class_names):
            by_name.setdefault(name.lower(), []).append(index)
        labels = {}
        for path in find_images(folder):
            relative = path.relative_to(folder)
            if len(relative.parts) > 1:
                label = relative.parts[-2]
                labels[relative.as_posix()] = _folder_label(label, by_name, num_classes)
        return labels
    return _csv_labels(Path(source), num_classes)


def _folder_label(label: str, by_name: Mapping[str, list[int]], num_classes: int) -> int:
    if label.isdigit():
        return _class_index(label, num_classes, f"folder {label!r}")
    matches = by_name.get(label.replace("_", " ").lower(), [])
    if len(matches) != 1:
        found = f"names classes {matches}" if matches else "is not a class name"
        raise EngineInputError(
            f"folder {label!r} {found}; expected one class index or one class name"
        )
    return matches[0]


def _csv_labels(path: Path, num_classes: int) -> dict[str, int]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            columns = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise EngineInputError(f"{path}: cannot read the labels CSV ({error})") from None
    if not {"file", "class_index"} <= set(columns):
        raise EngineInputError(
            f"{path}: columns {sorted(columns)}; expected at least file and class_index"
        )
    return {
        row["file"].strip(): _class_index(row["class_index"], num_classes, f"{path}:{line}")
        for line, row in enumerate(rows, start=2)
    }


def _class_index(text: str | None, num_classes: int, where: str) -> int:
    try:
        index = int(text or "")
    except ValueError:
        raise EngineInputError(f"{where}: class index {text!r} is not an integer") from None
    if not 0 <= index < num_classes:
        raise EngineInputError(f"{where}: class index {index} (expected 0..{num_classes - 1})")
    return index


# -------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class PairManifest:
    """A pair manifest read back (see the module docstring for the JSON).

    Attributes:
        items: (item id, chosen pair), in manifest order.
        images_dir: folder the item images are relative to.
        model: the ``model`` object (name, weights_sha256, preprocessing).
        tree: the latent tree file used.
        top_k: how the top classes were chosen.
        rules: the selection rules.
        unpaired: the images without a pair.
    """

    items: tuple[tuple[str, ChosenPair], ...]
    images_dir: Path
    model: dict[str, Any]
    tree: Path
    top_k: TopKRule
    rules: PairRules
    unpaired: tuple[Unpaired, ...] = ()


def item_ids(images: Sequence[str]) -> list[str]:
    """A file-name-safe, unique id per image key: its stem, ``-2``, ``-3``... when taken."""
    ids, taken = [], set()
    for image in images:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(image).stem).strip("-.") or "image"
        candidate, counter = stem, 1
        while candidate in taken:
            counter += 1
            candidate = f"{stem}-{counter}"
        taken.add(candidate)
        ids.append(candidate)
    return ids


def write_pair_manifest(
    path: Path,
    selection: PairSelection,
    *,
    classifier: Classifier,
    images_dir: Path,
    tree_file: Path,
    top_k: TopKRule,
    rules: PairRules,
    labels: str | None,
) -> Path:
    """Write ``selection`` as a pair manifest (module docstring) at ``path``, atomically."""
    names = classifier.class_names

    def labelled(output: TopKOutput, classes: Sequence[int]) -> list[dict[str, Any]]:
        return [
            {"index": c, "name": names[c], "probability": output.probability(c)} for c in classes
        ]

    items = [
        {
            "id": item_id,
            "image": pair.image,
            "truth": pair.top.truth,
            "classes": labelled(pair.top, (pair.a, pair.b)),
            "cluster": {"node": pair.cluster, "classes": list(pair.cluster_classes)},
            "ancestors": list(pair.ancestors),
            "top_classes": labelled(pair.top, pair.top.classes),
            "reason": pair.reason,
        }
        for item_id, pair in zip(
            item_ids([p.image for p in selection.chosen]), selection.chosen, strict=True
        )
    ]
    document = {
        "format": PAIRS_FORMAT,
        "version": PAIRS_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "images_dir": str(images_dir.resolve()),
        "model": {
            "name": classifier.name,
            "weights_sha256": classifier.weights_sha256,
            "preprocessing": classifier.preprocessing.as_dict(),
        },
        "tree": str(tree_file.resolve()),
        "top_k": {"max_k": top_k.max_k, "cumulative": top_k.cumulative},
        "labels": labels,
        "rules": asdict(rules),
        "items": items,
        "unpaired": [asdict(entry) for entry in selection.unpaired],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomically(path, document)


def read_pair_manifest(path: Path) -> PairManifest:
    """Read a pair manifest; ``EngineInputError`` naming the file, item and field if malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise EngineInputError(f"{path}: cannot read the pair manifest ({error})") from None
    except json.JSONDecodeError as error:
        raise EngineInputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != PAIRS_FORMAT:
        raise EngineInputError(f'{path}: expected a JSON object with "format": "{PAIRS_FORMAT}"')
    if data.get("version") != PAIRS_VERSION:
        raise EngineInputError(
            f"{path}: version {data.get('version')!r} (expected {PAIRS_VERSION})"
        )
    try:
        top_k = TopKRule(**_get(data, "top_k", dict, "manifest"))
        rules = PairRules(**_get(data, "rules", dict, "manifest"))
        items = tuple(
            _read_item(entry, n) for n, entry in enumerate(_get(data, "items", list, "manifest"))
        )
        unpaired = tuple(
            Unpaired(_get(e, "image", str, "unpaired"), _get(e, "reason", str, "unpaired"))
            for e in _get(data, "unpaired", list, "manifest")
        )
        manifest = PairManifest(
            items=items,
            images_dir=path.parent / _get(data, "images_dir", str, "manifest"),
            model=_get(data, "model", dict, "manifest"),
            tree=path.parent / _get(data, "tree", str, "manifest"),
            top_k=top_k,
            rules=rules,
            unpaired=unpaired,
        )
        _get(manifest.model, "name", str, "model")
    except (EngineInputError, TypeError) as error:
        raise EngineInputError(f"{path}: {error}") from None
    ids = [item_id for item_id, _ in items]
    if len(set(ids)) != len(ids):
        raise EngineInputError(f"{path}: item ids repeat; expected unique ids")
    return manifest


def _read_item(entry: Any, position: int) -> tuple[str, ChosenPair]:
    where = f"item {position}"
    item_id = _get(entry, "id", str, where)
    where = f"item {item_id!r}"
    if item_ids([item_id]) != [item_id]:
        raise EngineInputError(f"{where}: id is not file-name safe (letters, digits, . _ -)")
    top_classes = _get(entry, "top_classes", list, where)
    classes = tuple(_get(c, "index", int, f"{where} top_classes") for c in top_classes)
    probabilities = tuple(
        float(_get(c, "probability", (int, float), f"{where} top_classes")) for c in top_classes
    )
    truth = entry.get("truth")
    if truth is not None and not isinstance(truth, int):
        raise EngineInputError(f"{where}: truth {truth!r} (expected a class index or null)")
    top = TopKOutput(_get(entry, "image", str, where), classes, probabilities, truth)
    pair = [_get(c, "index", int, f"{where} classes") for c in _get(entry, "classes", list, where)]
    cluster = _get(entry, "cluster", dict, where)
    cluster_classes = tuple(_get(cluster, "classes", list, f"{where} cluster"))
    if len(pair) != 2 or not set(pair) <= set(cluster_classes) <= set(classes):
        raise EngineInputError(
            f"{where}: classes {pair} (expected two top classes of the item's cluster)"
        )
    chosen = ChosenPair(
        top=top,
        a=pair[0],
        b=pair[1],
        cluster=_get(cluster, "node", str, f"{where} cluster"),
        cluster_classes=cluster_classes,
        ancestors=tuple(_get(entry, "ancestors", list, where)),
        reason=_get(entry, "reason", str, where),
    )
    return item_id, chosen


def _get(entry: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``entry[name]``, checked to be of ``kind`` (EngineInputError naming where and what)."""
    if not isinstance(entry, dict) or name not in entry:
        raise EngineInputError(f"{where}: no {name!r} field")
    value = entry[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise EngineInputError(f"{where}: {name} is {value!r:.60} (expected {expected})")
    return value
