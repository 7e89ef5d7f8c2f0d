"""CWOX engine: contrastive whole-output explanations of image classifiers (no Django here)."""
