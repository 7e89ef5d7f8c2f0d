"""Hierarchical latent tree analysis (HLTA) of label co-occurrence, in numpy/scipy.

Learns the latent tree over classifier classes from top-K label "documents", following the
specification in ``reference/hlta-spec.md`` (kmpoon/hlta StepwiseEMHLTA as coded, with the
hlta-xai label variant's defaults). Modules, one concept each:

- ``data``: documents -> sparse matrix -> weighted distinct rows, sampling, pattern counts;
- ``mi``: pairwise mutual information of binary variables;
- ``smallem``: EM with Chickering–Heckerman restarts for the small island models;
- ``scores``: BIC and batch BIC;
- ``islands``: island building with the UD-test and the correlation test;
- ``bridge``: the maximum spanning tree over the top-level islands;
- ``ltm``: the tree model and exact inference;
- ``stepwise``: stepwise global EM;
- ``postprocess``: state reordering, Z naming, smoothing;
- ``latent_tree``: conversion to the project's ``LatentTree``;
- ``learner``: the level loop (``learn_tree``, ``learn_model``, ``HltaSettings``);
- ``bif``: BIF reading and writing;
- ``compare``: partition agreement (adjusted Rand index, NMI) between trees.

Where the reference tool leaves an order unspecified (Java hash sets and maps) this package
uses index order: pools, anchors and candidates by variable index, islands in build order,
MI ties to the first pair in row-major order. Known differences from the tool, on purpose:
the paper's anchor rule, bridging at every level and hard assignment on the whole model are
not offered (the code's behaviour is); stepwise EM starts its statistics from the
constructed model instead of zero (see ``stepwise``); in the returned ``LatentTree`` the
top-level latents are roots and their bridge edges are node metadata ``"bridge_parent"``.
"""

from explain_engine.hlta.bif import read_bif, write_bif
from explain_engine.hlta.learner import HltaResult, HltaSettings, learn_model, learn_tree

__all__ = [
    "HltaResult",
    "HltaSettings",
    "learn_model",
    "learn_tree",
    "read_bif",
    "write_bif",
]
