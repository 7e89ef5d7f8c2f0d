"""Writing one image's explanation to disk: PNG overlays, summary figures and ``explanation.json``.

Layout of ``DIR/<stem>/``::

    explanation.json               model, top classes, clusters, and per method its maps
    input.png                      the preprocessed crop the maps refer to
    <method>-<kind>-<classes>.png  one overlay per map, e.g. cwox-2s-class-282.png
    <method>-summary.png           the paper-style figure (Fig. 3 layout)

Every file is written atomically and ``explanation.json`` last, so a folder that has it is
complete.
"""

from __future__ import annotations

from pathlib import Path

from explain_engine.files import write_json_atomically
from explain_engine.models import Classifier
from explain_engine.render import image_to_pil, save_overlay, save_png, save_summary_figure
from explain_engine.results import Heatmap, ImageExplanation

EXPLANATION_FILE = "explanation.json"


def map_file_name(method: str, heatmap: Heatmap) -> str:
    """File name of a map's overlay, unique within one image's folder."""
    classes = "-".join(str(c) for c in heatmap.target)
    return f"{method}-{heatmap.kind}-{classes}.png"


def write_explanation(
    explanation: ImageExplanation,
    classifier: Classifier,
    out_dir: Path,
    provenance: dict,
) -> Path:
    """Write every picture of ``explanation`` and its JSON description into ``out_dir``.

    ``provenance`` (source image, explainer and its parameters, seed, ...) is stored as is.
    Returns the path of ``explanation.json``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = classifier.class_names
    save_png(image_to_pil(explanation.input_image), out_dir / "input.png")
    methods = {}
    for method, wox in explanation.methods.items():
        maps = []
        for heatmap in wox.maps:
            file_name = map_file_name(method, heatmap)
            save_overlay(explanation.input_image, heatmap.values, out_dir / file_name)
            maps.append(
                {
                    "kind": heatmap.kind,
                    "cluster": heatmap.cluster,
                    "target": _labelled(heatmap.target, names),
                    "foil": _labelled(heatmap.foil, names),
                    "max_value": float(heatmap.values.max()),
                    "file": file_name,
                }
            )
        summary = f"{method}-summary.png"
        save_summary_figure(explanation, method, names, out_dir / summary)
        methods[method] = {"parameters": wox.parameters, "summary": summary, "maps": maps}
    document = {
        "model": {
            "name": classifier.name,
            "weights_sha256": classifier.weights_sha256,
            "preprocessing": classifier.preprocessing.as_dict(),
        },
        **provenance,
        "top_classes": [
            {"index": top.index, "name": top.name, "probability": top.probability}
            for top in explanation.top_classes
        ],
        "clusters": [_labelled(cluster, names) for cluster in explanation.clusters],
        "methods": methods,
    }
    return write_json_atomically(out_dir / EXPLANATION_FILE, document)


def _labelled(classes: tuple[int, ...], names: tuple[str, ...]) -> list[dict]:
    return [{"index": c, "name": names[c]} for c in classes]
